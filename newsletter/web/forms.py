"""Reading HTML forms: trimmed text fields, topic/frequency choices, London dates and times.

Problems are collected per field name so the page can show each beside its field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData, UploadFile

from newsletter.models import Frequency, Topic
from newsletter.topics import SLUG_PATTERN

FREQUENCY_FIELD = "topic-{slug}"
OFF = ""

Errors = dict[str, str]


def clean(value: str, max_length: int = 1000) -> str:
    """Trimmed, cut to max_length, without NUL characters (which no database column takes)."""
    return value.replace("\x00", "").strip()[:max_length]


def text(form: FormData, name: str, max_length: int = 1000) -> str:
    """A text field, cleaned; files and missing fields give ""."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return clean(value, max_length)


def texts(form: FormData, name: str, max_length: int = 200) -> list[str]:
    values = (clean(v, max_length) for v in form.getlist(name) if isinstance(v, str))
    return [v for v in values if v]


def upload(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value
    return None


def topics_named_in(form: FormData) -> list[Topic]:
    """Topics as the form's field names give them (for when the database cannot say which
    topics there are; an unknown one is refused when the choice is applied)."""
    prefix = FREQUENCY_FIELD.format(slug="")
    slugs = {key.removeprefix(prefix) for key in form if key.startswith(prefix)}
    return [Topic(slug=slug) for slug in sorted(slugs) if SLUG_PATTERN.match(slug)]


def topic_frequencies(form: FormData, topics: list[Topic], errors: Errors) -> dict[str, Frequency]:
    """{slug: frequency} from one field per topic whose value is a frequency or "" (off)."""
    chosen: dict[str, Frequency] = {}
    for topic in topics:
        field = FREQUENCY_FIELD.format(slug=topic.slug)
        raw = text(form, field, 20)
        if raw == OFF:
            continue
        try:
            chosen[topic.slug] = Frequency(raw)
        except ValueError:
            errors[field] = "Choose how often, or off."
    return chosen


def frequency_values(chosen: dict[str, Frequency]) -> dict[str, str]:
    """What the page's topic fields should show, keyed by field name."""
    return {FREQUENCY_FIELD.format(slug=slug): f.value for slug, f in chosen.items()}


def london_datetime(
    form: FormData, date_field: str, time_field: str, timezone: str, errors: Errors
) -> datetime | None:
    """A date and time typed on the association's clock, as an aware UTC datetime."""
    raw_date, raw_time = text(form, date_field, 20), text(form, time_field, 20)
    try:
        day = date.fromisoformat(raw_date)
    except ValueError:
        errors[date_field] = "Enter a date, like 2026-03-14."
        return None
    try:
        at = time.fromisoformat(raw_time)
    except ValueError:
        errors[time_field] = "Enter a time, like 09:30."
        return None
    local = datetime.combine(day, at.replace(tzinfo=None), tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)
