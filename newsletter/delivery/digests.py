"""Digest runs: per member, the articles of their topics since their last digest, once a period.

A run is keyed by frequency and period ("digest:weekly:2026-W48"), so a second run finds the
first and adds nothing, or goes on with it if it stopped half way. Members are streamed in
chunks; each chunk's Delivery rows (holding the member's article ids, so a retry resends the
same digest) and watermarks are written, committed and queued together (streaming.py). What
a member's digest holds is `next_digests` (for a chunk) or `next_digest` (for one member, as a
preview shows it): an article any email has carried to them, or is carrying, stays out, and
one an email failed to deliver comes back (ADR 0011).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, and_, exists, func, literal, or_, select, true
from sqlalchemy.orm import Session

from newsletter import school_calendar
from newsletter.audience import (
    Audience,
    DigestArticle,
    Groups,
    History,
    digest_audience,
    digest_content,
    digest_groups,
    digest_starts,
    merge_groups,
)
from newsletter.config import Settings, get_settings
from newsletter.db import insert_for
from newsletter.delivery import history, ledger, streaming
from newsletter.delivery.fanout import (
    add_deliveries,
    create_send,
    eligible_chunks,
    in_range,
    json_rows,
)
from newsletter.delivery.streaming import Committed
from newsletter.models import (
    Article,
    ArticleStatus,
    ArticleTopic,
    DigestWatermark,
    Frequency,
    Member,
    Send,
    SendKind,
    Subscription,
    Topic,
    UTCDateTime,
    utcnow,
)
from newsletter.scheduling import (
    DIGEST_FREQUENCIES,
    SchedulingError,
    digest_key,
    digest_period,
    latest_digest_due,
    local_date,
)

# What one member's digest depends on besides the run's articles: where each topic starts,
# what they have had and been given back (the History, by identity), and (when something was
# given back) since when they take each topic.
DigestInputs = tuple[
    frozenset[tuple[int, datetime, datetime]], int, frozenset[tuple[int, datetime]] | None
]
NOTHING_HAD = History()
NO_GROUPS: Groups = []  # one object: contents are shared by the identity of groups


@dataclass(frozen=True)
class DigestRun:
    send_id: int
    created: bool
    recipients: int
    period: str
    resumed: bool = False  # it went on with a run that had stopped half way


@dataclass(frozen=True)
class DigestScope:
    """What a run (or a preview) reads once: the published articles a member of this
    frequency might be owed, up to `until`."""

    frequency: Frequency
    until: datetime
    articles: list[DigestArticle]
    topic_order: list[int]
    # How far behind a member's last digest their next one looks for articles no email has
    # carried to them: as long as a delivery can stay unsettled (ledger.settled_within), so
    # an email that failed after the last digest gives its articles back, and an article
    # whose publish committed after that digest read the articles still comes.
    look_back: timedelta
    sends: history.Sends  # the alerts and digests its members' histories are in
    # Since when `sends` were read, and the run's own send they leave out (read_sends_again).
    since: datetime | None = None
    own_send: int = 0

    def read_sends_again(self, session: Session) -> DigestScope:
        """The scope with the sends made by now: a run commits chunk by chunk, and an alert
        made between two chunks holds articles for the members of the next."""
        if self.since is None:
            return self
        ids = [a.id for a in self.articles]
        return replace(self, sends=history.sends_since(session, self.since, ids, self.own_send))


def run_digest(
    session: Session,
    frequency: Frequency,
    now: datetime,
    settings: Settings,
    committed: Committed = streaming.in_one_go,
) -> DigestRun:
    """Make the digest of the period containing `now` as of then, once; `committed` commits
    each chunk of members. A run that finds the period's digest still fanning out (it stopped
    half way) goes on with it, as of the moment the stopped run was made."""
    if frequency not in DIGEST_FREQUENCIES:
        raise SchedulingError(f"there is no {frequency.value} digest (daily or weekly)")
    tz = ZoneInfo(settings.TIMEZONE)
    period = digest_period(frequency, now, tz)
    history.serialise(session, exclusive=True)
    send_id, created = create_send(
        session,
        kind=SendKind.DIGEST,
        key=digest_key(frequency, now, tz),
        audience=digest_audience(frequency),
        now=now,
        subject=f"Your {frequency.value} digest ({period})",
        fanout_progress_at=utcnow(),
    )
    after = 0 if created else streaming.resume(session, send_id, committed)
    if after is None:
        return DigestRun(send_id, False, 0, period)
    if not created:
        made = session.scalar(select(Send.created_at).where(Send.id == send_id))
        assert made is not None
        now = made  # what the stopped run wrote holds its articles as of then
    recipients = _write_digests(session, send_id, frequency, now, settings, after, committed)
    return DigestRun(send_id, created, recipients, period, resumed=not created)


def _write_digests(
    session: Session,
    send_id: int,
    frequency: Frequency,
    now: datetime,
    settings: Settings,
    after: int,
    committed: Committed,
) -> int:
    """The run's rows and watermarks for the members after member `after`, chunk by chunk."""
    scope = digest_scope(session, frequency, now, settings, leave_out=send_id)
    day = local_date(now, ZoneInfo(settings.TIMEZONE))
    weekend = school_calendar.weekend_rule(frequency, day, settings.WEEKLY_DIGEST_WEEKDAY)
    waiting = school_calendar.waiting_members(session, frequency, day, weekend)
    weekly_too = school_calendar.weekly_brought(weekend)
    weekly = None
    if weekly_too is not None:
        weekly = digest_scope(session, Frequency.WEEKLY, now, settings, leave_out=send_id)

    def write(members: Sequence[int]) -> list[int]:
        own, brought = list(members), []
        if weekly_too is not None:
            own = members_where(session, members, and_(~waiting, has_subscription(frequency)))
            brought = members_where(
                session, members, and_(weekly_too, has_subscription(Frequency.WEEKLY))
            )
        rows = digest_rows(
            session,
            scope.read_sends_again(session),
            own,
            weekly.read_sends_again(session) if weekly is not None else None,
            brought,
        )
        ids = add_deliveries(session, send_id, rows)
        advance_watermarks(session, frequency, own, now)
        advance_watermarks(session, Frequency.WEEKLY, brought, now)
        return ids

    chunks = member_chunks(
        session, frequency, waiting, weekly_too, after=after, size=settings.FANOUT_CHUNK
    )
    return streaming.write_chunks(session, send_id, chunks, write, committed, exclusive=True)


def digest_rows(
    session: Session,
    scope: DigestScope,
    members: Sequence[int],
    weekly: DigestScope | None = None,
    brought: Sequence[int] = (),
) -> list[tuple[int, dict[str, Any]]]:
    """Each member's digest content (members with nothing left out), with, for those
    `brought`, their weekly digest in the same email (school_calendar.weekend_rule)."""
    digests = next_digests(session, scope, members)
    extra = next_digests(session, weekly, brought) if weekly is not None and brought else {}
    contents: dict[tuple[int, int], dict[str, Any]] = {}  # members alike share one content
    rows = []
    for member in sorted({*members, *brought}):
        own, more = digests.get(member, NO_GROUPS), extra.get(member, NO_GROUPS)
        key = (id(own), id(more))
        if key not in contents:
            groups = merge_groups(own, more, scope.topic_order) if more else own
            contents[key] = digest_content(groups) if groups else {}
        if contents[key]:
            rows.append((member, contents[key]))
    return rows


def due_digest(
    session: Session, frequency: Frequency, now: datetime, settings: Settings
) -> datetime | None:
    """When the digest beat should make now fell due (it is made as of then), or None.

    Beat asks every minute (a crontab entry fires once, and a run killed half way, a beat that
    was down or a clock that jumped went without): see scheduling.latest_digest_due. A digest
    is owed only when someone of this frequency subscribed before its time (as the watch
    judges it: `missing`): a service set up after the hour makes none for a period
    before its first member.
    """
    tz = ZoneInfo(settings.TIMEZONE)
    due = latest_digest_due(
        frequency, now, tz, settings.DIGEST_HOUR, settings.WEEKLY_DIGEST_WEEKDAY
    )
    return due if missing(session, frequency, due, tz) else None


def missing(session: Session, frequency: Frequency, due: datetime, tz: ZoneInfo) -> bool:
    """The digest due at `due` was owed (someone of this frequency had subscribed by then) and
    no send was made for its period. Beat's catch-up and the watch both judge it this way."""
    made = session.scalar(select(exists().where(Send.key == digest_key(frequency, due, tz))))
    if made:
        return False
    owed = session.scalar(
        select(exists().where(Subscription.frequency == frequency, Subscription.created_at < due))
    )
    return bool(owed)


def stalled_runs(session: Session, before: datetime) -> list[tuple[Frequency, datetime]]:
    """(frequency, as of) of each digest run whose fan-out has written nothing since `before`:
    it stopped half way (its process died), and run_digest goes on with it."""
    runs = [run_of(send) for send in streaming.stalled(session, SendKind.DIGEST, before)]
    return [run for run in runs if run is not None]


def run_of(send: Send) -> tuple[Frequency, datetime] | None:
    """(frequency, as of) of the digest run that made this send: run_digest with them goes on
    with its fan-out."""
    frequencies = Audience.from_json(send.audience or {}).frequencies or ()
    return (frequencies[0], send.created_at) if frequencies else None


def next_digest(
    session: Session,
    member_id: int,
    frequency: Frequency,
    until: datetime,
    settings: Settings | None = None,
) -> Groups:
    """What member `member_id`'s digest of `frequency` would hold if it ran at `until`, by
    the rules and the code of the digest run itself (see `next_digests`); a preview shows
    this. Empty: the member would get no digest. Reads only; whether the member may receive
    mail at all (status, pause, suppression) is not its business."""
    scope = digest_scope(session, frequency, until, settings or get_settings(), member_id)
    return next_digests(session, scope, [member_id])[member_id]


def digest_scope(
    session: Session,
    frequency: Frequency,
    until: datetime,
    settings: Settings,
    member_id: int | None = None,
    leave_out: int = 0,
) -> DigestScope:
    """The scope of a run at `until` (whose own send is `leave_out`), or of one member's next
    digest."""
    look_back = ledger.settled_within(settings)
    floor = owed_since(session, frequency, member_id)
    if floor is None:
        return DigestScope(frequency, until, [], [], look_back, history.Sends({}, {}))
    since = floor - look_back
    articles = published_articles(
        session, Article.published_at > since, Article.published_at <= until
    )
    sends = history.sends_since(session, since, [a.id for a in articles], leave_out)
    topic_order = list(session.scalars(select(Topic.id).order_by(Topic.slug)))
    return DigestScope(
        frequency, until, articles, topic_order, look_back, sends, since, own_send=leave_out
    )


def owed_since(
    session: Session, frequency: Frequency, member_id: int | None = None
) -> datetime | None:
    """The earliest moment after which some member (or this one) of this frequency might be
    owed an article: the oldest watermark, or the oldest subscription (a first digest)."""
    watermarks = select(func.min(DigestWatermark.until)).where(
        DigestWatermark.frequency == frequency
    )
    subscriptions = select(func.min(Subscription.created_at)).where(
        Subscription.frequency == frequency
    )
    if member_id is not None:
        watermarks = watermarks.where(DigestWatermark.member_id == member_id)
        subscriptions = subscriptions.where(Subscription.member_id == member_id)
    starts = [session.scalar(watermarks), session.scalar(subscriptions)]
    moments = [moment for moment in starts if moment is not None]
    return min(moments) if moments else None


def published_articles(session: Session, *where: ColumnElement[bool]) -> list[DigestArticle]:
    """Published articles with their assigned topics (most relevant first), oldest first."""
    found = session.execute(
        select(Article.id, Article.published_at)
        .where(Article.status == ArticleStatus.PUBLISHED, *where)
        .order_by(Article.published_at, Article.id)
    ).all()
    if not found:
        return []
    topics: dict[int, list[int]] = defaultdict(list)
    for article_id, topic_id in session.execute(
        select(ArticleTopic.article_id, ArticleTopic.topic_id)
        .where(ArticleTopic.article_id.in_([a.id for a in found]), ArticleTopic.assigned.is_(True))
        .order_by(ArticleTopic.article_id, ArticleTopic.rank)
    ):
        topics[article_id].append(topic_id)
    return [DigestArticle(a.id, a.published_at, tuple(topics[a.id])) for a in found if topics[a.id]]


def member_chunks(
    session: Session,
    frequency: Frequency,
    waiting: ColumnElement[bool] | None = None,
    weekly_too: ColumnElement[bool] | None = None,
    *,
    after: int = 0,
    size: int = 1000,
) -> Iterator[list[int]]:
    """Ids of members after member `after` who may receive mail and take some topic at this
    frequency, `size` at a time; not those `waiting` (a weekend, a school holiday:
    school_calendar.waiting_members), whose watermark then stays for their next digest to
    bring what this one would have; and those `weekly_too` who take some weekly topic (this
    run brings their weekly digest)."""

    def wanted(last: int) -> ColumnElement[bool]:
        # The repeated bound lets PostgreSQL start each chunk where the last ended instead of
        # rescanning subscriptions from the start (docs/performance.md).
        condition = and_(
            ~waiting if waiting is not None else true(), has_subscription(frequency, last)
        )
        if weekly_too is not None:
            weekly = and_(weekly_too, has_subscription(Frequency.WEEKLY, last))
            condition = or_(condition, weekly)
        return condition

    return eligible_chunks(session, wanted, size, after)


def has_subscription(frequency: Frequency, after: int = 0) -> ColumnElement[bool]:
    """SQL, correlated to Member: the member takes some topic at this frequency."""
    return (
        select(Subscription.id)
        .where(
            Subscription.member_id == Member.id,
            Subscription.member_id > after,
            Subscription.frequency == frequency,
        )
        .exists()
    )


def members_where(
    session: Session, members: Sequence[int], condition: ColumnElement[bool]
) -> list[int]:
    """Those of a chunk's members (ids in order) who meet `condition`."""
    chunk = set(members)
    found = session.scalars(select(Member.id).where(in_range(Member.id, members), condition))
    return sorted(m for m in found if m in chunk)


def next_digests(session: Session, scope: DigestScope, members: Sequence[int]) -> dict[int, Groups]:
    """What the next digest of `scope.frequency` holds for each of these members (ids in
    order); empty groups mean no digest.

    A member's digest holds the articles of the topics they take at this frequency published
    since their last digest (or, for a first one, since they subscribed to the topic), up to
    `scope.until`, less every article an alert or digest of any frequency has carried to them
    or is carrying. It looks `scope.look_back` behind their last digest for articles no email
    carried to them, and further back for those an email which failed, or was cancelled or
    suppressed, gave back. So an article reaches the member in the first of their emails
    that is due, and later digests skip it.
    """
    subscribed = subscriptions_at(session, scope.frequency, members)
    watermarks = watermarks_of(session, scope.frequency, members)
    starts = [watermarks.get(m) or min(subscribed[m].values()) for m in members if subscribed[m]]
    if not starts:
        return {member: [] for member in members}
    since = min(starts) - scope.look_back
    candidates = {a.id for a in scope.articles}
    found = history.chunk_histories(
        session, members, [a for a in scope.articles if a.published_at > since], since, scope.sends
    )
    articles = with_given_back(session, scope.articles, found)
    # Members mostly share their topics, watermark and history (history_of shares a History
    # between members whose rows are alike): a chunk holds few digests. Histories are told
    # apart by identity, which they keep for the whole loop: hashing them for each member
    # cost a tenth of a 20,000-member run's own time.
    digests: dict[DigestInputs, Groups] = {}
    result: dict[int, Groups] = {}
    relevant: dict[int, History] = {}
    for member in members:
        topics, watermark = subscribed[member], watermarks.get(member)
        had = found.get(member, NOTHING_HAD)
        if id(had) not in relevant:
            relevant[id(had)] = History(had.had & candidates, had.given_back)
        seen = relevant[id(had)]
        key = (
            digest_starts(topics, watermark, scope.look_back),
            id(had),
            frozenset(topics.items()) if seen.given_back else None,
        )
        if key not in digests:
            digests[key] = digest_groups(
                topics,
                articles,
                watermark=watermark,
                until=scope.until,
                history=seen,
                topic_order=scope.topic_order,
                look_back=scope.look_back,
            )
        result[member] = digests[key]
    return result


def subscriptions_at(
    session: Session, frequency: Frequency, members: Sequence[int]
) -> dict[int, dict[int, datetime]]:
    """{member: {topic: subscribed at}} of the topics each takes at this frequency."""
    subscribed: dict[int, dict[int, datetime]] = defaultdict(dict)
    for member_id, topic_id, created_at in session.execute(
        select(Subscription.member_id, Subscription.topic_id, Subscription.created_at).where(
            in_range(Subscription.member_id, members),
            Subscription.frequency == frequency,
        )
    ):
        subscribed[member_id][topic_id] = created_at
    return subscribed


def watermarks_of(
    session: Session, frequency: Frequency, members: Sequence[int]
) -> dict[int, datetime]:
    return dict(
        session.execute(
            select(DigestWatermark.member_id, DigestWatermark.until).where(
                in_range(DigestWatermark.member_id, members),
                DigestWatermark.frequency == frequency,
            )
        ).all()
    )


def with_given_back(
    session: Session, articles: list[DigestArticle], found: dict[int, History]
) -> list[DigestArticle]:
    """The scope's articles, and any given back that were published before it starts."""
    known = {a.id for a in articles}
    missing = {i for h in found.values() for i in h.given_back} - known
    if not missing:
        return articles
    return [*articles, *published_articles(session, Article.id.in_(missing))]


def advance_watermarks(
    session: Session, frequency: Frequency, members: Sequence[int], until: datetime
) -> None:
    """Every member considered has had their digest up to `until` (never moved backwards)."""
    given = json_rows(session, [{"member_id": m} for m in members], member_id=Integer())
    values = select(
        given.c.member_id, literal(frequency.value), literal(until, UTCDateTime())
    ).where(true())  # without a WHERE, SQLite parses ON CONFLICT's ON as a join's
    statement = insert_for(session, DigestWatermark).from_select(
        ["member_id", "frequency", "until"], values
    )
    table = DigestWatermark.__table__
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["member_id", "frequency"],
            set_={"until": statement.excluded.until},
            where=statement.excluded.until > table.c.until,
        )
    )
