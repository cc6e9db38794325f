"""The data model: members and what they subscribe to, articles, sends and their ledger."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym, validates
from sqlalchemy.types import TypeDecorator

from newsletter.db import Base

DEFAULT_REGION = "england"  # whose school terms a member follows unless they choose another


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always hands back aware UTC datetimes (SQLite too)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type[enum.Enum], name: str = "") -> Enum:
    # VARCHAR + CHECK on both databases: adding a value later is a simple migration.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        name=name or cls.__name__.lower(),
    )


class MemberStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Frequency(enum.StrEnum):
    IMMEDIATE = "immediate"
    DAILY = "daily"
    WEEKLY = "weekly"


class Priority(enum.StrEnum):
    NORMAL = "normal"
    BREAKING = "breaking"


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class DatePrecision(enum.StrEnum):
    DAY = "day"
    MONTH = "month"


class DeadlineKind(enum.StrEnum):
    OPENS = "opens"
    CLOSES = "closes"
    EFFECTIVE = "effective"
    ANNOUNCEMENT = "announcement"
    COMPLETE_BY = "complete_by"  # spent, used or finished by then: not an application closing


class SendKind(enum.StrEnum):
    ALERT = "alert"
    DIGEST = "digest"
    REMINDER = "reminder"
    ANNOUNCEMENT = "announcement"
    # A member's own emails (confirm, welcome, manage link, address change): newsletter.member_mail
    MEMBER_MAIL = "member-mail"


class SendStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"
    MISSED = "missed"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"


class SuppressionReason(enum.StrEnum):
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    MANUAL = "manual"
    SOFT_BOUNCE = "soft_bounce"  # too many soft bounces (SOFT_BOUNCE_LIMIT in _DAYS)


class InboundKind(enum.StrEnum):
    """What a message that came back (or a provider's event) was found to be."""

    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    AUTO_REPLY = "auto_reply"
    UNSUBSCRIBE = "unsubscribe"
    UNKNOWN = "unknown"


class ConsentSource(enum.StrEnum):
    """Where a change to a member's choices came from (the consent record's `source`)."""

    SUBSCRIBE_FORM = "subscribe-form"
    CONFIRM = "confirm"
    MANAGE_PAGE = "manage-page"
    ONE_CLICK = "one-click"
    MAILTO = "mailto"
    COMPLAINT = "complaint"
    BOUNCE = "bounce"
    IMPORT = "import"
    API = "api"
    CONSOLE = "console"


class ConsentField(enum.StrEnum):
    """What a consent event changed: one topic's subscription, or the member's status, pause or
    address."""

    SUBSCRIPTION = "subscription"
    STATUS = "status"
    PAUSE = "pause"
    EMAIL = "email"


class StaffRole(enum.StrEnum):
    ADMIN = "admin"
    COMMS = "comms"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# Trigram indexes for member search, on PostgreSQL only (migration 0025): the models do not
# describe them, so alembic's comparison with the database leaves them out.
SEARCH_INDEXES = ("ix_member_email_trgm", "ix_member_name_trgm")


def compared_by_alembic(obj: object, name: str | None, type_: str, *_: object) -> bool:
    """alembic's include_object: everything but SEARCH_INDEXES."""
    return not (type_ == "index" and name in SEARCH_INDEXES)


class Member(Base):
    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[MemberStatus] = mapped_column(_enum(MemberStatus), default=MemberStatus.PENDING)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the member left the whole list by their own action (consent.MEMBER_OWN_SOURCES):
    # no import, API call or bulk edit makes them active again; only the member can.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opted_out_source: Mapped[ConsentSource | None] = mapped_column(
        _enum(ConsentSource, "opted_out_source")
    )
    # Where the member's consent to be emailed comes from ("confirm", "association membership
    # terms", ...) and when it was given: set when they become active (consent.set_status).
    consent_basis: Mapped[str] = mapped_column(String(300), default="", server_default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The end of a pause (None: until the member resumes); beat resumes ended pauses.
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # In the member's private calendar feed link: raising it revokes the old link alone.
    calendar_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # When the member wants no email (ADR 0021): their digests due on a Saturday or Sunday wait
    # for Monday; their daily digests pause in their region's school holidays.
    no_weekend_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pause_in_holidays: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    school_region: Mapped[str] = mapped_column(
        String(50), default=DEFAULT_REGION, server_default=DEFAULT_REGION
    )

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="member", cascade="all, delete-orphan"
    )


class Topic(Base):
    __tablename__ = "topic"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rules: Mapped[list[TopicRule]] = relationship(
        back_populates="topic", cascade="all, delete-orphan"
    )


class TopicRule(Base):
    """A weighted phrase that counts as evidence an article is about a topic."""

    __tablename__ = "topic_rule"
    __table_args__ = (UniqueConstraint("topic_id", "phrase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id", ondelete="CASCADE"))
    phrase: Mapped[str] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float, default=1.0)

    topic: Mapped[Topic] = relationship(back_populates="rules")


class Subscription(Base):
    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("member_id", "topic_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id", ondelete="CASCADE"), index=True)
    frequency: Mapped[Frequency] = mapped_column(_enum(Frequency))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    member: Mapped[Member] = relationship(back_populates="subscriptions")
    topic: Mapped[Topic] = relationship()


class MemberRole(Base):
    """A role members choose when they subscribe (SENCO, phase leader...), with the topics
    and frequencies admins chose as its defaults."""

    __tablename__ = "member_role"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    defaults: Mapped[list[RoleDefault]] = relationship(
        back_populates="role", cascade="all, delete-orphan"
    )


class RoleDefault(Base):
    """One topic a role starts with, and how often."""

    __tablename__ = "role_default"

    role_id: Mapped[int] = mapped_column(
        ForeignKey("member_role.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topic.id", ondelete="CASCADE"), primary_key=True
    )
    frequency: Mapped[Frequency] = mapped_column(_enum(Frequency))

    role: Mapped[MemberRole] = relationship(back_populates="defaults")
    topic: Mapped[Topic] = relationship()


class OptOut(Base):
    """A topic the member left by their own action; only the member (or an admin, one member
    at a time with a written reason) can turn it back on."""

    __tablename__ = "opt_out"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topic.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[ConsentSource] = mapped_column(_enum(ConsentSource))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    member: Mapped[Member] = relationship()


class ConsentEvent(Base):
    """One change to a member's subscriptions, status, pause or address: the consent record.

    For SUBSCRIPTION, `topic_id` names the topic and old/new are frequencies ("" = not
    subscribed); for STATUS they are MemberStatus values; for PAUSE "" or "paused" (or the
    paused-until time); for EMAIL the addresses. `actor` is "staff:EMAIL" for a staff member,
    "token:NAME" for an API token, "cli:USER", "member" or "system".
    """

    __tablename__ = "consent_event"
    __table_args__ = (Index("ix_consent_event_member_at", "member_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    field: Mapped[ConsentField] = mapped_column(_enum(ConsentField))
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topic.id", ondelete="SET NULL"))
    old_value: Mapped[str] = mapped_column(String(320), default="")
    new_value: Mapped[str] = mapped_column(String(320), default="")
    source: Mapped[ConsentSource] = mapped_column(_enum(ConsentSource))
    actor: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Lets a new member's first events be added before the member has an id (no extra flush).
    member: Mapped[Member] = relationship()


class DigestWatermark(Base):
    """Up to when a member has had their digest of one frequency (nothing twice)."""

    __tablename__ = "digest_watermark"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    frequency: Mapped[Frequency] = mapped_column(_enum(Frequency), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime)


class Article(Base):
    __tablename__ = "article"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(1000), default="")
    first_published: Mapped[date | None] = mapped_column(Date)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    priority: Mapped[Priority] = mapped_column(_enum(Priority), default=Priority.NORMAL)
    suggested_priority: Mapped[Priority] = mapped_column(
        _enum(Priority, "suggested_priority"), default=Priority.NORMAL
    )
    priority_reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ArticleStatus] = mapped_column(_enum(ArticleStatus), default=ArticleStatus.DRAFT)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The file as imported: stored page captures' site chrome teaches how to clean new ones.
    source_format: Mapped[str] = mapped_column(String(20), default="", server_default="")
    raw_text: Mapped[str] = mapped_column(Text, default="", server_default="")

    topics: Mapped[list[ArticleTopic]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="ArticleTopic.rank"
    )
    deadlines: Mapped[list[Deadline]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="Deadline.date"
    )

    @validates("body_html")
    def _clean_once(self, _key: str, html: str) -> str:
        # Cleaned when written, whoever writes it, so that pages can show it as stored.
        # Imported here: commands that only read (sends show) never load the cleaner.
        from newsletter.articles.sanitise import sanitise

        return sanitise(html) if html else html


class ArticleTopic(Base):
    """A topic's score for an article, the evidence behind it, and whether it is assigned."""

    __tablename__ = "article_topic"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topic.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(Float, default=0.0)
    rank: Mapped[int] = mapped_column(Integer, default=0)
    assigned: Mapped[bool] = mapped_column(Boolean, default=False)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)

    article: Mapped[Article] = relationship(back_populates="topics")
    topic: Mapped[Topic] = relationship()


class Deadline(Base):
    __tablename__ = "deadline"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[date] = mapped_column(Date)
    precision: Mapped[DatePrecision] = mapped_column(_enum(DatePrecision))
    kind: Mapped[DeadlineKind] = mapped_column(_enum(DeadlineKind))
    text: Mapped[str] = mapped_column(Text, default="")

    article: Mapped[Article] = relationship(back_populates="deadlines")


class Send(Base):
    """One email campaign: an alert, a digest run, a reminder or a staff announcement."""

    __tablename__ = "send"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[SendKind] = mapped_column(_enum(SendKind))
    status: Mapped[SendStatus] = mapped_column(_enum(SendStatus), default=SendStatus.SCHEDULED)
    # Idempotency key: "alert:article:7", "digest:weekly:2026-W47", "reminder:3:7"...
    # A second publish or digest run finds the existing row instead of making a new send.
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    subject: Mapped[str] = mapped_column(String(500), default="")
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("article.id", ondelete="SET NULL"))
    deadline_id: Mapped[int | None] = mapped_column(ForeignKey("deadline.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(320), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Held for the send window: scheduled_at is when the window next opened (ADR 0021).
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # While a streamed fan-out (a digest run, an alert) is still writing this send's rows:
    # when it last committed a chunk of them; NULL once every row is written, and for sends
    # written whole. A send cannot finish before; a stale one is resumed (ADR 0023).
    fanout_progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SchoolTerm(Base):
    """One term (or half term) of a region's school year, both days included: the school
    holidays are the days between one term and the next."""

    __tablename__ = "school_term"
    __table_args__ = (UniqueConstraint("region", "starts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region: Mapped[str] = mapped_column(String(50), index=True)  # "england", "wales", "kent"
    name: Mapped[str] = mapped_column(String(200), default="")
    starts: Mapped[date] = mapped_column(Date)
    ends: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Share of a `delivery` page filled by the fan-out's inserts; the rest is room for the claim's
# and the result's new row versions on the same page (ADR 0024, migration 0024).
LEDGER_FILLFACTOR = 50


class Delivery(Base):
    """One member's copy of one send: the ledger row that makes 'exactly once' checkable."""

    __tablename__ = "delivery"
    # No index holds a column that a claim or a result changes (status, claimed_at, attempts,
    # the result's columns), and each page is filled to LEDGER_FILLFACTOR only: PostgreSQL then
    # writes both updates of a row on its own page without new index entries (HOT updates;
    # ADR 0024). A send's rows in any status are found through (send_id, member_id).
    __table_args__ = (UniqueConstraint("send_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("send.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A deferred row: when it may be tried again. A pending row: when it was queued (fan-out,
    # a retry, the sweep), which the sweep reads as `queued_at` to find lost broker messages.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queued_at = synonym("next_attempt_at")  # the same column, for pending rows
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What this member's copy holds when it differs per member (a digest's article ids).
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# A DDL event, not the table's `postgresql_with`: that keyword makes SQLAlchemy load
# PostgreSQL's dialect wherever the models are imported, SQLite commands too (CLI start time).
event.listen(
    Delivery.__table__,
    "after_create",
    DDL(f"ALTER TABLE delivery SET (fillfactor = {LEDGER_FILLFACTOR})").execute_if(
        dialect="postgresql"
    ),
)


class NoticeSend(Base):
    """A send whose emails carry an "I've read this" button: an urgent notice (round 0) or one
    of its chases (round 1, 2...). (notice, round) is unique, so a round is chased once."""

    __tablename__ = "notice_send"
    __table_args__ = (UniqueConstraint("notice_id", "round"),)

    send_id: Mapped[int] = mapped_column(
        ForeignKey("send.id", ondelete="CASCADE"), primary_key=True
    )
    notice_id: Mapped[int] = mapped_column(ForeignKey("send.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer, default=0)
    chase_days: Mapped[int] = mapped_column(Integer)
    chase_limit: Mapped[int] = mapped_column(Integer)


class Acknowledgement(Base):
    """A member pressed "I've read this" on an urgent notice (once: (notice, member) is unique)."""

    __tablename__ = "acknowledgement"
    __table_args__ = (UniqueConstraint("notice_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("send.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(_enum(SuppressionReason))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The bounce or complaint that put the address here, kept as evidence.
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_event.id", ondelete="SET NULL")
    )


class InboundEvent(Base):
    """One recipient of one message that came back (a bounce report, a complaint, a mailto
    unsubscribe, an auto-reply, something unrecognised), or of one provider webhook event:
    what it was, whom it was about, what the service did, and the report as evidence.

    (message_key, position) is unique: a message processed again (a re-poll, a replay, a
    provider retrying its webhook) is recognised and changes nothing.
    """

    __tablename__ = "inbound_event"
    __table_args__ = (
        UniqueConstraint("message_key", "position"),
        Index("ix_inbound_event_member_at", "member_id", "created_at"),
        Index("ix_inbound_event_send_kind", "send_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_key: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(20))  # smtp, imap, file, ses, mailgun
    kind: Mapped[InboundKind] = mapped_column(_enum(InboundKind))
    cause: Mapped[str] = mapped_column(String(40), default="")  # user-unknown, policy, ...
    email: Mapped[str] = mapped_column(String(320), default="")
    domain: Mapped[str] = mapped_column(String(255), default="", index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    send_id: Mapped[int | None] = mapped_column(ForeignKey("send.id", ondelete="SET NULL"))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("delivery.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="")  # RFC 3463 code, e.g. 5.1.1
    report_action: Mapped[str] = mapped_column(String(20), default="")  # failed, delayed...
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")  # why it was filed as it was
    action: Mapped[str] = mapped_column(String(200), default="")  # what the service did
    sender: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    evidence: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class StaffUser(Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffSession(Base):
    """A signed-in browser: the cookie holds a random token, this row its hash. Deleting the
    row signs that browser out, wherever the cookie has been copied to."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PasswordReset(Base):
    """One emailed password-reset link; its token is this row's id, signed, so neither the
    database nor the queue holds anything that resets a password."""

    __tablename__ = "password_reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Every API scope; tokens made before scopes existed keep all of them.
ALL_API_SCOPES = "articles:read articles:write members:read members:write sends:read sends:write"


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scopes: Mapped[str] = mapped_column(String(200), server_default=ALL_API_SCOPES)  # spaced
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Job(Base):
    """Long work started from the console (a CSV import, a large article), done by a worker
    while the page shows its progress."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.QUEUED)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[str] = mapped_column(Text, default="")  # the upload, cleared when done
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ThrottleHit(Base):
    """One counted attempt (a failed login, a confirmation email) for rate limits across workers."""

    __tablename__ = "throttle_hit"
    __table_args__ = (Index("ix_throttle_hit_bucket_at", "bucket", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ProcessKind(enum.StrEnum):
    WORKER = "worker"
    BEAT = "beat"


class ProcessHeartbeat(Base):
    """A worker or beat that is running, or was: each writes its row every HEARTBEAT_SECONDS,
    so `newsletter status`, the dashboard and /metrics see every process on every host."""

    __tablename__ = "process_heartbeat"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # worker@host-pid
    kind: Mapped[ProcessKind] = mapped_column(_enum(ProcessKind))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IncidentKind(enum.StrEnum):
    STUCK_SEND = "stuck_send"
    MISSED_SEND = "missed_send"
    DIGEST_NOT_RUN = "digest_not_run"
    BACKEND_REFUSING = "backend_refusing"
    NO_WORKER = "no_worker"


class Incident(Base):
    """Something wrong that admins are told about once (by email) and see until it is over.

    `key` names the occurrence ("stuck_send:42", "digest_not_run:daily:2026-11-30"): the watch
    finds it again on every pass and the row is not duplicated. It is resolved when the watch no
    longer finds it; dismissed by staff, it stays out of sight until it ends.
    """

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[IncidentKind] = mapped_column(_enum(IncidentKind))
    summary: Mapped[str] = mapped_column(String(500))
    detail: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dismissed_by: Mapped[str] = mapped_column(String(320), default="")
    # Telling the admins: claimed by one watcher at a time (two beats may run), then done.
    notify_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notify_error: Mapped[str] = mapped_column(Text, default="")
