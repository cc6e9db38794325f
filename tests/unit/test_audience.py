"""Who gets what: alert audiences, eligibility, and what each member's digest holds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from newsletter.audience import (
    Audience,
    DigestArticle,
    History,
    alert_audience,
    announcement_audience,
    claim_verdict,
    digest_content,
    digest_groups,
    digest_starts,
    groups_of,
    history_of,
    holds,
    may_receive,
    merge_histories,
    variant_key,
    without_articles,
)
from newsletter.models import DeliveryStatus, Frequency, MemberStatus, Priority

T0 = datetime(2026, 11, 16, 7, tzinfo=UTC)
FUNDING, NPQ, ITT = 1, 2, 3


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_breaking_reaches_every_frequency_normal_only_immediate() -> None:
    breaking = alert_audience(Priority.BREAKING, [NPQ, FUNDING, FUNDING])
    normal = alert_audience(Priority.NORMAL, [FUNDING])
    assert breaking == Audience(topic_ids=(FUNDING, NPQ), frequencies=None)
    assert normal == Audience(topic_ids=(FUNDING,), frequencies=(Frequency.IMMEDIATE,))


def test_audience_survives_the_json_round_trip() -> None:
    audience = announcement_audience([ITT, FUNDING], [" SENCO ", "", "phase leader"])
    assert audience.roles == ("SENCO", "phase leader")
    assert Audience.from_json(audience.to_json()) == audience
    normal = alert_audience(Priority.NORMAL, [FUNDING])
    assert Audience.from_json(normal.to_json()) == normal


def test_only_active_unpaused_unsuppressed_members_receive() -> None:
    assert may_receive(MemberStatus.ACTIVE, paused=False, suppressed=False)
    for status in MemberStatus:
        if status != MemberStatus.ACTIVE:
            assert not may_receive(status, paused=False, suppressed=False)
    assert not may_receive(MemberStatus.ACTIVE, paused=True, suppressed=False)
    assert not may_receive(MemberStatus.ACTIVE, paused=False, suppressed=True)


def test_claim_verdict_cancels_leavers_and_marks_suppressed() -> None:
    assert claim_verdict(MemberStatus.ACTIVE, False, False, True) == DeliveryStatus.SENDING
    assert claim_verdict(MemberStatus.UNSUBSCRIBED, False, False, True) == DeliveryStatus.CANCELLED
    assert claim_verdict(MemberStatus.ACTIVE, False, False, False) == DeliveryStatus.CANCELLED
    assert claim_verdict(MemberStatus.ACTIVE, False, True, True) == DeliveryStatus.SUPPRESSED


ARTICLES = [
    DigestArticle(10, at(1), (FUNDING,)),
    DigestArticle(11, at(2), (NPQ, FUNDING)),
    DigestArticle(12, at(3), (ITT,)),
    DigestArticle(13, at(4), (FUNDING,)),
    DigestArticle(14, at(200), (FUNDING,)),  # after the run
]


def groups(**kwargs: object) -> list[tuple[int, list[int]]]:
    options: dict[str, object] = {
        "watermark": T0,
        "until": at(100),
        "history": History(),
        "topic_order": [FUNDING, ITT, NPQ],
    }
    options.update(kwargs)
    subscribed = options.pop("subscribed", {FUNDING: T0, NPQ: T0})
    return digest_groups(subscribed, ARTICLES, **options)  # type: ignore[arg-type]


def test_digest_holds_each_article_once_under_its_first_topic() -> None:
    assert groups() == [(FUNDING, [10, 13]), (NPQ, [11])]


def test_digest_skips_articles_already_alerted_and_before_the_watermark() -> None:
    assert groups(history=History(had=frozenset({10}))) == [(FUNDING, [13]), (NPQ, [11])]
    assert groups(watermark=at(2)) == [(FUNDING, [13])]


def test_first_digest_starts_when_the_member_subscribed_to_each_topic() -> None:
    result = groups(watermark=None, subscribed={FUNDING: at(3.5), ITT: at(0)})
    assert result == [(FUNDING, [13]), (ITT, [12])]


def test_nothing_new_means_an_empty_digest() -> None:
    assert groups(watermark=at(100)) == []
    assert groups(subscribed={}) == []


def test_members_alike_in_digest_starts_get_the_same_digest() -> None:
    moments = [T0, at(1.5), at(3.5)]
    inputs = [
        (dict(zip(topics, times, strict=True)), watermark)
        for topics in [(FUNDING,), (FUNDING, NPQ), (ITT, NPQ)]
        for times in itertools.product(moments, repeat=len(topics))
        for watermark in [None, *moments]
    ]
    for (a, mark_a), (b, mark_b) in itertools.combinations(inputs, 2):
        if digest_starts(a, mark_a) == digest_starts(b, mark_b):
            assert groups(subscribed=a, watermark=mark_a) == groups(subscribed=b, watermark=mark_b)
    # With a watermark, when they subscribed no longer matters; without one it does.
    assert digest_starts({FUNDING: T0}, at(2)) == digest_starts({FUNDING: at(1)}, at(2))
    assert digest_starts({FUNDING: T0}, None) != digest_starts({FUNDING: at(1)}, None)


def test_same_content_same_variant_and_content_round_trips() -> None:
    content = digest_content([(FUNDING, [10, 13]), (NPQ, [11])])
    assert groups_of(content) == [(FUNDING, [10, 13]), (NPQ, [11])]
    again = digest_content([(FUNDING, [10, 13]), (NPQ, [11])])
    assert variant_key(content) == variant_key(again)
    assert variant_key(content) != variant_key(digest_content([(FUNDING, [10])]))


# One article once -------------------------------------------------------------------------

LOOK_BACK = timedelta(hours=4)


def test_a_row_on_its_way_holds_its_articles_a_failed_one_gives_them_back() -> None:
    assert {s for s in DeliveryStatus if holds(s)} == {
        DeliveryStatus.PENDING,
        DeliveryStatus.SENDING,
        DeliveryStatus.DEFERRED,
        DeliveryStatus.SENT,
    }
    found = history_of(
        [
            (1, False, (10, 11)),  # a digest that failed...
            (1, True, (11,)),  # ...but 11 also came in an alert
            (2, True, (10,)),
            (3, False, (10, 11)),
            (4, True, (11,)),
            (4, False, (11, 10)),
        ]
    )
    assert found[1] == History(had=frozenset({11}), given_back=frozenset({10}))
    assert found[2] == History(had=frozenset({10}))
    assert found[3] == History(given_back=frozenset({10, 11}))
    assert found[4] == found[1]
    assert merge_histories(found[3], found[2]) == History(frozenset({10}), frozenset({11}))


def test_an_article_had_in_any_email_stays_out_of_every_digest() -> None:
    had = History(had=frozenset({11, 13}))
    assert groups(history=had) == [(FUNDING, [10])]
    assert groups(history=had, watermark=None) == [(FUNDING, [10])]


def test_a_digest_looks_back_only_for_what_no_email_carried() -> None:
    # Watermark at 3 h: 10 and 11 lie behind it, 11 within the look-back.
    late = groups(watermark=at(3), look_back=timedelta(hours=1.5))
    assert late == [(FUNDING, [13]), (NPQ, [11])]
    assert groups(
        watermark=at(3), look_back=timedelta(hours=1.5), history=History(frozenset({11}))
    ) == [(FUNDING, [13])]
    # Not from before they subscribed to the topic, look-back or not.
    assert groups(
        watermark=at(3), look_back=LOOK_BACK, subscribed={FUNDING: at(0.5), NPQ: at(2.5)}
    ) == [(FUNDING, [10, 13])]


def test_what_a_failed_email_gave_back_comes_from_before_the_look_back() -> None:
    back = History(given_back=frozenset({10}))
    assert groups(watermark=at(50), history=back) == [(FUNDING, [10])]
    assert groups(watermark=at(50), history=back, subscribed={FUNDING: at(2)}) == []
    assert without_articles([(FUNDING, [10, 13]), (NPQ, [11])], {11, 13}) == [(FUNDING, [10])]


def test_digest_starts_cover_what_the_look_back_reads() -> None:
    moments = [T0, at(1.5), at(2.5), at(3.5)]
    inputs = [
        (dict(zip(topics, times, strict=True)), watermark)
        for topics in [(FUNDING,), (FUNDING, NPQ)]
        for times in itertools.product(moments, repeat=len(topics))
        for watermark in [None, *moments]
    ]
    for (a, mark_a), (b, mark_b) in itertools.combinations(inputs, 2):
        if digest_starts(a, mark_a, LOOK_BACK) == digest_starts(b, mark_b, LOOK_BACK):
            assert groups(subscribed=a, watermark=mark_a, look_back=LOOK_BACK) == groups(
                subscribed=b, watermark=mark_b, look_back=LOOK_BACK
            )
