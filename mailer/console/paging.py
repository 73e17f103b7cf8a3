"""Keyset paging for the message log: "newer"/"older" from a row's (created_at, id), no page counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_

from mailer.errors import ValidationError
from mailer.extensions import db
from mailer.models import Message

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    rows: list[Message]
    newer: str | None  # the cursor of the page before (newer mail), if any
    older: str | None


def cursor_of(message: Message) -> str:
    return f"{message.created_at.isoformat()}~{message.id}"


def _parse(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, _, key = cursor.partition("~")
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, uuid.UUID(key)
    except ValueError:
        raise ValidationError(errors=[{"field": "cursor", "message": "not a cursor of this list"}]) from None


# The first term bounds the (tenant_id, created_at) index range, so a deep page starts where it is and does
# not scan the newer rows before it; the second breaks ties on the same instant by id.
def _older_than(at: datetime, key: uuid.UUID) -> Any:
    return and_(Message.created_at <= at, or_(Message.created_at < at, Message.id < key))


def _newer_than(at: datetime, key: uuid.UUID) -> Any:
    return and_(Message.created_at >= at, or_(Message.created_at > at, Message.id > key))


def page(query: Select[Any], *, older: str | None = None, newer: str | None = None,
         size: int = PAGE_SIZE) -> Page:
    """Newest first. ``older`` = the rows after that cursor; ``newer`` = the rows before it."""
    if newer:
        at, key = _parse(newer)
        rows = list(db.session.scalars(query.where(_newer_than(at, key))
                                       .order_by(Message.created_at.asc(), Message.id.asc()).limit(size + 1)))
        more_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        return Page(rows, cursor_of(rows[0]) if more_newer and rows else None,
                    cursor_of(rows[-1]) if rows else None)
    scoped = query
    if older:
        at, key = _parse(older)
        scoped = query.where(_older_than(at, key))
    rows = list(db.session.scalars(scoped.order_by(Message.created_at.desc(), Message.id.desc()).limit(size + 1)))
    more_older = len(rows) > size
    rows = rows[:size]
    has_newer = bool(older) and rows and db.session.scalar(
        query.with_only_columns(Message.id).where(_newer_than(rows[0].created_at, rows[0].id)).limit(1)
    ) is not None
    return Page(rows, cursor_of(rows[0]) if has_newer else None, cursor_of(rows[-1]) if more_older else None)
