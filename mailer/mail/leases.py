"""Claiming recipients for one job run, and keeping the claim alive while it sends.

A claim is one conditional UPDATE to ``sending`` with a lease and a token; on PostgreSQL
the candidate rows are first locked with ``FOR UPDATE SKIP LOCKED`` so concurrent jobs
never wait on each other. Whatever another live job holds, or what is already sent or
failed, is not due and so never claimed: running a job twice is harmless.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, Row, Select, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from mailer.extensions import db
from mailer.models import WAITING, Message, Recipient, RecipientStatus, TenantRelay
from mailer.models.message import QUEUE_PRIORITY

log = logging.getLogger(__name__)

# The statements on the table, not the entity: the ORM's statement path cost ~0.3 ms more per SELECT and ~0.6 ms
# more per UPDATE than the statements themselves (SQLite, in process), paid on every claim.
_recipients = Recipient.__table__
# What a claim reads of each candidate row.
_COLUMNS = (_recipients.c.id, _recipients.c.status, _recipients.c.attempt_started_at, _recipients.c.job_id,
            _recipients.c.priority)
BULK_PRIORITY = QUEUE_PRIORITY["bulk"]


def due_condition(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Rows a job may take: waiting and due, or `sending` under a lease that ran out."""
    c = _recipients.c
    waiting = and_(c.status.in_(WAITING), or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
    lease_expired = and_(c.status == RecipientStatus.SENDING, c.lease_until < now)
    return or_(waiting, lease_expired)


# The statements a claim runs, built once (building one and its cache key on every claim was a fifth of the
# delivery loop's CPU when mail comes one message at a time); executed with their parameters.
_c = _recipients.c
_NOW = bindparam("now", type_=_c.lease_until.type)
_IDS = bindparam("ids", expanding=True, type_=_c.id.type)
_OWNER = bindparam("owner", type_=_c.tenant_id.type)
_LIMIT = bindparam("limit", type_=Integer())
_DUE_AMONG = and_(_c.id.in_(_IDS), due_condition(_NOW))
_CANDIDATES = select(*_COLUMNS).where(_DUE_AMONG).with_for_update(skip_locked=True)
_EXPIRED = (
    select(*_COLUMNS)
    .where(_c.tenant_id == _OWNER, _c.status == RecipientStatus.SENDING, _c.lease_until < _NOW)
    .order_by(_c.lease_until)
    .limit(_LIMIT)
    .with_for_update(skip_locked=True)
)
_WAITING_OF_OWNER = and_(_c.tenant_id == _OWNER, _c.status.in_(WAITING),
                         or_(_c.next_attempt_at.is_(None), _c.next_attempt_at <= _NOW))
_CLAIM_ORDER = (_c.priority, _c.created_at, _c.position)
_WAITING = (
    select(*_COLUMNS).where(_WAITING_OF_OWNER).order_by(*_CLAIM_ORDER).limit(_LIMIT).with_for_update(skip_locked=True)
)
_LEASED = {"status": RecipientStatus.SENDING, "lease_until": bindparam("lease_end"), "claim_token": bindparam("token")}
_TAKE = update(_recipients).where(_DUE_AMONG).values(_LEASED).returning(_c.id)
# Whether a row's tenant has a relay of its own, read beside the row (the claim's load, or delivery's _load).
TENANT_HAS_RELAY = exists().where(TenantRelay.tenant_id == _c.tenant_id).correlate(_recipients)


def _taking_and_loading(candidates: Select[Any]) -> Select[Any]:
    """PostgreSQL: lock ``candidates`` (SKIP LOCKED), lease them and load them with their messages in one statement
    instead of three (SELECT, UPDATE, the load). Rows: the leased Recipient, its Message on the first row of
    each message (a broadcast's body is not repeated per row; the others find it in the session), whether its
    tenant has a relay of its own, and the status and attempt_started_at it had before the claim."""
    # A CTE, not a subquery: PostgreSQL runs a CTE that locks rows once, where it may rescan a subquery on the
    # inner side of the join, which then skips the rows this statement just updated and leases LIMIT more.
    locked = candidates.cte("locked")
    taken = (
        update(_recipients)
        .where(_c.id == locked.c.id, due_condition(_NOW))
        .values(_LEASED)
        .returning(*_recipients.c, TENANT_HAS_RELAY.label("has_relay"), locked.c.was_status, locked.c.was_started)
        .cte("taken")
    )
    numbered = select(taken, func.row_number().over(partition_by=taken.c.message_id).label("nth")).subquery()
    return (
        select(aliased(Recipient, numbered), Message, numbered.c.has_relay, numbered.c.was_status,
               numbered.c.was_started)
        .outerjoin(Message, and_(Message.id == numbered.c.message_id, numbered.c.nth == 1))
    )


_WAS = (_c.id, _c.status.label("was_status"), _c.attempt_started_at.label("was_started"))
_TAKE_AND_LOAD_AMONG = _taking_and_loading(select(*_WAS).where(_DUE_AMONG).with_for_update(skip_locked=True))
_TAKE_AND_LOAD_WAITING = _taking_and_loading(
    select(*_WAS).where(_WAITING_OF_OWNER).order_by(*_CLAIM_ORDER).limit(_LIMIT).with_for_update(skip_locked=True)
)


@dataclass(frozen=True)
class Claim:
    """The rows one job run holds: ``ids`` in claim order; ``interrupted`` had an attempt cut short;
    ``job_ids``: the jobs last enqueued for them (now redundant: these rows are taken); ``bulk_only``: every
    row is ``bulk`` mail (a loop may then hand its worker to another tenant, mail/turns.py). ``loaded``: the
    rows with their messages, in claim order, when the claim loaded them (PostgreSQL, left uncommitted), and
    ``relayed`` the tenants among them with a relay of their own."""

    token: str
    ids: list[uuid.UUID]
    interrupted: set[uuid.UUID]
    job_ids: frozenset[str] = frozenset()
    bulk_only: bool = False
    loaded: tuple[Recipient, ...] | None = None
    relayed: frozenset[uuid.UUID] = frozenset()


def claim_recipients(recipient_ids: Sequence[uuid.UUID], lease_seconds: int, *, commit: bool = True) -> Claim:
    """Atomically lease the due rows among ``recipient_ids``; commits unless ``commit`` is false (see _take).
    Skips everything else."""
    now = datetime.now(UTC)
    order = {rid: index for index, rid in enumerate(recipient_ids)}
    if not commit and _loads_with_claim():
        return _take_and_load(_TAKE_AND_LOAD_AMONG, {"ids": list(recipient_ids)}, now, lease_seconds,
                              lambda r: order.get(r.id, 0))
    candidates = db.session.execute(_CANDIDATES, {"ids": list(recipient_ids), "now": now}).all()
    claim = _take(candidates, now, lease_seconds, commit=commit)
    return Claim(claim.token, sorted(claim.ids, key=lambda rid: order.get(rid, 0)), claim.interrupted,
                 claim.job_ids, claim.bulk_only)


def claim_due_for_owner(owner: uuid.UUID, limit: int, lease_seconds: int, *, expired: bool = True,
                        commit: bool = True) -> Claim:
    """Lease up to ``limit`` due rows of one tenant (one SMTP server); commits unless ``commit`` is false.

    Rows whose lease ran out come first (a dead job's mail is the oldest; ``expired=False`` skips that
    look), then waiting rows by priority (critical mail first), created_at, position. Each query is a
    range scan of one partial index (ix_recipients_tenant_leased, ix_recipients_tenant_waiting) stopping
    at ``limit``: no join and no sort, so a claim costs the same at 100 rows due as at 100 000.
    """
    now = datetime.now(UTC)
    rows: list[Row[Any]] = []
    if expired:
        rows = list(db.session.execute(_EXPIRED, {"owner": owner, "now": now, "limit": limit}).all())
    if not rows and not commit and _loads_with_claim():
        return _take_and_load(_TAKE_AND_LOAD_WAITING, {"owner": owner, "limit": limit}, now, lease_seconds,
                              lambda r: (r.priority, r.created_at, r.position))
    if len(rows) < limit:
        rows.extend(db.session.execute(_WAITING, {"owner": owner, "now": now, "limit": limit - len(rows)}).all())
    return _take(rows, now, lease_seconds, commit=commit)


def next_due_in(owner: uuid.UUID, within: float) -> float | None:
    """Seconds until the tenant's next waiting row is due, if that is within ``within`` seconds."""
    now = datetime.now(UTC)
    soonest = db.session.scalar(
        select(func.min(Recipient.next_attempt_at)).where(
            Recipient.tenant_id == owner, Recipient.status.in_(WAITING),
            Recipient.next_attempt_at <= now + timedelta(seconds=within),
        )
    )
    db.session.rollback()
    if soonest is None:
        return None
    if soonest.tzinfo is None:
        soonest = soonest.replace(tzinfo=UTC)
    return max(0.0, (soonest - now).total_seconds())


def _take(rows: Sequence[Row[Any]], now: datetime, lease_seconds: int, *, commit: bool) -> Claim:
    """Lease the locked candidate ``rows`` (those still due) under a new token. Commits unless ``commit`` is
    false: deliver_claim's first commit then makes the claim durable with the first in-flight mark, one commit
    instead of two when mail comes one message at a time (a claim rolled back before it left its rows due)."""
    token = uuid.uuid4().hex
    if not rows:
        db.session.rollback()
        return Claim(token, [], set())
    claimed = db.session.scalars(_TAKE, {"ids": [row.id for row in rows], "now": now, "token": token,
                                         "lease_end": now + timedelta(seconds=lease_seconds)}).all()
    if commit:
        db.session.commit()
    taken = set(claimed)
    leased = [row for row in rows if row.id in taken]
    return _claim(token, leased, [(row.status, row.attempt_started_at) for row in leased])


def _claim(token: str, leased: Sequence[Any], before: Sequence[tuple[RecipientStatus, datetime | None]],
           loaded: tuple[Recipient, ...] | None = None, relayed: frozenset[uuid.UUID] = frozenset()) -> Claim:
    """The Claim of the ``leased`` rows (in claim order; each with id, job_id, priority), given the status and
    attempt_started_at each had ``before`` the claim: one whose attempt was under way was interrupted."""
    interrupted = {row.id for row, (status, started) in zip(leased, before, strict=True)
                   if status == RecipientStatus.SENDING and started is not None}
    return Claim(token, [row.id for row in leased], interrupted, frozenset(row.job_id for row in leased if row.job_id),
                 bool(leased) and all(row.priority >= BULK_PRIORITY for row in leased), loaded, relayed)


def _loads_with_claim() -> bool:
    """Whether a claim can lease and load in one statement: PostgreSQL (SQLite's UPDATE … RETURNING cannot return
    another table's columns, nor sit in a WITH)."""
    return db.session.get_bind().dialect.name == "postgresql"


def _take_and_load(statement: Select[Any], params: dict[str, Any], now: datetime, lease_seconds: int,
                   order: Callable[[Recipient], Any]) -> Claim:
    """Run a _taking_and_loading statement, left uncommitted (see _take); the Claim with its rows loaded."""
    token = uuid.uuid4().hex
    rows = db.session.execute(statement, {**params, "now": now, "token": token,
                                          "lease_end": now + timedelta(seconds=lease_seconds)}).all()
    if not rows:
        db.session.rollback()
        return Claim(token, [], set())
    rows.sort(key=lambda row: order(row[0]))
    messages = {message.id: message for _, message, *_ in rows if message is not None}
    for recipient, *_ in rows:  # the session holds loaded objects weakly: a message only its row held is gone
        set_committed_value(recipient, "message", messages[recipient.message_id])
    recipients = tuple(row[0] for row in rows)
    return _claim(token, recipients, [(row.was_status, row.was_started) for row in rows], recipients,
                  frozenset(r.tenant_id for r, _, has_relay, *_ in rows if has_relay))


def release_unattempted(token: str, ids: Sequence[uuid.UUID]) -> None:
    """Give rows back (due now, no attempt counted) when a run stops before trying them."""
    if not ids:
        return
    db.session.execute(
        update(Recipient)
        .where(Recipient.id.in_(list(ids)), Recipient.claim_token == token,
               Recipient.status == RecipientStatus.SENDING)
        .values(status=RecipientStatus.QUEUED, lease_until=None, claim_token=None,
                attempt_started_at=None, next_attempt_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )


class LeaseKeeper:
    """Renews a claim's lease while the job is alive and sending, from the process's one renewing thread
    (_Renewer: starting and joining a thread per claim cost more than a one-message claim's SMTP exchange).

    A killed worker stops renewing, so its rows come back after at most one lease; a hung
    job is ended by the RQ job timeout, which is longer than the SMTP handler's deadline.
    """

    def __init__(self, engine: Engine, token: str, lease_seconds: int) -> None:
        self.engine, self.token, self.lease_seconds = engine, token, lease_seconds
        self.interval = max(lease_seconds / 3, 0.2)

    def __enter__(self) -> LeaseKeeper:
        _renewer().add(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _renewer().discard(self)

    def renew(self) -> None:
        until = datetime.now(UTC) + timedelta(seconds=self.lease_seconds)
        with self.engine.begin() as connection:
            connection.execute(
                update(Recipient)
                .where(Recipient.claim_token == self.token, Recipient.status == RecipientStatus.SENDING)
                .values(lease_until=until)
            )


class _Renewer:
    """One daemon thread per process renewing every open LeaseKeeper's lease each ``interval`` from its start.
    ``discard`` returns once no renewal of that keeper is running or can start (as joining its thread did)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._due: dict[LeaseKeeper, float] = {}
        self._renewing: LeaseKeeper | None = None
        self._changed = threading.Condition()
        threading.Thread(target=self._run, name="lease-renewer", daemon=True).start()

    def add(self, keeper: LeaseKeeper) -> None:
        with self._changed:
            self._due[keeper] = time.monotonic() + keeper.interval
            # Woken per claim. Waking it only when this renewal falls before its next wake-up was tried (stop 33)
            # and reverted: the SIGKILL test then sent its send_at mail 3-4 s late, cause not found.
            self._changed.notify()

    def discard(self, keeper: LeaseKeeper) -> None:
        with self._changed:
            self._due.pop(keeper, None)
            while self._renewing is keeper:
                self._changed.wait()

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due = [keeper for keeper, at in self._due.items() if at <= now]
                if not due:
                    self._changed.wait(min(self._due.values(), default=now + 60.0) - now)
                    continue
                keeper = self._renewing = min(due, key=self._due.__getitem__)
                self._due[keeper] = now + keeper.interval
            try:
                keeper.renew()
            except SQLAlchemyError:
                log.warning("lease renewal failed; rows may be taken back when the lease ends", exc_info=True)
            finally:
                with self._changed:
                    self._renewing = None
                    self._changed.notify_all()


_the_renewer: _Renewer | None = None
_renewer_made = threading.Lock()


def _renewer() -> _Renewer:
    """The process's renewer; a forked work horse (which has none of its parent's threads) makes its own."""
    global _the_renewer
    with _renewer_made:
        if _the_renewer is None or _the_renewer.pid != os.getpid():
            _the_renewer = _Renewer()
        return _the_renewer
