"""Files the tests read. All of them are inside the repository: a clone with nothing beside it
must pass `make test` (`.ci/run` checks exactly that)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

# A news page captured as plain text, in the association's format: site chrome, "Latest news",
# the article (title, paragraphs, subheadings, bulleted and numbered lists), "First published".
PAGE_CAPTURE = FIXTURES / "npq-page-capture.txt"
PAGE_CAPTURE_TITLE = "Leading through the NPQs: what changes for the 2025 cohorts"
