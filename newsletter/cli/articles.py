"""`newsletter articles ...`: import, list, show, publish and withdraw articles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from newsletter.articles.files import ArticleFileError, expand_paths, read_source
from newsletter.articles.lookup import article_with_details
from newsletter.articles.parse import CAPTURE, HTML, MARKDOWN, PLAIN_TEXT, html_blocks
from newsletter.articles.store import (
    ArticleError,
    describe,
    describe_full,
    dispatch_failures,
    get_article,
    import_article,
    list_articles,
    publish_article,
    set_priority,
    set_topics,
    withdraw_article,
)
from newsletter.cli.common import console, error, fail, open_session, print_json, warn
from newsletter.cli.queueing import after_queueing, inline_option, queueing
from newsletter.models import Priority
from newsletter.topics import topics_by_slug

app = typer.Typer(help="Import, list, show, publish and withdraw articles.", no_args_is_help=True)

READ_AS = {
    CAPTURE: "a page capture",
    MARKDOWN: "Markdown",
    HTML: "HTML",
    PLAIN_TEXT: "plain text (its first line is the title)",
}

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")


def _check_topics(slugs: list[str]) -> list[str]:
    slugs = list(dict.fromkeys(s.strip().lower() for s in slugs if s.strip()))
    with open_session() as session:
        known = topics_by_slug(session)
    unknown = [s for s in slugs if s not in known]
    if unknown:
        fail(f"unknown topic {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return slugs


@app.command("import")
def import_(
    paths: list[Path] = typer.Argument(..., help="Files or folders of articles."),
    publish: bool = typer.Option(False, "--publish", help="Publish each article imported."),
    breaking: bool = typer.Option(False, "--breaking", help="Mark the articles breaking."),
    topic: list[str] = typer.Option(
        [], "--topic", help="Topic slug, repeatable: replaces the automatic topics."
    ),
    as_json: bool = JSON_OPTION,
    inline: bool = inline_option(),
) -> None:
    """Import page captures (.txt), Markdown with front matter, HTML or plain text; the same
    content twice is one article. A bad file is reported and skipped; the others still import."""
    topics = _check_topics(topic)
    files = expand_paths(paths)
    if not files:
        fail(f"no files found in {', '.join(str(p) for p in paths)}")
    with queueing(inline and publish):
        results = [_import_one(path, topics, breaking, publish, as_json) for path in files]
    if as_json:
        print_json(results)
    published = [r["article"]["id"] for r in results if r.get("published")]
    if published:
        after_queueing(_alert_sends(published, inline), inline=inline)
    if any(r["status"] == "error" or r.get("error") for r in results):
        raise typer.Exit(1)


def _import_one(
    path: Path, topics: list[str], breaking: bool, publish: bool, quiet: bool
) -> dict[str, Any]:
    result: dict[str, Any] = {"file": str(path)}
    try:
        source = read_source(path)
        for note in source.notes:
            warn(f"{path}: {note}")
        result["warnings"] = list(source.notes)
        with open_session() as session:
            outcome = import_article(
                session,
                source.text,
                filename=path.name,
                source=str(path),
                topics=topics or None,
                breaking=breaking,
                publish=publish,
            )
            for note in outcome.notes:
                warn(f"{path}: {note}")
            result["warnings"] += list(outcome.notes)
            result.update(
                status="imported" if outcome.created else "already imported",
                format=outcome.article.source_format,
                published=outcome.published,
                article=describe(outcome.article),
            )
    except (ArticleFileError, ArticleError) as exc:
        error(f"{path}: {exc}")
        return {**result, "status": "error", "error": str(exc)}
    for failure in dispatch_failures(session):
        error(f"{path}: published, but {failure}")
        result["error"] = failure
    if not quiet:
        _say_imported(path, result)
    return result


def _say_imported(path: Path, result: dict[str, Any]) -> None:
    article = result["article"]
    name = f"article {article['id']} ({article['title']!r})"
    if result["status"] == "already imported":
        console.print(f"{path}: already imported as {name}.", highlight=False)
    else:
        topics = ", ".join(article["topics"]) or "none"
        console.print(
            f"{path}: imported {name}, read as {READ_AS.get(result['format'], result['format'])}:"
            f" topics {topics}; {len(article['deadlines'])} dates; priority {article['priority']}.",
            highlight=False,
        )
        if not article["topics"]:
            warn(f"{path}: no topic scored high enough; set one with `articles topics`")
    if result.get("published"):
        console.print(f"Published article {article['id']}.")


@app.command("list")
def list_(as_json: bool = JSON_OPTION) -> None:
    """List the articles, newest last."""
    with open_session() as session:
        articles = [describe(a) for a in list_articles(session)]
    if as_json:
        print_json(articles)
        return
    table = Table("id", "status", "priority", "first published", "topics", "dates", "title")
    for a in articles:
        table.add_row(
            str(a["id"]),
            a["status"],
            a["priority"],
            a["first_published"] or "",
            ", ".join(a["topics"]),
            str(len(a["deadlines"])),
            a["title"],
        )
    console.print(table)
    console.print(f"{len(articles)} articles")


@app.command()
def show(article_id: int = typer.Argument(..., metavar="ID"), as_json: bool = JSON_OPTION) -> None:
    """One article: its summary, body, topic scores with their evidence, and dates."""
    with open_session() as session:
        found = article_with_details(session, article_id)
        if found is None:
            fail(f"no article {article_id}")
        article = describe_full(found)
    if as_json:
        print_json(article)
        return
    _print_article(article)


def _print_article(a: dict[str, Any]) -> None:
    console.print(f"[bold]{a['title']}[/]  (article {a['id']}, {a['status']})", highlight=False)
    console.print(f"First published: {a['first_published'] or 'unknown'}   Source: {a['source']}")
    reason = f" ({a['priority_reason']})" if a["priority_reason"] else ""
    console.print(f"Priority: {a['priority']}{reason}", highlight=False)
    console.print(f"\n[bold]Summary[/]\n{a['summary']}", highlight=False)
    console.print("\n[bold]Topics[/] (score: evidence)")
    for row in a["topic_scores"]:
        mark = "assigned" + (" by staff" if row["manual"] else "") if row["assigned"] else "-"
        evidence = ", ".join(
            f"{e['phrase']!r} title×{e['title']} body×{e['body']} = {e['points']}"
            for e in row["evidence"]
        )
        console.print(
            f"  {row['topic']:<12} {row['score']:>7.2f}  {mark:<18} {evidence}", highlight=False
        )
    console.print("\n[bold]Dates[/]")
    for d in a["deadlines"]:
        console.print(f"  {d['date']} ({d['precision']}) {d['kind']:<12} {d['text']}")
    if not a["deadlines"]:
        console.print("  none found")
    console.print("\n[bold]Body[/]")
    for _, text in html_blocks(a["body_html"]):
        console.print(f"  {text}", highlight=False)


@app.command()
def publish(
    article_id: int = typer.Argument(..., metavar="ID"), inline: bool = inline_option()
) -> None:
    """Publish an article: subscribers get their alert. Publishing it again sends nobody a
    second copy; it queues (or, with --inline, sends) what its alert has not sent yet."""
    with queueing(inline), open_session() as session:
        try:
            article = get_article(session, article_id)
            first_time = publish_article(session, article_id)
        except ArticleError as exc:
            fail(str(exc))
        untagged = not any(row.assigned for row in article.topics)
    if first_time:
        console.print(f"Published article {article_id}.")
    else:
        done = "sent" if inline else "queued"
        console.print(
            f"Article {article_id} was already published; its alert was {done} again "
            "(to whoever has not had it yet: nobody gets it twice)."
        )
    if untagged:
        warn(f"article {article_id} has no topics, so no member is sent an alert")
        return
    for failure in dispatch_failures(session):
        fail(f"article {article_id} is published, but {failure}")
    after_queueing(_alert_sends([article_id], inline), inline=inline)


def _alert_sends(article_ids: list[int], inline: bool) -> list[int]:
    """The alert sends of these articles, when they exist: at once with --inline; otherwise
    after a worker has fanned them out (until then, nothing to report but the queueing)."""
    from newsletter.delivery.progress import alert_send_id

    if not inline:
        return []
    with open_session() as session:
        found = [alert_send_id(session, article_id) for article_id in article_ids]
    return [send_id for send_id in found if send_id is not None]


@app.command()
def withdraw(article_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Withdraw an article; its sends that have not started are cancelled."""
    with open_session() as session:
        try:
            cancelled = withdraw_article(session, article_id)
        except ArticleError as exc:
            fail(str(exc))
    console.print(
        f"Withdrew article {article_id}; cancelled {cancelled} send(s) that had not started."
    )


@app.command()
def topics(
    article_id: int = typer.Argument(..., metavar="ID"),
    slugs: list[str] = typer.Argument(..., metavar="SLUG...", help="The article's topics."),
) -> None:
    """Set an article's topics by hand, replacing the automatic ones (scores are kept)."""
    with open_session() as session:
        try:
            set_topics(session, article_id, slugs)
        except ArticleError as exc:
            fail(str(exc))
    console.print(f"Article {article_id} topics: {', '.join(slugs)}.")


@app.command()
def priority(
    article_id: int = typer.Argument(..., metavar="ID"),
    choice: Priority = typer.Argument(..., metavar="normal|breaking"),
) -> None:
    """Set an article's priority by hand, overriding the suggestion."""
    with open_session() as session:
        try:
            set_priority(session, article_id, choice)
        except ArticleError as exc:
            fail(str(exc))
    console.print(f"Article {article_id} priority: {choice.value}.")
