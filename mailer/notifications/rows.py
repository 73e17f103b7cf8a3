"""A new message and its recipients inserted with Core statements instead of the ORM unit of work.

The flush of one message and its recipients (identity map, relationship cascade, one INSERT per
mapper, attribute history) cost ~2 ms of a ~10 ms POST /v1/messages; two INSERT statements (the
recipients' as one executemany) cost a fraction of it. The objects stay transient, outside the
session, with every column filled in as stored (defaults included), so the 202 body and the outbox
read them as before; a reader that wants the rows loads them from the database like any other.

On PostgreSQL a message costs two statements before its COMMIT: the tenant row's locking read carrying
the suppression screen, then one statement inserting the rows and updating the tenant row (stop 33: each
statement saved is a round trip and ~0.2 ms of SQLAlchemy and psycopg CPU).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Insert, Row, Table, Update, bindparam, insert, inspect, update

from mailer.audit import LOCKED_ROW, locked_tenant_row, write_tenant_row
from mailer.extensions import db
from mailer.mail.suppressions import (
    SUPPRESSED_LIST,
    fail_if_all_suppressed,
    mark_suppressed,
    screen_new_rows,
    screen_parameters,
)
from mailer.models import Message, Recipient, RecipientStatus, Tenant

# The tenant row's locking read carrying the suppression screen (PostgreSQL).
_LOCKED_AND_SCREENED = LOCKED_ROW.add_columns(SUPPRESSED_LIST.label("suppressed"))
# At most this many rows (a message, its recipients, its audit event) are written in one statement: each count of
# rows is a statement of its own (one INSERT per row), built and compiled once, so the counts are kept few; a
# message to more recipients takes one statement per table.
_ONE_STATEMENT_ROWS = 10


@cache
def _columns(model: type) -> tuple[tuple[str, str, Any], ...]:
    """(attribute key, column key, column default) of a mapped class, read once."""
    return tuple((prop.key, prop.columns[0].key, prop.columns[0].default) for prop in inspect(model).column_attrs)


def filled_row(obj: Message | Recipient) -> dict[str, Any]:
    """The object's INSERT values by column key; an unset column gets its default, on the object too."""
    row: dict[str, Any] = {}
    for key, column_key, default in _columns(type(obj)):
        value = getattr(obj, key)
        if value is None and default is not None:
            value = default.arg(None) if default.is_callable else default.arg
            setattr(obj, key, value)
        row[column_key] = value
    return row


def new_rows(messages: Sequence[Message]) -> list[tuple[Table, list[dict[str, Any]]]]:
    """The INSERT rows of new messages of one tenant and kind with their recipients (ids set), by table,
    before ``locked_and_screened`` screens them."""
    tenant_id, kind = messages[0].tenant_id, messages[0].kind
    assert all(m.tenant_id == tenant_id and m.kind == kind for m in messages), "one tenant, one kind"
    return [(Message.__table__, [filled_row(message) for message in messages]),
            (Recipient.__table__, [row for message in messages for row in _recipient_rows(message)])]


def locked_and_screened(messages: Sequence[Message], rows: list[tuple[Table, list[dict[str, Any]]]]) -> Row[Any]:
    """The tenant row's chain head and quota counter, locked (``locked_tenant_row``), and the new ``rows``
    screened: their suppressed recipients failed at once (the 202 shows them; ``add_suppressed_events`` adds
    their events once the rows are in). On PostgreSQL one statement carries both reads."""
    tenant_id, kind = messages[0].tenant_id, messages[0].kind
    (_, message_rows), (_, recipient_rows) = rows
    screen = screen_parameters(tenant_id, kind, recipient_rows) if db.engine.dialect.name == "postgresql" else None
    if screen is None:
        blocked = screen_new_rows(tenant_id, kind, recipient_rows)
        locked = locked_tenant_row(tenant_id)
    else:
        parameters, forms = screen
        locked = db.session.execute(_LOCKED_AND_SCREENED, {"tenant_row": tenant_id, **parameters}).one()
        blocked = mark_suppressed(recipient_rows, {forms[stored.lower()] for stored in locked.suppressed or ()})
    if blocked:
        start = 0
        for message, message_row in zip(messages, message_rows, strict=True):
            end = start + len(message.recipients)
            _apply_screen(message, message_row, recipient_rows[start:end])
            start = end
    return locked


def insert_with_tenant_row(tenant_id: uuid.UUID, rows: Sequence[tuple[Table, list[dict[str, Any]]]],
                           tenant_values: dict[str, Any]) -> None:
    """INSERT ``rows`` (by table, parents first) and UPDATE the tenant row's ``tenant_values``, in the caller's
    transaction. For one message on PostgreSQL one statement (data-modifying CTEs: a round trip and its
    statement overhead each saved; the foreign keys are checked at its end, so the recipients may name a
    message inserted beside them); elsewhere one per table."""
    rows = [(table, table_rows) for table, table_rows in rows if table_rows]
    keys = tuple(tenant_values)
    # A group of several messages (SMTP submission's group commit) keeps one statement per table: its shapes
    # vary with the group, each compiled anew, and two submission pairs ran 0.7-1.4 ms/message slower with it.
    one_message = len(rows[0][1]) == 1 and sum(len(table_rows) for _, table_rows in rows) <= _ONE_STATEMENT_ROWS
    if db.engine.dialect.name != "postgresql" or not one_message:
        for table, table_rows in rows:
            db.session.execute(_insert(table), table_rows)
        write_tenant_row(tenant_id, tenant_values)
        return
    written = [(table, _without_nulls(table, row)) for table, table_rows in rows for row in table_rows]
    params: dict[str, Any] = {"tenant_row": tenant_id, **{f"set_{key}": tenant_values[key] for key in keys}}
    for n, (_, row) in enumerate(written):
        params.update((f"r{n}_{key}", value) for key, value in row.items())
    db.session.execute(_together(tuple((table, tuple(row)) for table, row in written), keys), params)


def _without_nulls(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` without the columns whose NULL an INSERT writes by leaving them out (no default): the one statement
    then keeps under psycopg's 50 parameters (57 before), past which psycopg parses its text again on every
    execution (~0.3 ms)."""
    defaulted = _defaulted(table)
    return {key: value for key, value in row.items() if value is not None or key in defaulted}


@cache
def _defaulted(table: Table) -> frozenset[str]:
    """The columns that a default would fill, not NULL, if left out of an INSERT."""
    return frozenset(column.key for column in table.columns
                     if column.default is not None or column.server_default is not None)


@cache
def _insert(table: Table) -> Insert:
    """Built once: a new Insert per message recomputed its cache key on every request."""
    return insert(table)


@lru_cache(maxsize=256)
def _together(shape: tuple[tuple[Table, tuple[str, ...]], ...], keys: tuple[str, ...]) -> Update:
    """The one statement of ``insert_with_tenant_row`` for rows of this shape (each row's table and columns),
    built once (its cache key too)."""
    tenants = Tenant.__table__
    statement = (update(tenants).where(tenants.c.id == bindparam("tenant_row"))
                 .values({key: bindparam(f"set_{key}") for key in keys}))
    for n, (table, columns) in enumerate(shape):
        # One INSERT per row: SQLAlchemy caches no multi-row VALUES (it would compile the statement each time).
        row = {key: bindparam(f"r{n}_{key}") for key in columns}
        statement = statement.add_cte(insert(table).values(row).cte(f"new_{table.name}_{n}"))
    return statement


def _recipient_rows(message: Message) -> list[dict[str, Any]]:
    for recipient in message.recipients:
        recipient.message_id = message.id  # the ORM would copy it at flush
    return [filled_row(r) for r in message.recipients]


def _apply_screen(message: Message, message_row: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """The screen's verdict on the rows, copied to the objects (the 202 reads them) and to the message."""
    blocked = 0
    for recipient, row in zip(message.recipients, rows, strict=True):
        if row["status"] == RecipientStatus.FAILED:
            recipient.status, recipient.error_code = row["status"], row["error_code"]
            recipient.last_error, recipient.next_attempt_at = row["last_error"], None
            blocked += 1
    if blocked and fail_if_all_suppressed(message, blocked, len(rows)):
        message_row["status"] = message.status
