"""Mails built at delivery time, one per recipient: broadcasts (rendered for each member) and account
mail with a link (its token is issued at each attempt and exists only in that job's memory).

A message of either kind is stored with no wire form (raw_mime None); delivery asks
`render_recipient_mail` for each recipient's mail.
"""

from __future__ import annotations

from mailer.mail.account_links import LINKS
from mailer.mail.personalize import RecipientRenderError, prerender_broadcast, render_broadcast_mail
from mailer.mail.system_mail import render_account_mail
from mailer.models import Message, MessageKind, Recipient

__all__ = ["RecipientRenderError", "prepare_recipient_mails", "render_recipient_mail"]


def prepare_recipient_mails(recipients: list[Recipient]) -> None:
    """Before their mails are asked for one by one: render a broadcast's copies together where it can."""
    by_message: dict[Message, list[Recipient]] = {}
    for recipient in recipients:
        if recipient.message.kind == MessageKind.BROADCAST:
            by_message.setdefault(recipient.message, []).append(recipient)
    for message, group in by_message.items():
        prerender_broadcast(message, group)


def render_recipient_mail(message: Message, recipient: Recipient) -> tuple[bytes, str]:
    """(wire bytes, Message-ID) of one recipient's mail; RecipientRenderError if it cannot be built."""
    if message.kind == MessageKind.BROADCAST:
        return render_broadcast_mail(message, recipient)
    if message.kind in LINKS:
        return render_account_mail(message, recipient)
    raise RecipientRenderError(f"a {message.kind} message has no stored mail")
