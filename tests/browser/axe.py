"""axe-core run on a page in the browser: the WCAG 2.2 A and AA rules, serious and critical
problems only. The axe-core used is the copy bundled in axe-playwright-python's wheel, so
nothing is downloaded when the tests run."""

from __future__ import annotations

from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Page

WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FAILING_IMPACTS = {"serious", "critical"}
# Frames are left out: the one page with a frame shows an email, which is checked as an email.
OPTIONS = {
    "runOnly": {"type": "tag", "values": WCAG_22_AA},
    "resultTypes": ["violations"],
    "iframes": False,
}


def serious_problems(page: Page, where: str) -> list[str]:
    """One line per element axe finds a serious or critical WCAG 2.2 A/AA problem with:
    where, the rule, the element's selector and what the rule asks."""
    # axe-core is half a megabyte: sent to a page once, it is run there at each width.
    # (axe-playwright-python's Axe.run would send it again for every run.)
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    results = page.evaluate("options => axe.run(document, options)", OPTIONS)
    return [
        f"{where}: {rule['id']} ({node['impact']}) at {' '.join(map(str, node['target']))}: "
        f"{rule['help']}"
        for rule in results["violations"]
        for node in rule["nodes"]
        if node.get("impact") in FAILING_IMPACTS
    ]
