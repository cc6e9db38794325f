"""`make demo` runs the whole service on the embedded default and leaves emails to look at."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_sends_everything_and_leaves_browsable_emails(tmp_path: Path) -> None:
    var_dir = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "demo", "--var-dir", str(var_dir)],
        env={**env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    rows = re.findall(
        r"^\s*\d+\s+(alert|digest|reminder|announcement)\s.*?(\d+)\s+(\d+)\s+"
        r"(\d+)\s+(\d+)\s+(\w+)\s*$",
        out,
        re.M,
    )
    kinds = {row[0] for row in rows}
    assert kinds == {"alert", "digest", "reminder", "announcement"}, out
    sent = sum(int(row[2]) for row in rows)
    assert all(row[4] == "0" and row[5] == "sent" for row in rows), out

    outbox = var_dir / "outbox"
    emls = sorted(outbox.glob("*.eml"))
    assert len(emls) == sent > 0
    assert f"{sent} emails caught" in out
    index = (outbox / "index.html").read_text()
    assert all(path.name in index for path in emls)
    for path in emls:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        # An alert or reminder of a closing date carries it for calendars (deadline.ics).
        files = [part.get_filename() for part in message.iter_attachments()]
        assert message.get_content_type() == (
            "multipart/mixed" if files else "multipart/alternative"
        )
        assert files in ([], ["deadline.ics"]) and message.get_body(("html",)) is not None
        assert message["List-Unsubscribe"] or "confirm" in str(message["Subject"]).lower()
    assert "sign in at http://127.0.0.1:8000/staff" in out
    assert f"export NEWSLETTER_VAR_DIR={var_dir} " in out and "staff create" in out
    previews = list((var_dir / "previews").glob("*.html"))
    assert {p.stem for p in previews} >= {"alert", "digest", "reminder", "announcement"}
    assert (var_dir / "previews" / "manage-link.html").exists()
    # The previews show the demo's own articles and announcement, not the built-in samples.
    digest = (var_dir / "previews" / "digest.html").read_text()
    assert "Condition improvement grants" in digest
    assert "Revamped National Professional Qualifications" not in digest
    assert "Regional SENCO network" in (var_dir / "previews" / "announcement.html").read_text()
