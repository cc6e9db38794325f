"""The hidden preheader shows words, never the Markdown or HTML they were written in."""

from __future__ import annotations

import email
import email.policy

from newsletter.rendering import Recipient, prepare_announcement


def test_announcement_preheader_is_plain_words() -> None:
    prepared = prepare_announcement(
        "Spring conference",
        "Join our **spring conference** on _4 March_. [Book](http://localhost/b)",
        send_id=1,
    )
    data = prepared.personalise(Recipient(1, "ann@example.com", "Ann", 1)).data
    message = email.message_from_bytes(data, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    start = html.index("display:none")
    preheader = html[html.index(">", start) + 1 : html.index("<", start)]
    assert preheader.startswith("Join our spring conference on 4 March. Book")
    assert "**" not in preheader and "_4" not in preheader
