"""GET /v1/stats: the tenant's delivery counts by status, for the last 24 hours and 30 days.

Counts are per recipient (one delivery each), by the recipient's current status, for
recipients created in the window; messages are counted by their rolled-up status.
Admins and API keys see the tenant's; users see what they sent themselves. Mail that retention
has purged is counted from its hourly archive (mailer.retention.archive), so the numbers stay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select

from mailer.extensions import db
from mailer.models import Message, MessageStatus, Recipient, RecipientStatus, StatScope
from mailer.models.types import iso
from mailer.notifications.visibility import counted_for
from mailer.retention.archive import archived_counts
from mailer.security.scope import tenant_select
from mailer.security.types import Principal

WINDOWS = {"last_24h": timedelta(hours=24), "last_30d": timedelta(days=30)}


def _visible(principal: Principal) -> Select[Any]:
    return tenant_select(Message, principal.tenant_id).where(*counted_for(principal))


def add_archived(recipients: dict[str, int], by_message: dict[str, int], principal: Principal,
                 since: datetime) -> None:
    """Add what retention purged since ``since`` (its hourly archive) to the live counts."""
    creator = principal.id if counted_for(principal) else None  # the rule narrows to the caller's own
    archived = archived_counts(principal.tenant_id, since, creator)
    for counts, scope in ((recipients, StatScope.RECIPIENT), (by_message, StatScope.MESSAGE)):
        for status, count in archived[scope].items():
            counts[status] = counts.get(status, 0) + count


def tenant_stats(principal: Principal) -> dict[str, Any]:
    now = datetime.now(UTC)
    messages = _visible(principal).subquery()
    body: dict[str, Any] = {"generated_at": iso(now)}
    for name, span in WINDOWS.items():
        since = now - span
        recipient_query = (
            select(Recipient.status, func.count())
            .where(Recipient.tenant_id == principal.tenant_id, Recipient.created_at >= since)
            .group_by(Recipient.status)
        )
        if counted_for(principal):  # only a narrowed count needs the messages: the tenant's is the index alone
            recipient_query = recipient_query.join(messages, messages.c.id == Recipient.message_id)
        recipient_rows = db.session.execute(recipient_query).all()
        message_rows = db.session.execute(
            select(messages.c.status, func.count()).where(messages.c.created_at >= since).group_by(messages.c.status)
        ).all()
        recipients = {status: 0 for status in RecipientStatus} | dict(recipient_rows)  # type: ignore[arg-type]
        by_message = {status: 0 for status in MessageStatus} | dict(message_rows)  # type: ignore[arg-type]
        add_archived(recipients, by_message, principal, since)
        body[name] = {
            "since": iso(since),
            **recipients,
            "total": sum(recipients.values()),
            "messages": {**by_message, "total": sum(by_message.values())},
        }
    return body
