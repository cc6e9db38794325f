"""`newsletter topics ...`: the topics members subscribe to."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli.common import console, fail, open_session, print_json
from newsletter.topics import TopicError, add_topic, list_topics

app = typer.Typer(help="List and add topics.", no_args_is_help=True)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List the topics."""
    with open_session() as session:
        topics = [
            {"slug": t.slug, "name": t.name, "description": t.description}
            for t in list_topics(session)
        ]
    if as_json:
        print_json(topics)
        return
    table = Table("slug", "name", "description")
    for topic in topics:
        table.add_row(topic["slug"], topic["name"], topic["description"])
    console.print(table)


@app.command()
def add(
    slug: str,
    name: str = typer.Option(..., "--name", help="The name members see."),
    description: str = typer.Option("", "--description"),
) -> None:
    """Add a topic members can subscribe to."""
    with open_session() as session:
        try:
            add_topic(session, slug, name, description)
        except TopicError as exc:
            fail(str(exc))
    console.print(f"Added topic [bold]{slug}[/].")
