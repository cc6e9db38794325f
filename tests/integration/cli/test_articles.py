"""`newsletter articles ...` end to end through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from newsletter.articles.files import MAX_BYTES
from newsletter.cli import app
from tests.support.fixtures import PAGE_CAPTURE, PAGE_CAPTURE_TITLE

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = PAGE_CAPTURE
PROJECT_SAMPLES = ROOT / "samples" / "articles"
TITLE = PAGE_CAPTURE_TITLE

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def articles() -> list[dict[str, Any]]:
    code, out, err = run("articles", "list", "--json")
    assert code == 0, err
    return json.loads(out)


def show(article_id: int) -> dict[str, Any]:
    code, out, err = run("articles", "show", str(article_id), "--json")
    assert code == 0, err
    return json.loads(out)


def test_the_sample_capture_once_and_only_once(db_url: str) -> None:
    code, out, err = run("articles", "import", str(SAMPLE))
    assert code == 0, err
    assert "imported article 1" in out

    code, out, err = run("articles", "import", str(SAMPLE))
    assert code == 0, err
    assert "already imported as article 1" in out

    [article] = articles()
    assert set(article) == {
        "id", "title", "first_published", "topics", "priority", "priority_reason", "status",
        "deadlines", "source",
    }  # fmt: skip
    assert article["title"] == TITLE
    assert article["first_published"] == "2024-10-14"
    assert article["topics"][0] == "npq"
    assert article["status"] == "draft"
    assert article["source"] == str(SAMPLE)

    full = show(1)
    assert full["summary"].startswith("The Department for Education has confirmed")
    assert "<li>NPQ for Leading Behaviour and Culture (NPQLBC)" in full["body_html"]
    assert "Help and advice" not in full["body_html"]
    assert "First published" not in full["body_html"]
    npq = full["topic_scores"][0]
    assert npq["topic"] == "npq" and npq["assigned"]
    assert {"phrase": "NPQ", "weight": 4.0, "title": 1, "body": 10, "points": 32.0} in npq[
        "evidence"
    ]


def test_each_topic_article_lands_on_its_topic_with_evidence_shown(db_url: str) -> None:
    code, out, err = run("articles", "import", str(PROJECT_SAMPLES), "--json")
    assert code == 0, err
    results = json.loads(out)
    assert len(results) == 5
    for result in results:
        expected = Path(result["file"]).name.split("-")[0]
        article = result["article"]
        assert article["topics"][0] == expected, result["file"]

        code, out, _ = run("articles", "show", str(article["id"]))
        assert code == 0
        assert f"{expected:<12}" in out and "assigned" in out and "title×" in out

    found = {a["id"]: a for a in articles()}
    funding = next(a for a in found.values() if a["topics"][0] == "funding")
    assert funding["priority"] == "breaking"
    assert funding["priority_reason"].startswith("suggested: closes 2026-12-18")
    assert {"date": "2026-12-18", "precision": "day", "kind": "closes"}.items() <= funding[
        "deadlines"
    ][0].items()


def test_bad_files_are_named_and_skipped_and_the_rest_still_import(
    db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "a-empty.txt").write_bytes(b"")
    (folder / "b-binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "c-no-title.txt").write_text("Home Menu\n\nLatest news\n\nFirst published 1 May 2020")
    (folder / "d-huge.txt").write_bytes(b"x" * (MAX_BYTES + 1))
    (folder / "e-windows.md").write_bytes(
        "---\ntitle: Café budgets – 2021\n---\n\nThe £5 grant closes on 3 March 2021.\n".encode(
            "cp1252"
        )
    )
    good = folder / "f-good.txt"
    good.write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")

    code, out, err = run("articles", "import", str(folder))

    assert code == 1
    assert f"{folder / 'a-empty.txt'}: the file is empty" in err
    assert f"{folder / 'b-binary.txt'}: a binary file, not text" in err
    assert f"{folder / 'c-no-title.txt'}: no title" in err
    assert f"{folder / 'd-huge.txt'}: the file is 5.0 MB; the limit is 5 MB" in err
    assert f"{folder / 'e-windows.md'}: not UTF-8" in err and "Windows-1252" in err
    titles = sorted(a["title"] for a in articles())
    assert titles == ["Café budgets – 2021", TITLE]


def test_json_output_reports_each_file(db_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("")
    code, out, _ = run("articles", "import", str(SAMPLE), str(empty), "--json")
    assert code == 1
    results = json.loads(out)
    assert [r["status"] for r in results] == ["imported", "error"]
    assert results[0]["article"]["title"] == TITLE
    assert results[1] == {"file": str(empty), "status": "error", "error": "the file is empty"}


def test_topic_and_breaking_options_override_the_automatic_choice(db_url: str) -> None:
    code, _, err = run(
        "articles", "import", str(SAMPLE), "--topic", "careers", "--topic", "itt", "--breaking"
    )
    assert code == 0, err
    [article] = articles()
    assert article["topics"] == ["careers", "itt"]
    assert (
        article["priority"] == "breaking" and article["priority_reason"] == "staff chose breaking"
    )

    code, _, err = run("articles", "topics", "1", "npq")
    assert code == 0, err
    code, _, err = run("articles", "priority", "1", "normal")
    assert code == 0, err
    [article] = articles()
    assert article["topics"] == ["npq"] and article["priority"] == "normal"


def test_an_unknown_topic_is_refused_before_anything_is_imported(db_url: str) -> None:
    code, _, err = run("articles", "import", str(SAMPLE), "--topic", "astrology")
    assert code == 1 and "unknown topic 'astrology'" in err
    assert articles() == []


def test_html_is_sanitised_on_import(db_url: str, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        '<h1>Exam news</h1><p onclick="x()">GCSE <a href="javascript:alert(1)">link</a></p>'
        "<script>alert(2)</script>"
    )
    code, _, err = run("articles", "import", str(page))
    assert code == 0, err
    body = show(1)["body_html"]
    assert body == '<p>GCSE <a rel="noopener noreferrer">link</a></p>'


def test_publish_and_withdraw(db_url: str) -> None:
    assert run("articles", "import", str(SAMPLE))[0] == 0

    code, out, err = run("articles", "publish", "1")
    assert code == 0, err
    assert "Published article 1." in out
    [article] = articles()
    assert article["status"] == "published"
    assert show(1)["published_at"] is not None

    code, out, _ = run("articles", "publish", "1")
    assert code == 0 and "already published" in out

    code, out, err = run("articles", "withdraw", "1")
    assert code == 0, err
    assert "Withdrew article 1" in out
    assert articles()[0]["status"] == "withdrawn"

    code, _, err = run("articles", "publish", "99")
    assert code == 1 and "no article 99" in err
    code, _, err = run("articles", "show", "99")
    assert code == 1 and "no article 99" in err


def test_publish_inline_sends_the_alert_to_the_topic_subscriber(db_url: str) -> None:
    from sqlalchemy import select

    from newsletter.db import session_scope
    from newsletter.models import Delivery, DeliveryStatus, Send, SendKind

    assert run("members", "add", "ann@example.com", "--topic", "npq=immediate")[0] == 0
    assert run("members", "add", "bob@example.com", "--topic", "itt=immediate")[0] == 0
    assert run("articles", "import", str(SAMPLE))[0] == 0

    code, out, err = run("articles", "publish", "1", "--inline")
    assert code == 0, err

    with session_scope(db_url) as session:
        send = session.scalars(select(Send).where(Send.article_id == 1)).one()
        statuses = list(session.scalars(select(Delivery.status).where(Delivery.send_id == send.id)))
    assert send.kind == SendKind.ALERT
    assert statuses == [DeliveryStatus.SENT]  # Ann (npq), not Bob (itt)
