"""Finding 8, the smaller holes: previews that showed any member's name to comms staff, API
tokens that could do everything for ever, CSV rows that crashed the import instead of being
reported, `preview --out` at a folder, and UTF-16 files refused as binary."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from newsletter.api_tokens import create_token
from newsletter.cli import app
from newsletter.db import session_scope
from newsletter.models import ApiToken, Article, Member, utcnow
from tests.support.console import bearer, new_token
from tests.support.delivery_data import add_member
from tests.web.helpers import csrf_of

runner = CliRunner()
SECRET_NAME = "Zebedee Quartermaine"
DRAFT = {"subject": "Spring conference", "body": "Book your place.", "topic": ["npq"]}


def _with_a_named_member(db_url: str) -> None:
    with session_scope(db_url) as session:
        add_member(session, "zeb@example.com", {"npq": "weekly"}).name = SECRET_NAME


def _preview(client: TestClient, preview_for: str) -> str:
    token = csrf_of(client.get("/staff/sends/new").text)
    data = {**DRAFT, "preview_for": preview_for, "csrf_token": token}
    answer = client.post("/staff/sends/preview", data=data)
    assert answer.status_code == 200
    return answer.text


def test_comms_staff_cannot_preview_as_a_real_member(comms: TestClient, db_url: str) -> None:
    _with_a_named_member(db_url)
    page = _preview(comms, "zeb@example.com")
    assert "Spring conference" in page
    assert SECRET_NAME.split()[0] not in page and "zeb@example.com" not in page


def test_an_admin_may_preview_as_a_real_member(admin: TestClient, db_url: str) -> None:
    _with_a_named_member(db_url)
    assert SECRET_NAME.split()[0] in _preview(admin, "zeb@example.com")


def test_a_token_does_only_what_its_scopes_allow_until_it_expires(
    admin: TestClient, db_url: str
) -> None:
    reader = new_token(
        admin, "Reader", scopes=("articles:read", "sends:read"), expires="2099-01-31"
    )
    listing = admin.get("/staff/admin/tokens").text
    assert re.search(r"Reader.*articles:read.*sends:read.*31 Jan 2099", listing, re.S)
    assert "members:read" not in listing.split("Reader", 1)[1].split("</tr>", 1)[0]

    assert admin.get("/api/v1/sends", headers=bearer(reader)).status_code == 200
    refused = admin.get("/api/v1/members.csv", headers=bearer(reader))
    assert refused.status_code == 403 and "members:read" in refused.json()["detail"]
    cancel = admin.post("/api/v1/sends/1/cancel", headers=bearer(reader))
    assert cancel.status_code == 403

    with session_scope(db_url) as session:
        session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert admin.get("/api/v1/sends", headers=bearer(reader)).status_code == 401
    assert "expired" in admin.get("/staff/admin/tokens").text


def test_a_token_needs_a_scope(admin: TestClient) -> None:
    page = admin.get("/staff/admin/tokens")
    made = admin.post(
        "/staff/admin/tokens", data={"name": "Nothing", "csrf_token": csrf_of(page.text)}
    )
    assert made.status_code == 400 and "choose at least one" in made.text


BAD_ROWS = (
    "email,name,role,topics\n"
    f"long@example.com,{'x' * 201},,npq:weekly\n"
    "nul@example.com,Nul\x00Byte,,npq:weekly\n"
    "fine@example.com,Fine,,npq:weekly\n"
)


def test_csv_rows_no_database_stores_are_reported_in_the_console(
    admin: TestClient, db_url: str
) -> None:
    page = "/staff/admin/members-import"
    upload = {"file": ("members.csv", BAD_ROWS.encode(), "text/csv")}
    answer = admin.post(page, data={"csrf_token": csrf_of(admin.get(page).text)}, files=upload)
    assert answer.status_code == 400
    assert "longer than 200 characters" in answer.text and "a NUL character" in answer.text
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 0


def test_csv_rows_no_database_stores_are_reported_by_the_cli(db_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(BAD_ROWS)
    result = runner.invoke(app, ["members", "import", str(csv_file), "--partial"])
    assert result.exit_code == 1, result.output
    assert ":2:" in result.output and "longer than 200 characters" in result.output
    assert ":3:" in result.output and "a NUL character" in result.output
    assert "Traceback" not in result.output
    with session_scope(db_url) as session:
        assert session.scalars(select(Member.email)).all() == ["fine@example.com"]


def test_preview_out_at_a_folder_is_one_clear_line(db_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["preview", "welcome", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "Is a directory" in result.output and "Traceback" not in result.output


def test_utf16_files_with_a_byte_order_mark_are_read(db_url: str, tmp_path: Path) -> None:
    article = tmp_path / "utf16.md"
    article.write_text("# Café funding\n\nSchools may now apply for more funding.\n", "utf-16")
    members = tmp_path / "members.csv"
    members.write_text("email,name,role,topics\nzoe@example.com,Zoë,,npq:weekly\n", "utf-16")

    imported = runner.invoke(app, ["articles", "import", str(article)])
    assert imported.exit_code == 0, imported.output
    added = runner.invoke(app, ["members", "import", str(members), "--consent", "terms"])
    assert added.exit_code == 0, added.output
    with session_scope(db_url) as session:
        assert session.scalars(select(Article.title)).all() == ["Café funding"]
        assert session.scalars(select(Member.name)).all() == ["Zoë"]


def test_create_token_refuses_an_expiry_in_the_past(db_url: str) -> None:
    with session_scope(db_url) as session:
        try:
            create_token(session, "x", "test", expires_at=utcnow() - timedelta(days=1))
        except ValueError as exc:
            assert "future" in str(exc)
        else:
            raise AssertionError("a token that expired before it was made was created")
