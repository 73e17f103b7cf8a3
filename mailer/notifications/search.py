"""GET /v1/messages search filters (API.md §11): recipient address, creation time, subject, and status,
kind and tag; the API's list and the console's message log both apply them through ``filtered``.

Each filter is written to use an index on PostgreSQL (see the §11 migration):
``email`` — ``ix_recipients_tenant_email`` on (tenant_id, lower(email)), then messages by primary key;
``since``/``until`` — ``ix_messages_tenant_created`` (also the list's order);
``subject`` — ``ix_messages_subject_trgm``, a trigram GIN index on lower(subject) that answers LIKE '%…%'.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, func, select

from mailer.models import Message, Recipient


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def with_recipient(query: Select[Any], tenant_id: uuid.UUID, email: str) -> Select[Any]:
    """Messages with a recipient (to, cc or bcc) of that address, case-insensitively."""
    messages_to = select(Recipient.message_id).where(
        Recipient.tenant_id == tenant_id, func.lower(Recipient.email) == email.strip().lower()
    )
    return query.where(Message.id.in_(messages_to))


def created_between(query: Select[Any], since: datetime | None, until: datetime | None) -> Select[Any]:
    """``since`` ≤ created_at < ``until`` (naive times are UTC)."""
    if since is not None:
        query = query.where(Message.created_at >= _utc(since))
    if until is not None:
        query = query.where(Message.created_at < _utc(until))
    return query


def subject_contains(query: Select[Any], text: str) -> Select[Any]:
    """Subject contains ``text``, case-insensitively (a substring, no wildcards)."""
    return query.where(func.lower(Message.subject).like(f"%{_like_escaped(text.lower())}%", escape="\\"))


def tag_filter(tag: str) -> ColumnElement[bool]:
    """Messages carrying the tag: its JSON-quoted form inside the stored list (the same text on both databases)."""
    escaped = tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(Message.tags, String).like(f'%"{escaped}"%', escape="\\")


def filtered(query: Select[Any], tenant_id: uuid.UUID, filters: Any) -> Select[Any]:
    """Every filter of GET /v1/messages that ``filters`` (a MessageListQuery) sets."""
    if status := filters.status:
        query = query.where(Message.status == status)
    if kind := filters.kind:
        query = query.where(Message.kind == kind)
    if tag := filters.tag:
        query = query.where(tag_filter(tag))
    if email := filters.email:
        query = with_recipient(query, tenant_id, email)
    if subject := filters.subject:
        query = subject_contains(query, subject)
    return created_between(query, filters.since, filters.until)
