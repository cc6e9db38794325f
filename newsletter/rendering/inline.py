"""CSS inlining with premailer, its options chosen on purpose; run once per rendering."""

from __future__ import annotations

import logging

from premailer import Premailer


def inline_css(html: str) -> str:
    """Move every CSS rule that can be inlined onto its elements.

    What cannot be inlined (media queries, :hover) stays in one <style> block for the clients
    that read it. Classes stay because those media queries select by class. No network access,
    no rewriting of links (they are absolute already, and placeholders must survive untouched),
    and cssutils' complaints about email-only properties (mso-*) are kept out of the logs.
    """
    premailer = Premailer(
        html,
        base_url=None,
        disable_link_rewrites=True,
        allow_network=False,
        keep_style_tags=False,
        remove_classes=False,
        strip_important=False,
        exclude_pseudoclasses=True,
        include_star_selectors=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
        method="html",
    )
    return premailer.transform()
