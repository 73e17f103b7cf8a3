"""Writing attempts down: a DeliveryEvent per attempt, the recipient's new state, the message roll-up.

Results are written with the claim token in the WHERE clause, so a job whose lease was
taken back cannot overwrite what the job now holding the row decides (its attempt is
still recorded as an event: it happened).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, or_, select, update

from mailer.config import Config
from mailer.extensions import db
from mailer.mail.suppressions import SUPPRESSES, suppress_hard_failures
from mailer.models import UNFINISHED, DeliveryEvent, Message, MessageKind, MessageStatus, Recipient, RecipientStatus
from mailer.models.message import MESSAGE_FINISHED
from mailer.smtp.results import ErrorCode, Outcome, RecipientResult
from mailer.webhooks import EventType, emit, subscribed_among, subscribes_column

# Statements on the tables, not the entities: the ORM's statement path cost more than a statement (leases.py).
_recipients = Recipient.__table__
_messages = Message.__table__
_events = DeliveryEvent.__table__
_MAX_TEXT = 2000
# The statements recording a run writes with, built once (with their cache keys), executed with parameters.
_RECORD_RESULT = (
    update(_recipients)
    .where(_recipients.c.id == bindparam("b_id"), _recipients.c.claim_token == bindparam("b_token"))
    .values(
        status=bindparam("status"), attempts=bindparam("attempts"), smtp_code=bindparam("smtp_code"),
        enhanced_code=bindparam("enhanced_code"), smtp_response=bindparam("smtp_response"),
        error_code=bindparam("error_code"), last_error=bindparam("last_error"), sent_at=bindparam("sent_at"),
        next_attempt_at=bindparam("next_attempt_at"), lease_until=None, claim_token=None,
        attempt_started_at=None,
    )
)
# One result (mail one message at a time) also returns whether its tenant has an enabled webhook endpoint: the
# subscriber check of its event, read in the same transaction after the write, without a round trip of its own.
_RECORD_ONE_RESULT = _RECORD_RESULT.returning(subscribes_column(_recipients.c.tenant_id))
_INSERT_EVENTS = insert(_events)
_MARK_STARTED = (
    update(_recipients)
    .where(_recipients.c.id == bindparam("b_id"), _recipients.c.claim_token == bindparam("b_token"))
    .values(attempt_started_at=bindparam("b_now"), smtp_message_id=bindparam("b_mid"))
)
# One row marked only if its tenant does not suppress its address: a one-mail window's screening and mark in
# one round trip (its parameters: suppressions.suppression_params).
_MARK_STARTED_UNLESS_SUPPRESSED = _MARK_STARTED.where(~SUPPRESSES)
# A recipient's final statuses, and the status of a message whose only recipient has one.
_FINAL = {RecipientStatus.SENT: MessageStatus.SENT, RecipientStatus.FAILED: MessageStatus.FAILED}
_EVENT_OF = {
    RecipientStatus.SENT: EventType.MESSAGE_SENT,
    RecipientStatus.DEFERRED: EventType.MESSAGE_DEFERRED,
    RecipientStatus.FAILED: EventType.MESSAGE_FAILED,
}


@dataclass(frozen=True)
class Attempt:
    """One recipient's result in one run, with what is needed to write it down."""

    recipient_id: uuid.UUID
    tenant_id: uuid.UUID
    attempts_before: int
    result: RecipientResult


@dataclass(frozen=True)
class Deferral:
    recipient_id: uuid.UUID
    next_attempt_at: datetime


@dataclass(frozen=True)
class Recorded:
    """What record_attempts wrote: the retries to schedule, and the final statuses (sent, failed) it gave
    recipients, by id; ``final`` is empty when a result was not written (another run holds its row)."""

    deferrals: list[Deferral]
    final: dict[uuid.UUID, RecipientStatus]
    rolled_up: bool = False  # the message given as ``alone`` was rolled up in the same statement


MAX_HINT_SECONDS = 24 * 3600


def retry_delay(config: Config, attempts: int, hint: float | None) -> float:
    """Seconds before the next try after ``attempts`` attempts: the server's hint, else backoff + jitter.

    A hint is honoured up to a day (or the longest backoff step, if longer), so a server asking for
    weeks cannot park mail.
    """
    delays = config.SMTP_RETRY_DELAYS
    if hint is not None and hint > 0:
        return float(min(hint, max(MAX_HINT_SECONDS, *delays)))
    base = delays[min(max(attempts, 1), len(delays)) - 1]
    return base + random.uniform(0, base * 0.1)


def _row(attempt: Attempt, config: Config, now: datetime) -> dict[str, Any]:
    result = attempt.result
    attempts = attempt.attempts_before + (0 if result.outcome is Outcome.SUPPRESSED else 1)
    row: dict[str, Any] = {
        "b_id": attempt.recipient_id, "attempts": attempts, "smtp_code": result.smtp_code,
        "enhanced_code": result.enhanced_code, "smtp_response": (result.response or "")[:_MAX_TEXT] or None,
        "status": RecipientStatus.DEFERRED, "error_code": None, "last_error": None,
        "sent_at": None, "next_attempt_at": None,
    }
    if result.outcome is Outcome.SENT:
        row.update(status=RecipientStatus.SENT, sent_at=now)
    elif result.outcome in (Outcome.FAILED, Outcome.SUPPRESSED):
        code = result.error_code or ErrorCode.INVALID_MESSAGE
        row.update(status=RecipientStatus.FAILED, error_code=code, last_error=row["smtp_response"])
    elif attempts >= config.SMTP_MAX_ATTEMPTS:
        row.update(status=RecipientStatus.FAILED, error_code=ErrorCode.RETRIES_EXHAUSTED,
                   last_error=row["smtp_response"])
    else:  # deferred or ambiguous: try again later
        delay = retry_delay(config, attempts, result.retry_after)
        row.update(last_error=row["smtp_response"], next_attempt_at=now + timedelta(seconds=delay))
    return row


def record_attempts(attempts: Sequence[Attempt], token: str, config: Config, *,
                    alone: uuid.UUID | None = None) -> Recorded:
    """Add an event per attempt and move each recipient on; returns what it wrote. Caller commits.

    ``alone``: the message of a one-attempt run, to roll up with its result when that attempt finishes its
    only recipient (set_alone). On PostgreSQL the result, its event and that roll-up are one statement
    (``Recorded.rolled_up`` says whether the roll-up applied; if not, the caller rolls up as usual)."""
    if not attempts:
        return Recorded([], {})
    now = datetime.now(UTC)
    rows = [_row(a, config, now) for a in attempts]
    events = [
        {"id": uuid.uuid4(), "recipient_id": a.recipient_id, "tenant_id": a.tenant_id, "at": now,
         "outcome": a.result.outcome, "smtp_code": a.result.smtp_code,
         "enhanced_code": a.result.enhanced_code, "response": (a.result.response or "")[:_MAX_TEXT] or None}
        for a in attempts
    ]
    subscribed: bool | None = None  # unknown: the events look it up
    rolled_up = False
    if (alone is not None and len(rows) == 1 and rows[0]["status"] in _FINAL
            and db.session.get_bind().dialect.name == "postgresql"):
        written, subscribed, rolled_up = _record_one_with_roll_up(rows[0], events[0], token, alone)
    else:
        if len(rows) == 1:
            returned = db.session.execute(_RECORD_ONE_RESULT, {**rows[0], "b_token": token}).scalars().all()
            written, subscribed = len(returned), bool(returned[0]) if returned else None
        else:
            written = db.session.execute(_RECORD_RESULT, [{**row, "b_token": token} for row in rows]).rowcount
            subscribed = subscribed_among(db.session, {a.tenant_id for a in attempts})
        db.session.execute(_INSERT_EVENTS, events)
    suppress_hard_failures([(a.recipient_id, a.tenant_id, a.result) for a in attempts])
    _emit_results(rows, subscribed)
    final = {row["b_id"]: row["status"] for row in rows if row["status"] in _FINAL} if written == len(rows) else {}
    return Recorded([Deferral(row["b_id"], row["next_attempt_at"]) for row in rows
                     if row["next_attempt_at"] is not None], final, rolled_up)


def _emit_results(rows: Sequence[dict[str, Any]], subscribed: bool | None) -> None:
    """`message.sent|deferred|failed` for each written result; `message.suppressed` is the suppressions'.
    ``subscribed``: whether the rows' tenants have an enabled endpoint, if already read in this transaction."""
    by_type: dict[EventType, list[tuple[uuid.UUID, dict[str, Any]]]] = {}
    for row in rows:
        if row["error_code"] != ErrorCode.SUPPRESSED:
            by_type.setdefault(_EVENT_OF[row["status"]], []).append((row["b_id"], {
                "status": row["status"], "smtp_code": row["smtp_code"], "enhanced_code": row["enhanced_code"],
                "response": row["smtp_response"]}))
    for event_type, subjects in by_type.items():
        emit(db.session, event_type, subjects, subscribed=subscribed)


def mark_attempt_started(ids: Sequence[uuid.UUID], token: str, message_ids: dict[uuid.UUID, str], *,
                         unless_suppressed: dict[str, object] | None = None) -> int:
    """Note, before the handler gets them, which rows are being tried (and the Message-ID they carry); returns
    how many were marked: a row whose lease ran out and that another run took is not. ``unless_suppressed``
    (one row; suppression_params): nor is the row if its tenant suppresses its address."""
    if not ids:
        return 0
    now = datetime.now(UTC)
    if unless_suppressed is not None:
        [rid] = ids
        return db.session.execute(_MARK_STARTED_UNLESS_SUPPRESSED, {
            "b_id": rid, "b_mid": message_ids[rid], "b_token": token, "b_now": now, **unless_suppressed}).rowcount
    return db.session.execute(
        _MARK_STARTED, [{"b_id": rid, "b_mid": message_ids[rid], "b_token": token, "b_now": now} for rid in ids]
    ).rowcount


_STARTED = (RecipientStatus.SENDING, RecipientStatus.DEFERRED, RecipientStatus.SENT,
            RecipientStatus.FAILED, RecipientStatus.BOUNCED)


def derived_status(status: str, counts: dict[str, int]) -> str:
    """A message's status from its recipients' counts by status (a bounced one was sent, then refused: failed)."""
    total = sum(counts.values())
    sent = counts.get(RecipientStatus.SENT, 0)
    failed = counts.get(RecipientStatus.FAILED, 0) + counts.get(RecipientStatus.BOUNCED, 0)
    if total == 0:
        return status
    if sent == total:
        return MessageStatus.SENT
    if failed == total:
        return MessageStatus.FAILED
    if sent + failed == total:
        return MessageStatus.PARTIALLY_FAILED
    if any(counts.get(s, 0) for s in _STARTED):
        return MessageStatus.SENDING
    if status == MessageStatus.SCHEDULED:
        return MessageStatus.SCHEDULED
    return MessageStatus.QUEUED


def _has_recipients(statuses: tuple[str, ...]) -> Any:
    return (select(_recipients.c.id).where(_recipients.c.message_id == _messages.c.id,
                                           _recipients.c.status.in_(statuses)).exists())


# The roll-up's statements, built once; ``ids`` the messages.
_MESSAGE_IDS = bindparam("ids", expanding=True, type_=_messages.c.id.type)
_STILL_SENDING = select(_messages.c.id).where(_messages.c.id.in_(_MESSAGE_IDS),
                                              _messages.c.status == MessageStatus.SENDING,
                                              _has_recipients(UNFINISHED), _has_recipients(_STARTED))
_WRITE_LOCK = update(_messages).where(_messages.c.id.in_(_MESSAGE_IDS)).values(status=_messages.c.status)
_LOCK = (select(_messages.c.id, _messages.c.status, _messages.c.kind).where(_messages.c.id.in_(_MESSAGE_IDS))
         .order_by(_messages.c.id).with_for_update())
_COUNT = (select(_recipients.c.message_id, _recipients.c.status, func.count())
          .where(_recipients.c.message_id.in_(_MESSAGE_IDS))
          .group_by(_recipients.c.message_id, _recipients.c.status))
_SET_STATUS = update(_messages).where(_messages.c.id.in_(_MESSAGE_IDS)).values(status=bindparam("derived"))


def _still_sending(message_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Those of ``message_ids`` that are `sending` and whose derived status is `sending` again.

    derived_status gives `sending` exactly when some row is not finished (queued, deferred, sending)
    and some row has started; both are one EXISTS probe (the first through ix_recipients_message_open),
    so a long broadcast is not counted on every claim.
    """
    if not message_ids:
        return []
    return list(db.session.scalars(_STILL_SENDING, {"ids": message_ids}))


# A message whose only recipient has the final status ``written``: that status, in one statement.
_DERIVED = bindparam("derived", type_=_messages.c.status.type)
_RECIPIENT = bindparam("recipient_id", type_=_recipients.c.id.type)
_WRITTEN = bindparam("written", type_=_recipients.c.status.type)
_SET_ALONE = (
    update(_messages)
    .where(_messages.c.id == bindparam("message_id", type_=_messages.c.id.type),
           _messages.c.kind != MessageKind.BROADCAST, _messages.c.status != _DERIVED,
           exists().where(_recipients.c.message_id == _messages.c.id, _recipients.c.id == _RECIPIENT,
                          _recipients.c.status == _WRITTEN),
           ~exists().where(_recipients.c.message_id == _messages.c.id,
                           or_(_recipients.c.id != _RECIPIENT, _recipients.c.status != _WRITTEN)))
    .values(status=_DERIVED)
)


def set_alone(message_id: uuid.UUID, recipient_id: uuid.UUID, written: RecipientStatus) -> bool:
    """Roll up a message whose one recipient this transaction just gave the final status ``written`` with one
    UPDATE instead of locking, probing and counting (roll_up); returns whether it did. Caller commits.

    The UPDATE applies only when the row is the message's only recipient and still has ``written``, the
    message is no broadcast (roll_up announces those) and its status changes; then it writes what roll_up
    would derive. Otherwise (another recipient, a concurrent bounce, nothing to change) the caller uses
    roll_up. Call it only in the transaction that wrote the recipient: its row lock keeps the status read
    here from changing before the commit (on PostgreSQL the statement's snapshot would not see a change
    committed while it waited for the message row).
    """
    if written not in _FINAL:
        return False
    return db.session.execute(_SET_ALONE, {"message_id": message_id, "recipient_id": recipient_id,
                                           "written": written, "derived": _FINAL[written]}).rowcount == 1


# One final result, its event and its message's roll-up in one statement (PostgreSQL: data-modifying CTEs, each
# run once whether or not the main query reads it). Every part reads the statement's snapshot, so the roll-up
# cannot see the recipient's new status: it applies when the result was written ("recorded" has its row, which
# the UPDATE keeps locked until the commit, as set_alone relies on) and the message has no other recipient
# (recipients are added with their message only) — the conditions of _SET_ALONE, read that way.
_RECORDED = (_RECORD_RESULT.values(updated_at=bindparam("b_updated"))
             .returning(_recipients.c.id, subscribes_column(_recipients.c.tenant_id).label("subscribed"))
             .cte("recorded"))
_EVENT = insert(_events).values({c.key: bindparam(f"e_{c.key}", type_=c.type) for c in _events.c}
                                ).cte("event")
_ALONE_SET = (
    update(_messages)
    .where(_messages.c.id == bindparam("r_message", type_=_messages.c.id.type),
           _messages.c.kind != MessageKind.BROADCAST, _messages.c.status != bindparam("r_derived"),
           exists(select(_RECORDED.c.id)),
           ~exists().where(_recipients.c.message_id == _messages.c.id, _recipients.c.id != bindparam("b_id")))
    .values(status=bindparam("r_derived", type_=_messages.c.status.type), updated_at=bindparam("b_updated"))
    .returning(_messages.c.id)
    .cte("rolled")
)
_RECORD_ONE_WITH_ROLL_UP = (select(_RECORDED.c.subscribed, select(func.count()).select_from(_ALONE_SET)
                                   .scalar_subquery().label("rolled"))
                            .add_cte(_EVENT))


def _record_one_with_roll_up(row: dict[str, Any], event: dict[str, Any], token: str,
                             message_id: uuid.UUID) -> tuple[int, bool | None, bool]:
    """(rows written, whether the tenant subscribes if written, whether the message was rolled up)."""
    # updated_at set here: two tables' onupdate defaults in one statement would share one parameter name.
    params = {**row, "b_token": token, "b_updated": event["at"], "r_message": message_id,
              "r_derived": _FINAL[row["status"]],
              **{f"e_{key}": value for key, value in event.items()}}
    returned = db.session.execute(_RECORD_ONE_WITH_ROLL_UP, params).one_or_none()
    if returned is None:
        return 0, None, False
    return 1, bool(returned.subscribed), bool(returned.rolled)


def roll_up(message_ids: Sequence[uuid.UUID]) -> None:
    """Derive each message's status from its recipients' (one counting pass), writing only changes. Caller commits.

    The message rows are locked first (PostgreSQL; in id order, so jobs never deadlock), so
    of two concurrent roll-ups the later one counts after the earlier committed; on SQLite
    the transaction takes the database's write lock before counting. One grouped count, not one scan per status,
    and none for a message that is `sending` and stays so (_still_sending): a 100 000-recipient broadcast is
    rolled up after every claim, and counting its rows each time made every claim O(N).
    """
    ids = sorted(set(message_ids))
    if not ids:
        return
    db.session.flush()  # statements on the tables do not autoflush: the caller's ORM changes count
    if db.session.get_bind().dialect.name == "sqlite":  # WAL readers never wait: take the write lock to count
        db.session.execute(_WRITE_LOCK, {"ids": ids})
    locked = db.session.execute(_LOCK, {"ids": ids}).tuples().all()
    current = {message_id: status for message_id, status, _ in locked}
    for message_id in _still_sending([mid for mid, status in current.items() if status == MessageStatus.SENDING]):
        del current[message_id]
    counts: dict[uuid.UUID, dict[str, int]] = {mid: {} for mid in current}
    if current:
        for message_id, status, count in db.session.execute(_COUNT, {"ids": list(current)}):
            counts[message_id][status] = count
    changed: dict[str, list[uuid.UUID]] = {}
    finished: set[uuid.UUID] = set()
    for message_id, status in current.items():
        derived = derived_status(status, counts[message_id])
        if derived != status:
            changed.setdefault(derived, []).append(message_id)
        if derived in MESSAGE_FINISHED:
            finished.add(message_id)
    for derived, changed_ids in changed.items():  # one UPDATE per new status, however many messages
        db.session.execute(_SET_STATUS, {"ids": changed_ids, "derived": derived})
    # Only a finished broadcast has an event to raise: one still sending costs no query (most roll-ups of a broadcast).
    broadcasts = [message_id for message_id, _, kind in locked
                  if kind == MessageKind.BROADCAST and message_id in finished]
    if broadcasts:
        emit(db.session, EventType.BROADCAST_FINISHED, broadcasts)
