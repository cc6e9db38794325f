"""`newsletter demo`: the whole service on the embedded default, start to finish, on one machine.

Everything lives under one folder (var/demo by default): a SQLite database, the embedded broker,
a real `newsletter worker` process, and a local SMTP server that catches every email into
outbox/ (.eml files and an index.html). Nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from newsletter import db, dispatch
from newsletter.articles.store import import_article
from newsletter.catcher import MailCatcher
from newsletter.config import get_settings
from newsletter.delivery import jobs
from newsletter.delivery.announcements import schedule_announcement
from newsletter.delivery.progress import describe_send, is_settled, list_sends
from newsletter.member_import import import_members
from newsletter.models import (
    Article,
    ArticleStatus,
    Deadline,
    DeadlineKind,
    Frequency,
    Member,
    Send,
    Topic,
    utcnow,
)
from newsletter.rendering import ArticleView, Recipient, write_previews
from newsletter.rendering.previews import PreviewContent

# Package data, so an installed wheel runs the demo too (the repository's samples/ links here).
SAMPLES = Path(__file__).resolve().parent / "samples"
BREAKING_SAMPLE = "funding-condition-improvement-grants.md"
WAIT_SECONDS = 180
ANNOUNCEMENT_SUBJECT = "Regional SENCO network meeting: book your place"


def demo_environment(var_dir: Path, smtp_port: int) -> dict[str, str]:
    """Settings for the demo: SQLite, the embedded broker, the local SMTP catcher."""
    return {
        "NEWSLETTER_VAR_DIR": str(var_dir),
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{var_dir / 'newsletter.db'}",
        "NEWSLETTER_BROKER_URL": "embedded",
        "NEWSLETTER_EMAIL_BACKEND": "smtp",
        "NEWSLETTER_SMTP_HOST": "127.0.0.1",
        "NEWSLETTER_SMTP_PORT": str(smtp_port),
        # The demo shows alerts going out whenever it is run, a Sunday night too.
        "NEWSLETTER_SEND_WINDOW_ENABLED": "false",
    }


def use_environment(environment: dict[str, str]) -> None:
    os.environ.update(environment)
    get_settings.cache_clear()


@contextmanager
def worker_process(var_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `newsletter worker`, as an operator would start it, logging to var_dir."""
    log = open(var_dir / "worker.log", "wb")  # noqa: SIM115 (closed in finally)
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "worker", "--concurrency", "2"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not dispatch.worker_running():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start; see {var_dir / 'worker.log'}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def import_samples(console: Console) -> list[int]:
    with db.session_scope() as session:
        report = import_members(
            session,
            (SAMPLES / "members.csv").read_text(),
            actor="demo",
            consent_basis="sample members of the demo",
        )
        if report.errors:
            raise RuntimeError(f"sample members are invalid: {report.errors}")
    console.print(f"Imported {len(report.rows)} members from samples/members.csv")
    article_ids = []
    for path in sorted((SAMPLES / "articles").iterdir()):
        breaking = path.name == BREAKING_SAMPLE
        with db.session_scope() as session:
            outcome = import_article(
                session,
                path.read_text(encoding="utf-8"),
                filename=path.name,
                publish=True,
                breaking=breaking,
                actor="demo",
            )
            article_ids.append(outcome.article.id)
            topics = ", ".join(t.topic.slug for t in outcome.article.topics if t.assigned)
        label = " [bold red](breaking)[/]" if breaking else ""
        console.print(f"Published {path.name}{label}: topics {topics}")
    return article_ids


def wait_for_alerts(article_ids: list[int]) -> None:
    """Publishing queued one fan-out per article; the worker creates each alert send."""
    keys = [f"alert:article:{article_id}" for article_id in article_ids]
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with db.session_scope() as session:
            found = session.scalars(select(Send.key).where(Send.key.in_(keys))).all()
        if len(found) == len(keys):
            return
        time.sleep(0.3)
    raise RuntimeError("the worker did not fan the alerts out in time; see worker.log")


def first_reminder_time(timezone: ZoneInfo) -> datetime | None:
    """Just after the first reminder of the earliest closing deadline falls due."""
    settings = get_settings()
    with db.session_scope() as session:
        closing = session.scalar(
            select(Deadline.date)
            .where(Deadline.kind == DeadlineKind.CLOSES)
            .order_by(Deadline.date)
        )
    if closing is None:
        return None
    day = closing - timedelta(days=max(settings.REMINDER_DAYS))
    due = datetime.combine(day, clock_time(settings.REMINDER_HOUR), timezone)
    return due + timedelta(minutes=1)


def schedule_demo_announcement(timezone: ZoneInfo) -> datetime:
    at = (utcnow() + timedelta(minutes=5)).replace(second=0, microsecond=0)
    with db.session_scope() as session:
        schedule_announcement(
            session,
            subject=ANNOUNCEMENT_SUBJECT,
            body_markdown=(SAMPLES / "announcement.md").read_text(encoding="utf-8"),
            topic_slugs=["npq", "itt"],
            roles=[],
            at=at,
            actor="demo",
        )
    return at


def preview_content() -> tuple[Recipient, PreviewContent]:
    """The demo's own articles, announcement and first member, for previews/."""
    with db.session_scope() as session:
        names = dict(session.execute(select(Topic.id, Topic.name)).all())
        articles = session.scalars(
            select(Article)
            .where(Article.status == ArticleStatus.PUBLISHED)
            .order_by(Article.published_at, Article.id)
        )
        views = [ArticleView.from_model(article, names) for article in articles]
        member = session.scalars(select(Member).order_by(Member.id)).first()
        assert member is not None
        follows = tuple(
            sorted((names[s.topic_id], s.frequency.value) for s in member.subscriptions)
        )
        recipient = Recipient(member.id, member.email, member.name, member.token_version, follows)
        topics = dict(follows)
    body = (SAMPLES / "announcement.md").read_text(encoding="utf-8")
    return recipient, PreviewContent(
        views, topics=topics, announcement=(ANNOUNCEMENT_SUBJECT, body)
    )


def wait_until_settled() -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with db.session_scope() as session:
            sends = list_sends(session)
        if all(is_settled(send) for send in sends):
            return
        time.sleep(0.5)
    raise RuntimeError("sends did not finish in time; see worker.log")


def sends_table() -> Table:
    table = Table(title="What was sent", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("send", justify="right", min_width=4)
    table.add_column("kind", no_wrap=True, min_width=12)
    table.add_column("subject", max_width=22, no_wrap=True, overflow="ellipsis")
    for name in ("to", "sent", "deferred", "failed"):
        table.add_column(name, justify="right", min_width=len(name))
    table.add_column("status", no_wrap=True, min_width=6)
    with db.session_scope() as session:
        sends = list(reversed(list_sends(session)))
        for send in sends:
            assert send.id is not None
            summary = describe_send(session, send.id) or send
            counts = summary.counts
            table.add_row(
                str(send.id),
                send.kind,
                send.subject,
                str(summary.recipients),
                str(counts["sent"]),
                str(counts["deferred"]),
                str(counts["failed"]),
                summary.status,
            )
    return table


def run(console: Console, var_dir: Path) -> None:
    if var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True)
    outbox = var_dir / "outbox"
    console.rule("[bold]newsletter demo")
    with MailCatcher(outbox) as catcher:
        use_environment(demo_environment(var_dir, catcher.port))
        settings = get_settings()
        timezone = ZoneInfo(settings.TIMEZONE)
        revision = db.upgrade(settings.DATABASE_URL)
        console.print(f"Database {settings.DATABASE_URL} at revision {revision}")
        console.print(f"SMTP catcher on 127.0.0.1:{catcher.port} writing to {outbox}")
        with worker_process(var_dir):
            console.print("Worker started (embedded broker, 2 processes)")
            article_ids = import_samples(console)
            wait_for_alerts(article_ids)
            wait_until_settled()
            now = utcnow()
            for frequency in (Frequency.DAILY, Frequency.WEEKLY):
                run_ = jobs.digest(frequency, as_of=now)
                console.print(
                    f"{frequency.value.title()} digest {run_.period}: {run_.recipients} members due"
                )
            reminder_at = first_reminder_time(timezone)
            if reminder_at is not None:
                runs = jobs.reminders_due(as_of=reminder_at)
                console.print(
                    f"Deadline reminders as of {reminder_at:%d %B %Y %H:%M}: "
                    f"{sum(r.recipients for r in runs)} emails"
                )
            at = schedule_demo_announcement(timezone)
            console.print(
                f"Announcement scheduled for {at.astimezone(timezone):%H:%M} London; "
                "running the scheduler as beat would at that time"
            )
            jobs.due_sends(now=at)
            wait_until_settled()
    previews = write_previews(var_dir / "previews", *preview_content())
    console.print(sends_table())
    lines = [
        f"\n{catcher.count()} emails caught. Look at them:",
        f"  outbox:   {outbox / 'index.html'} (open it in a browser; the .eml files are beside it)",
        f"  previews: {var_dir / 'previews'} ({len(previews)} files, every kind of email, "
        "with the demo's articles)",
        f"  worker:   {var_dir / 'worker.log'}",
        "\nThe staff console on this data: make yourself an account, start the web app, then sign "
        "in at http://127.0.0.1:8000/staff (members' pages: http://127.0.0.1:8000/):",
        f"  export NEWSLETTER_VAR_DIR={var_dir} "
        f"NEWSLETTER_DATABASE_URL=sqlite:///{var_dir / 'newsletter.db'}",
        "  .venv/bin/newsletter staff create you@example.org --role admin",
        "  .venv/bin/newsletter serve",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)
