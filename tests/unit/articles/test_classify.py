"""Topic tagging: weighted phrases, title over body, case rules for acronyms, evidence."""

from __future__ import annotations

from newsletter.articles.classify import (
    BODY_HITS_CAP,
    TITLE_FACTOR,
    Rule,
    assigned_topics,
    classify,
    count,
)

RULES = [
    Rule("assessment", "GCSE", 3.0),
    Rule("assessment", "A level", 3.0),
    Rule("assessment", "exam", 2.0),
    Rule("funding", "funding", 2.0),
    Rule("funding", "£", 1.5),
    Rule("npq", "NPQ", 4.0),
]


def test_acronyms_match_with_their_case_and_plurals_match() -> None:
    assert count("GCSE", "GCSEs and a GCSE, not gcse") == 2
    assert count("A level", "A levels, A-level and A level; not a level playing field") == 3
    assert count("NPQ", "NPQs and NPQ's but not NPQML") == 2
    assert count("exam", "Exams, exam and EXAM but not examine") == 3
    assert count("£", "£10 and £20") == 2


def test_title_matches_weigh_more_than_body_matches() -> None:
    in_title = classify("GCSE results", "Nothing else.", RULES)
    in_body = classify("Results", "GCSE news.", RULES)
    assert in_title[0].score == 3.0 * TITLE_FACTOR
    assert in_body[0].score == 3.0


def test_ranked_with_evidence_of_what_matched_and_how_often() -> None:
    scores = classify("Funding for NPQs", "The NPQ is funded. NPQ funding covers £500.", RULES)
    assert [s.topic for s in scores] == ["npq", "funding"]
    npq = scores[0]
    assert npq.score == 4.0 * (TITLE_FACTOR * 1 + 2)
    assert npq.evidence[0].as_dict() == {
        "phrase": "NPQ",
        "weight": 4.0,
        "title": 1,
        "body": 2,
        "points": 20.0,
    }
    funding = {e.phrase: (e.title_hits, e.body_hits) for e in scores[1].evidence}
    assert funding == {"funding": (1, 1), "£": (0, 1)}


def test_one_repeated_word_cannot_run_away_with_the_score() -> None:
    scores = classify("News", "exam " * 50, RULES)
    assert scores[0].score == 2.0 * BODY_HITS_CAP


def test_assigned_needs_the_threshold_and_a_fair_share_of_the_best() -> None:
    scores = classify("NPQ news", "NPQ NPQ NPQ. Some funding and £1.", RULES)
    assert [s.topic for s in scores] == ["npq", "funding"]
    assert assigned_topics(scores, threshold=3.0) == ["npq"]  # funding is a stray mention
    assert assigned_topics(scores, threshold=100.0) == []
    assert assigned_topics([]) == []


def test_no_rules_or_no_matches_give_no_topics() -> None:
    assert classify("Title", "Body", []) == []
    assert classify("Title", "Body", RULES) == []
