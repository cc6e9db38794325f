"""Every email the service sends: templates rendered and CSS inlined once per send and content
variant, then personalised per member by cheap substitution into a prepared MIME skeleton.

    prepared = prepare_digest("weekly", groups, send_id=send.id)
    for recipient in recipients:
        message = prepared.personalise(recipient)   # OutgoingMessage(to, message_id, data)
"""

from newsletter.rendering.emails import (
    prepare_alert,
    prepare_announcement,
    prepare_confirm,
    prepare_digest,
    prepare_manage_link,
    prepare_reminder,
    prepare_welcome,
)
from newsletter.rendering.environment import TemplateError
from newsletter.rendering.headers import RecipientError
from newsletter.rendering.prepared import OutgoingMessage, PreparedEmail
from newsletter.rendering.previews import KINDS, write_previews
from newsletter.rendering.views import ArticleView, DeadlineView, Recipient, TopicGroup

__all__ = [
    "KINDS",
    "ArticleView",
    "DeadlineView",
    "OutgoingMessage",
    "PreparedEmail",
    "Recipient",
    "RecipientError",
    "TemplateError",
    "TopicGroup",
    "prepare_alert",
    "prepare_announcement",
    "prepare_confirm",
    "prepare_digest",
    "prepare_manage_link",
    "prepare_reminder",
    "prepare_welcome",
    "write_previews",
]
