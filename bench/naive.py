"""The naive way, as a tutorial does it: per member, render the templates with their values,
inline the CSS with premailer, build the message with the stdlib email package, and hand it over
on a new SMTP connection. Run on a sample of members; its rate scales to any N.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr

from premailer import Premailer

from bench import data
from bench.sink import HOST
from newsletter.config import get_settings
from newsletter.rendering import inline
from newsletter.rendering.emails import digest_spec
from newsletter.rendering.reference import reference_message


@dataclass(frozen=True)
class NaiveRun:
    members: int  # the sample actually sent
    seconds: float

    @property
    def rate(self) -> float:
        return self.members / self.seconds

    def seconds_for(self, members: int) -> float:
        return members / self.rate


def run_naive(members: int, port: int, now: datetime) -> NaiveRun:
    sender = parseaddr(get_settings().FROM_ADDRESS)[1]
    articles = data.articles(now)
    with premailer_as_shipped():
        began = time.perf_counter()
        _send_each(members, port, sender, articles)
        return NaiveRun(members, time.perf_counter() - began)


@contextmanager
def premailer_as_shipped() -> Iterator[None]:
    """A tutorial calls premailer as it comes, not our subclass that keeps each parsed style
    sheet (rendering/inline.py): the naive way must not get our optimisations."""
    ours = inline.ReusingPremailer
    inline.ReusingPremailer = Premailer  # type: ignore[misc]
    try:
        yield
    finally:
        inline.ReusingPremailer = ours  # type: ignore[misc]


def _send_each(members: int, port: int, sender: str, articles: list[data.BenchArticle]) -> None:
    for index in range(1, members + 1):
        person = data.recipient(index)
        groups = data.groups_for(data.member_topics(index), articles)
        message = reference_message(digest_spec("weekly", groups, send_id=data.SEND_ID), person)
        with smtplib.SMTP(HOST, port, local_hostname="bench.localhost", timeout=30) as client:
            refused = client.sendmail(sender, [person.email], message)
        if refused:
            raise RuntimeError(f"the sink refused {person.email}: {refused}")
