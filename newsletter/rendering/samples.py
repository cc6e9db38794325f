"""Realistic sample content for previews, the benchmark and tests, when the database has none."""

from __future__ import annotations

from datetime import date

from newsletter.rendering.views import ArticleView, DeadlineView, Recipient, TopicGroup, article_url

SAMPLE_TOPIC_CHOICES = {"NPQ": "immediate", "Funding": "weekly", "Assessment": "daily"}
# A fictional member: no member has id 0 or link version 0, so the links in a preview lead to
# the "link not valid" page, never to a real member's choices.
SAMPLE_RECIPIENT = Recipient(
    member_id=0,
    email="sam.sample@example.com",
    name="Sam Sample",
    token_version=0,
    follows=tuple(SAMPLE_TOPIC_CHOICES.items()),
)

_ARTICLES = [
    # (topic, title, summary, priority, deadline kind, deadline date)
    (
        "npq",
        "Revamped National Professional Qualifications open for applications",
        "The government has re-launched the NPQs, including a new qualification for middle "
        "leaders. Scholarship funding covers the course fees for most schools.",
        "breaking",
        "closes",
        date(2026, 3, 27),
    ),
    (
        "npq",
        "NPQ content and assessment framework: what providers must cover",
        "The framework sets out the knowledge, skills and behaviours every provider's "
        "course must cover, and the tasks participants are assessed on.",
        "normal",
        None,
        None,
    ),
    (
        "funding",
        "Pupil premium allocations for 2026 to 2027 published",
        "Allocations rise by 1.7% per eligible pupil. Schools should check their "
        "provisional figures before the census correction window closes.",
        "normal",
        "closes",
        date(2026, 6, 30),
    ),
    (
        "funding",
        "Teachers' pay additional grant: how to claim",
        "",
        "normal",
        "opens",
        date(2026, 9, 1),
    ),
    (
        "assessment",
        "Key stage 2 moderation: changes for this summer",
        "Local authorities will moderate a quarter of schools, with new guidance on "
        "evidence for writing at greater depth.",
        "normal",
        "effective",
        date(2026, 5, 11),
    ),
    (
        "assessment",
        "Multiplication tables check: results in the school performance tables",
        "Results will not be published at school level, but will be available to "
        "Ofsted inspectors from the autumn.",
        "normal",
        None,
        None,
    ),
    (
        "itt",
        "Initial teacher training: mentor funding extended",
        "Schools that host trainees can claim funding for mentors' time for another year.",
        "normal",
        "closes",
        date(2026, 7, 17),
    ),
    (
        "careers",
        "Careers guidance: the updated Gatsby benchmarks explained",
        "The eight benchmarks have been refreshed for the first time since 2014, with "
        "more emphasis on pupils with special educational needs.",
        "normal",
        "announcement",
        date(2026, 4, 1),
    ),
]

TOPIC_NAMES = {
    "npq": "NPQ",
    "funding": "Funding",
    "assessment": "Assessment",
    "itt": "ITT",
    "careers": "Careers",
}

SAMPLE_BODY_HTML = (
    "<p>The National Professional Qualifications (NPQs) now include:</p>"
    "<ul><li><strong>NPQML</strong>, for middle leaders responsible for a team</li>"
    "<li><strong>NPQSL</strong>, for senior leaders with cross-school responsibilities</li>"
    "<li><strong>NPQH</strong>, for headship</li></ul>"
    "<p>Read the full framework at https://www.gov.uk/government/publications/"
    "national-professional-qualifications-frameworks-from-september-2021.</p>"
)


def sample_articles() -> list[ArticleView]:
    articles = []
    for number, (topic, title, summary, priority, kind, when) in enumerate(_ARTICLES, 1):
        deadlines = [DeadlineView(when, "day", kind, "")] if kind and when else []
        articles.append(
            ArticleView(
                id=number,
                title=title,
                summary=summary,
                body_html=SAMPLE_BODY_HTML if number == 1 else "",
                url=article_url(number),
                topics=[TOPIC_NAMES[topic]],
                deadlines=deadlines,
                first_published=date(2026, 3, 2),
                priority=priority,
            )
        )
    return articles


def sample_groups(articles: list[ArticleView] | None = None) -> list[TopicGroup]:
    """The sample articles grouped by their first topic, in topic order."""
    groups: dict[str, list[ArticleView]] = {}
    for article in articles if articles is not None else sample_articles():
        groups.setdefault(article.topics[0] if article.topics else "News", []).append(article)
    slugs = {name: slug for slug, name in TOPIC_NAMES.items()}
    return [
        TopicGroup(slug=slugs.get(name, name.lower()), name=name, articles=items)
        for name, items in groups.items()
    ]


SAMPLE_ANNOUNCEMENT_SUBJECT = "Join us at the middle leaders' conference"
SAMPLE_ANNOUNCEMENT_MARKDOWN = """\
Our **middle leaders' conference** returns on *Saturday 20 June 2026* in Birmingham.

This year's sessions:

* Leading a department through curriculum change
* SENCO workload: what the evidence says
* Preparing for an NPQ

[Book your free place](https://example.org/conference) before 1 May.
"""
