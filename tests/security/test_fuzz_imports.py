"""The two ways text from outside becomes rows, fed generated input through the staff console:
an article (page capture, Markdown or HTML) and a members CSV. Never a server error; a refused
import writes nothing; an accepted one writes all of it, and nothing it stores is live HTML.

tests/unit fuzzes the parser, the date finder and the CSV reader on their own; this drives
them through the forms into the database, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.db import session_scope
from newsletter.member_csv import read_rows
from newsletter.topics import topics_by_slug
from tests.security import stored
from tests.security.live_html import live_parts, main_of
from tests.web.helpers import csrf_of

FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HOSTILE = [
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    "<iframe src=//evil.example></iframe>",
    "<style>body{display:none}</style>",
    "\x00",
    "'; DROP TABLE article; --",
    "Applications close on 31 February 2027.",
    "Deadline: 12 March 2027",
]
ARTICLE_PARTS = st.sampled_from(
    HOSTILE
    + [
        "---\ntitle: T\ntopics: [npq]\npriority: breaking\n---",
        "---\ntitle: [unclosed\n---",
        "# A heading",
        "<h1>An HTML title</h1>",
        "<p>A paragraph about NPQ funding.</p>",
        "Latest news",
        "First published 01 February 2018",
        "A plain sentence about careers.",
        "",
    ]
)
ARTICLES = st.lists(ARTICLE_PARTS | st.text(max_size=80), max_size=12).map("\n".join)
CELLS = st.sampled_from(
    HOSTILE
    + ["ann@example.com", "Bob@Example.com", "funding:immediate", "npq:weekly;itt:daily", ""]
    + ["nope", "funding:hourly", "astrology:daily", '"quoted, comma"', "o'brien@example.com"]
) | st.text(max_size=40)
CSV_LINES = st.lists(st.lists(CELLS, min_size=1, max_size=5).map(",".join), max_size=8)


@FUZZ
@given(text=ARTICLES, publish=st.booleans())
def test_an_article_is_stored_whole_and_inert_or_not_at_all(
    comms: TestClient, db_url: str, text: str, publish: bool
) -> None:
    before = stored.everything(db_url)
    form = {"text": text, "csrf_token": csrf_of(comms.get("/staff/articles/new").text)}
    if publish:
        form["publish"] = "yes"

    answer = comms.post("/staff/articles/new", data=form, follow_redirects=False)

    assert answer.status_code in (303, 400), answer.text[-2000:]
    if answer.status_code == 400:
        assert stored.everything(db_url) == before
        return
    page = comms.get(answer.headers["location"].split("?")[0])
    assert page.status_code == 200
    assert live_parts(main_of(page.text)) == []


@FUZZ
@given(lines=CSV_LINES, partial=st.booleans())
def test_a_members_csv_is_imported_whole_or_not_at_all(
    admin: TestClient, db_url: str, lines: list[str], partial: bool
) -> None:
    text = "\n".join(["email,name,role,topics", *lines])
    before = {m[0]: m for m in stored.members(db_url)}
    form = {"text": text, "csrf_token": csrf_of(admin.get("/staff/admin/members-import").text)}
    if partial:
        form["partial"] = "yes"

    answer = admin.post("/staff/admin/members-import", data=form)

    assert answer.status_code in (200, 400), answer.text[-2000:]
    after = {m[0]: m for m in stored.members(db_url)}
    if answer.status_code == 400:
        assert after == before
        return
    with session_scope(db_url) as session:
        rows, _ = read_rows(text.strip(), set(topics_by_slug(session)))
    for row in rows:
        assert row.email in after, row
        assert len(after[row.email][6]) == len(row.topics)
    assert set(after) == set(before) | {row.email for row in rows}
