"""The expensive step, done once per send and content variant: render, inline, encode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from newsletter.config import get_settings
from newsletter.inbound.verp import addresses
from newsletter.rendering.environment import EmailTemplates, TemplateError, default_templates
from newsletter.rendering.headers import (
    Sender,
    address_line,
    feedback_id_line,
    parse_sender,
    reply_to_line,
    unstructured_line,
)
from newsletter.rendering.inline import inline_css
from newsletter.rendering.personal import Personal, Placeholders
from newsletter.rendering.prepared import PreparedEmail
from newsletter.rendering.signing import load_signer
from newsletter.rendering.skeleton import (
    Attachment,
    build_body,
    content_type_line,
    new_boundary,
)

TEST_MARKER = "[TEST] "


class ListTopic(NamedTuple):
    """The topic an email is filed under by mail clients (its List-Id)."""

    slug: str
    name: str


@dataclass(frozen=True)
class EmailSpec:
    """What to render: the templates of `kind` with `context`, and how to head the message."""

    kind: str
    context: dict[str, Any] = field(default_factory=dict)
    send_id: int | None = None
    # List mail: List-Id, List-Unsubscribe, Precedence: bulk, an unsubscribe link in the footer.
    bulk: bool = True
    auto_submitted: bool = True  # machine-written (RFC 3834), so auto-responders stay quiet
    list_topic: ListTopic | None = None  # a List-Id of the topic's own instead of the list's
    attachments: tuple[Attachment, ...] = ()  # the same for every recipient


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str  # CSS inlined
    template_html: str  # as the template rendered it, before inlining


def render(
    spec: EmailSpec, personal: Personal, templates: EmailTemplates | None = None
) -> Rendered:
    """Subject, text and inlined HTML of an email, for placeholders or for one member."""
    templates = templates or default_templates()
    settings = get_settings()
    sender = parse_sender(settings.FROM_ADDRESS)
    context = {
        **spec.context,
        "kind": spec.kind,
        "bulk": spec.bulk,
        "org_name": sender.name or "the newsletter",
        "postal_address": settings.POSTAL_ADDRESS.strip(),
        "personal": personal,
    }
    parts = templates.render_email(spec.kind, context)
    return Rendered(
        subject=parts.subject,
        text=_ending_in_newline(parts.text),
        html=_ending_in_newline(inline_css(parts.html)),
        template_html=parts.html,
    )


def _ending_in_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def prepare(spec: EmailSpec, templates: EmailTemplates | None = None) -> PreparedEmail:
    """Render, inline and encode `spec` once; raises TemplateError before any email exists."""
    if spec.bulk and spec.send_id is None:
        raise ValueError(f"{spec.kind}: list mail needs a send_id for its unsubscribe links")
    settings = get_settings()
    sender = parse_sender(settings.FROM_ADDRESS)
    signer = load_signer(settings, sender.domain)
    placeholders = Placeholders()
    rendered = render(spec, placeholders.personal, templates)
    _check_placeholders(spec, placeholders, rendered)
    boundary = new_boundary()
    fixed = [address_line("From", sender.name, sender.address)]
    if settings.REPLY_TO:
        fixed.append(reply_to_line(settings.REPLY_TO))
    fixed += [
        b"MIME-Version: 1.0\r\n",
        content_type_line(boundary, spec.attachments),
    ]
    if spec.auto_submitted:
        fixed.append(b"Auto-Submitted: auto-generated\r\n")
    if spec.bulk:
        fixed.append(b"Precedence: bulk\r\n")
        fixed.append(address_line("List-Id", *list_id(sender, spec.list_topic)))
        fixed.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        fixed.append(feedback_id_line(spec.kind, spec.send_id, sender.domain))
    return PreparedEmail(
        kind=spec.kind,
        subject=rendered.subject,
        send_id=spec.send_id,
        fixed_headers=b"".join(fixed),
        subject_line=unstructured_line("Subject", rendered.subject),
        test_subject_line=unstructured_line("Subject", TEST_MARKER + rendered.subject),
        skeleton=build_body(
            placeholders.split(rendered.text),
            placeholders.split(rendered.html),
            boundary,
            spec.attachments,
        ),
        domain=sender.domain,
        bulk=spec.bulk,
        signer=signer,
        addresses=addresses(settings),
        html_bytes=len(rendered.html.encode("utf-8")),
    )


def list_id(sender: Sender, topic: ListTopic | None) -> tuple[str, str]:
    """(name, id) of the List-Id: the newsletter's, or one per topic (RFC 2919)."""
    name = sender.name or sender.domain
    if topic is None:
        return name, f"newsletter.{sender.domain}"
    return f"{name}: {topic.name}", f"{topic.slug}.newsletter.{sender.domain}"


def _check_placeholders(spec: EmailSpec, placeholders: Placeholders, rendered: Rendered) -> None:
    """Fail the send now if inlining mangled a placeholder or a template misuses one."""
    if placeholders.count(rendered.subject):
        raise TemplateError(f"{spec.kind}.subject.j2: a subject cannot hold personal values")
    before = placeholders.count(rendered.template_html)
    after = placeholders.count(rendered.html)
    if before != after:
        altered = sorted(name for name in before | after if before[name] != after[name])
        raise TemplateError(
            f"{spec.kind}.html.j2: CSS inlining altered the placeholders for {', '.join(altered)}"
        )
    used = set(after) | set(placeholders.count(rendered.text))
    if "unsubscribe_url" in used and spec.send_id is None:
        raise TemplateError(
            f"{spec.kind}: personal.unsubscribe_url needs a send, and this email has none"
        )
