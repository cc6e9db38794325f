"""Template errors stop a send with the template and line; words and dates read British."""

from __future__ import annotations

import logging
import shutil
from datetime import date
from pathlib import Path

import pytest

from newsletter.rendering import TemplateError, prepare_alert
from newsletter.rendering.build import prepare
from newsletter.rendering.environment import TEMPLATE_DIR, EmailTemplates
from newsletter.rendering.formatting import (
    british_date,
    days_left_phrase,
    deadline_label,
    greeting,
    join_and,
)
from newsletter.rendering.samples import sample_articles
from tests.support.rendering import sample_spec


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    copy = tmp_path / "email"
    shutil.copytree(TEMPLATE_DIR, copy)
    return copy


def break_line(path: Path, line_number: int, new_text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line_number - 1] = new_text
    path.write_text("\n".join(lines) + "\n")


def test_a_syntax_error_names_the_template_and_line(templates: Path) -> None:
    break_line(templates / "digest.html.j2", 7, "<h2>{{ group.name </h2>")
    with pytest.raises(TemplateError, match=r"digest\.html\.j2, line 7: "):
        prepare(sample_spec("digest"), EmailTemplates(templates))


def test_an_unknown_name_names_the_template_and_line(templates: Path) -> None:
    break_line(templates / "alert.txt.j2", 9, "{{ article.headline }}")
    with pytest.raises(TemplateError, match=r"alert\.txt\.j2, line 9: .*headline"):
        prepare(sample_spec("alert"), EmailTemplates(templates))


def test_an_error_in_the_base_layout_names_the_base_layout(templates: Path) -> None:
    break_line(templates / "base.html.j2", 25, "{{ personal.nickname }}")
    with pytest.raises(TemplateError, match=r"base\.html\.j2, line 25: .*nickname"):
        prepare(sample_spec("confirm"), EmailTemplates(templates))


def test_a_missing_template_is_named(templates: Path) -> None:
    (templates / "reminder.subject.j2").unlink()
    with pytest.raises(TemplateError, match=r"reminder\.subject\.j2 not found"):
        prepare(sample_spec("reminder"), EmailTemplates(templates))


def test_a_subject_with_a_personal_value_is_refused(templates: Path) -> None:
    (templates / "alert.subject.j2").write_text("{{ personal.greeting }} {{ article.title }}\n")
    with pytest.raises(TemplateError, match="subject cannot hold personal values"):
        prepare(sample_spec("alert"), EmailTemplates(templates))


def test_an_unsubscribe_link_in_an_email_without_a_send_is_refused(templates: Path) -> None:
    break_line(templates / "confirm.html.j2", 15, '<a href="{{ personal.unsubscribe_url }}">x</a>')
    with pytest.raises(TemplateError, match="unsubscribe_url needs a send"):
        prepare(sample_spec("confirm"), EmailTemplates(templates))


def test_a_placeholder_that_inlining_alters_stops_the_send(templates: Path) -> None:
    # Inlining copies this rule onto every badge: the member's value would be multiplied.
    with (templates / "email.css").open("a") as css:
        css.write(".badge { font-family: {{ personal.email }}; }\n")
    with pytest.raises(TemplateError, match=r"digest\.html\.j2: CSS inlining altered .*email"):
        prepare(sample_spec("digest"), EmailTemplates(templates))


def test_inlining_keeps_css_warnings_out_of_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    # email.css uses mso-hide and -webkit-text-size-adjust, which cssutils warns about.
    with caplog.at_level(logging.DEBUG):
        prepare_alert(sample_articles()[0], send_id=1)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not [r for r in caplog.records if r.name.upper().startswith("CSSUTILS")]


def test_dates_are_british() -> None:
    assert british_date(date(2020, 3, 27)) == "27 March 2020"
    assert british_date(date(2026, 1, 5)) == "5 January 2026"
    assert deadline_label("closes", date(2020, 3, 27), "day") == "Closes 27 March 2020"
    assert deadline_label("opens", date(2020, 9, 1), "month") == "Opens in September 2020"
    assert deadline_label("effective", date(2020, 4, 1), "day") == "Takes effect 1 April 2020"


def test_words_read_well() -> None:
    assert [days_left_phrase(n) for n in (0, 1, 7)] == ["today", "tomorrow", "in 7 days"]
    assert greeting("  Ann   Archer ") == "Hello Ann Archer,"
    assert greeting("") == "Hello,"
    assert join_and(["Funding", "NPQ", "ITT"]) == "Funding, NPQ and ITT"
    assert join_and(["Funding"]) == "Funding"
