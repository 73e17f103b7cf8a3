"""Hourly counts of purged recipients and messages, so that /v1/stats counts what retention deleted.

``archive_*`` run in the purge's transaction, just before the rows go; ``archived_counts`` is what
the stats add to the live rows. Counts are by the hour a row was created in (the stats' windows
are measured on created_at), so a window's first hour is counted whole.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import DeliveryStat, Message, Recipient, StatScope

Key = tuple[uuid.UUID, datetime, uuid.UUID | None, str]


def _hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _add(scope: StatScope, rows: Iterable[tuple[uuid.UUID, datetime, uuid.UUID | None, str]]) -> None:
    counts: Counter[Key] = Counter((tenant, _hour(at), creator, status) for tenant, at, creator, status in rows)
    db.session.add_all(
        DeliveryStat(tenant_id=tenant, period_start=hour, created_by=creator, scope=scope, status=status,
                     count=count)
        for (tenant, hour, creator, status), count in counts.items()
    )


def archive_recipients(recipient_ids: Sequence[uuid.UUID]) -> None:
    _add(StatScope.RECIPIENT, db.session.execute(
        select(Recipient.tenant_id, Recipient.created_at, Message.created_by, Recipient.status)
        .join(Message, Message.id == Recipient.message_id).where(Recipient.id.in_(recipient_ids))
    ).tuples())


def archive_messages(message_ids: Sequence[uuid.UUID]) -> None:
    _add(StatScope.MESSAGE, db.session.execute(
        select(Message.tenant_id, Message.created_at, Message.created_by, Message.status)
        .where(Message.id.in_(message_ids))
    ).tuples())


def archived_counts(tenant_id: uuid.UUID, since: datetime, created_by: uuid.UUID | None) -> dict[str, dict[str, int]]:
    """{scope: {status: count}} of purged rows created since ``since`` (to the hour), of one creator if given."""
    query = (
        select(DeliveryStat.scope, DeliveryStat.status, func.sum(DeliveryStat.count))
        .where(DeliveryStat.tenant_id == tenant_id, DeliveryStat.period_start >= _hour(since))
        .group_by(DeliveryStat.scope, DeliveryStat.status)
    )
    if created_by is not None:
        query = query.where(DeliveryStat.created_by == created_by)
    result: dict[str, dict[str, int]] = {scope: {} for scope in StatScope}
    for scope, status, count in db.session.execute(query):
        result[scope][status] = int(count)
    return result
