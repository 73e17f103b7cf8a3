"""One claim's run: send the claimed recipients over pooled connections, write every result.

The database decides what is due; a job carries recipient ids only, so running one twice
is harmless: what is sent, failed, or held by another live lease is skipped.

Results are committed a *window* at a time, in the same commit that marks the next window's
rows as in flight (``attempt_started_at``). A window is as many mails as the connection sent in
the last ``COMMIT_WINDOW_SECONDS`` (so one mail on a slow server, exactly as before), never more
than ``COMMIT_WINDOW_MAILS``: a fast server costs one commit, a few statements and one metrics
round trip per window instead of per mail. The bound this keeps: a worker killed outright
(SIGKILL, a lost host) leaves at most one window per connection — at most COMMIT_WINDOW_MAILS
mails, and no more than about COMMIT_WINDOW_SECONDS of sending — unknown; those rows come back
when their lease ends and their retry is recorded as ``ambiguous`` (the only case in which a
second copy may go out, with the same Message-ID). A run stopped any other way (job timeout,
SIGTERM, an exception) records the replies it already has as they were.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload, selectinload

from mailer.config import Config
from mailer.extensions import atomic, db
from mailer.mail.leases import TENANT_HAS_RELAY, Claim, LeaseKeeper, release_unattempted
from mailer.mail.outbox import requeue
from mailer.mail.per_recipient import RecipientRenderError, prepare_recipient_mails, render_recipient_mail
from mailer.mail.recipient_tokens import envelope_sender
from mailer.mail.recording import Attempt, Deferral, mark_attempt_started, record_attempts, roll_up, set_alone
from mailer.mail.suppressions import screen_before_send, suppression_params
from mailer.mail.transport import smtp_server
from mailer.models import Recipient, RecipientStatus
from mailer.observability.attempts import note_attempts
from mailer.smtp.handler import OutgoingMail, SmtpSender
from mailer.smtp.results import ErrorCode, Outcome, RecipientResult
from mailer.smtp.settings import SmtpServer

log = logging.getLogger(__name__)

# Mails handed to the SMTP sender per call (one pooled connection).
CHUNK_MAILS = 100
# A window of results shares one commit: what the connection sends in this long, at most this many mails.
COMMIT_WINDOW_SECONDS = 0.05
COMMIT_WINDOW_MAILS = 20
# Claims of at most this many rows load their messages in the same query.
JOIN_MESSAGES_UP_TO = 4
INTERRUPTED = "the worker stopped during this attempt; the message may have been delivered"
# The claimed rows with their messages, joined (a few rows) or in a second query (more): built once.
# Each row also says whether its tenant has a relay of its own (read in the claim's transaction, where the look-up
# ran before): most have none, and their claims skip that look-up's round trip.
_CLAIMED = (select(Recipient, TENANT_HAS_RELAY)
            .where(Recipient.id.in_(bindparam("ids", expanding=True, type_=Recipient.id.type))))
_LOAD_JOINED = _CLAIMED.options(joinedload(Recipient.message))
_LOAD_SELECTIN = _CLAIMED.options(selectinload(Recipient.message))

_sender: SmtpSender | None = None


def smtp_sender() -> SmtpSender:
    """One sender (and so one connection pool) per process."""
    global _sender
    if _sender is None:
        _sender = SmtpSender()
    return _sender


@dataclass
class _Item:
    """One mail and the claimed rows it carries."""

    sender: str
    wire: bytes
    message_id: str
    recipients: list[Recipient]

    @property
    def mail(self) -> OutgoingMail:
        return OutgoingMail(self.sender, tuple(r.email for r in self.recipients), self.wire, self.message_id)


@dataclass
class _Run:
    claim: Claim
    config: Config
    deferrals: dict[str, list[Deferral]] = field(default_factory=lambda: defaultdict(list))
    messages: set[uuid.UUID] = field(default_factory=set)
    in_flight: list[Recipient] = field(default_factory=list)
    # Replies received but not yet committed (the open window's), recorded as they are if the run is cut short.
    pending: list[tuple[Recipient, RecipientResult]] = field(default_factory=list)
    done: set[uuid.UUID] = field(default_factory=set)
    rolled_up: bool = False
    # The final statuses the run's latest results wrote, by recipient (record_attempts' Recorded.final).
    final: dict[uuid.UUID, RecipientStatus] = field(default_factory=dict)
    relayed: set[uuid.UUID] = field(default_factory=set)  # the claim's tenants that have a relay of their own
    lease_lost: bool = False  # a window's mark found rows another run had taken: send nothing more
    alone_rolled_up: bool = False  # the latest results' record_attempts rolled up the run's one message

    def record(self, pairs: Sequence[tuple[Recipient, RecipientResult]],
               seconds: float | Sequence[float] | None = None, *, with_roll_up: bool = False) -> None:
        """``with_roll_up``: the run's last results, rolled up next in their transaction (roll_up): a run of one
        message lets record_attempts roll it up with them (set_alone's case) when the database can."""
        attempts = [Attempt(r.id, r.tenant_id, r.attempts, result) for r, result in pairs]
        alone = next(iter(self.messages)) if with_roll_up and len(self.messages) == 1 else None
        with atomic() as unit:
            recorded = record_attempts(attempts, self.claim.token, self.config, alone=alone)
            self.final, self.alone_rolled_up = recorded.final, recorded.rolled_up
            unit.after_commit(partial(self._recorded, pairs, seconds, recorded.deferrals))

    def roll_up(self) -> None:
        """Roll up the run's messages in the transaction of its latest results. A run of one message (mail one
        at a time) whose one recipient those results finished sets it in one statement (set_alone) when that
        applies; anything else takes the general roll_up, which locks all the messages in id order (so runs
        never deadlock) and costs a few statements whatever their number."""
        if self.alone_rolled_up:
            return
        if len(self.messages) == 1 and len(self.final) == 1:
            [message_id], [(recipient_id, status)] = self.messages, self.final.items()
            if set_alone(message_id, recipient_id, status):
                return
        roll_up(sorted(self.messages))

    def _recorded(self, pairs: Sequence[tuple[Recipient, RecipientResult]],
                  seconds: float | Sequence[float] | None, deferrals: list[Deferral]) -> None:
        note_attempts(pairs, seconds, pool=_sender)
        queues = {r.id: r.message.queue for r, _ in pairs}
        for deferral in deferrals:
            self.deferrals[queues[deferral.recipient_id]].append(deferral)
        self.done.update(r.id for r, _ in pairs)


def deliver_claim(claim: Claim, config: Config) -> None:
    """Send what ``claim`` holds and record every outcome (its rows are ours until then). A claim its caller
    left uncommitted is committed with the first in-flight mark, before any mail is sent."""
    if not claim.ids:
        return
    run = _Run(claim, config)
    session = db.session()
    # The rows are ours for the run: keep what was loaded instead of reloading after every commit.
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    if claim.loaded is not None:
        recipients = list(claim.loaded)
        run.relayed.update(claim.relayed)
    else:
        recipients = _load(claim.ids, run.relayed)
    if any(r.message.raw_mime is None for r in recipients):
        db.session.commit()  # a claim left open is not held (on SQLite: the write lock) while mails are rendered
    run.messages.update(r.message_id for r in recipients)
    with LeaseKeeper(db.engine, claim.token, config.DELIVERY_LEASE_SECONDS):
        try:
            interrupted = [r for r in recipients if r.id in claim.interrupted]
            if interrupted:
                run.record([(r, RecipientResult(r.email, Outcome.AMBIGUOUS, response=INTERRUPTED))
                            for r in interrupted])
            _send_all(run, [r for r in recipients if r.id not in claim.interrupted])
        except LeaseLost as exc:
            _abort(run, recipients, exc)  # nothing is in flight: what is left and still ours is given back
        except BaseException as exc:
            _abort(run, recipients, exc)
            raise
        finally:
            _finish(run)
            session.expire_on_commit = expire_on_commit
            session.expunge_all()


def _load(ids: Sequence[uuid.UUID], relayed: set[uuid.UUID]) -> list[Recipient]:
    """The claimed rows with their messages: joined in one query for a few rows (mail one message at a time),
    in a second query for more (a broadcast's one message is not repeated on every row). Adds the tenants
    with a relay of their own to ``relayed``."""
    load = _LOAD_JOINED if len(ids) <= JOIN_MESSAGES_UP_TO else _LOAD_SELECTIN
    rows = db.session.execute(load, {"ids": list(ids)}).unique().all()
    relayed.update(recipient.tenant_id for recipient, has_relay in rows if has_relay)
    order = {rid: index for index, rid in enumerate(ids)}
    return sorted((recipient for recipient, _ in rows), key=lambda r: order[r.id])


def _send_all(run: _Run, recipients: list[Recipient]) -> None:
    by_owner: dict[uuid.UUID, list[Recipient]] = defaultdict(list)
    for recipient in recipients:
        by_owner[recipient.tenant_id].append(recipient)
    for position, (owner, group) in enumerate(by_owner.items()):
        server = smtp_server(run.config, str(owner), has_relay=owner in run.relayed)
        items, failures = _build_mails(group, run.config)
        chunks = _screened_chunks(run, items, failures, last_group=position == len(by_owner) - 1)
        for window in chunks:
            _send_chunk(run, server, window)


def _screened_chunks(run: _Run, items: list[_Item], failures: list[tuple[Recipient, RecipientResult]], *,
                     last_group: bool) -> list[_Window]:
    """Screen the built mails for suppressions right before SMTP and mark the first window in flight: the
    screening, the results it and the build gave and that mark share one commit (one mail at a time: one
    commit before the send instead of two). Returns a window per chunk, the first one open; the run's last
    rolls up its messages with its last results."""
    with atomic():
        if len(items) == 1 and len(items[0].recipients) == 1 and not failures:
            # One mail to one address (mail one message at a time): the mark screens it, one statement for two.
            # A row it leaves unmarked is suppressed or lost its lease: the general way below tells which.
            window = _Window(run, items, rolls_up=last_group)
            if window.open(0, unless_suppressed=suppression_params(items[0].recipients[0])):
                return [window]
        recipients = [r for item in items for r in item.recipients] + [r for r, _ in failures]
        _, suppressed = screen_before_send(recipients)
        blocked = {r.id for r, _ in suppressed}
        failures = [(r, result) for r, result in failures if r.id not in blocked]
        if suppressed or failures:
            run.record([*suppressed, *failures])
        items = _without(items, blocked)
        chunks = list(_chunks(items, CHUNK_MAILS))
        windows = [_Window(run, chunk, rolls_up=last_group and index == len(chunks) - 1)
                   for index, chunk in enumerate(chunks)]
        if windows:
            windows[0].open(0)
    _stop_if_lease_lost(run)
    return windows


def _without(items: list[_Item], blocked: set[uuid.UUID]) -> list[_Item]:
    """The mails without the ``blocked`` recipients (a shared mail keeps its others; an emptied one goes)."""
    if not blocked:
        return items
    kept = [_Item(item.sender, item.wire, item.message_id, [r for r in item.recipients if r.id not in blocked])
            for item in items]
    return [item for item in kept if item.recipients]


def _build_mails(
    recipients: list[Recipient], config: Config
) -> tuple[list[_Item], list[tuple[Recipient, RecipientResult]]]:
    """One mail per message for prebuilt MIME; one per recipient when rendered per recipient.

    With BOUNCE_DOMAIN each recipient has its own return path (VERP), so each gets its own mail.
    """
    shared: dict[uuid.UUID, _Item] = {}
    items: list[_Item] = []
    failures: list[tuple[Recipient, RecipientResult]] = []
    prepare_recipient_mails([r for r in recipients if r.message.raw_mime is None])
    for recipient in recipients:
        message = recipient.message
        sender = envelope_sender(config, message.sender, recipient.id)
        if message.raw_mime is not None:
            key = message.id if sender == message.sender else recipient.id
            item = shared.get(key)
            if item is None:
                item = _Item(sender, message.raw_mime, message.message_id_header, [])
                shared[key] = item
                items.append(item)
            item.recipients.append(recipient)
            continue
        try:
            wire, message_id = render_recipient_mail(message, recipient)
        except RecipientRenderError as exc:  # a mail that cannot be built fails this recipient alone, at once
            log.warning("per-recipient rendering failed", extra={"recipient_id": str(recipient.id)})
            response = f"could not render the message: {type(exc).__name__}"
            failures.append((recipient, RecipientResult(recipient.email, Outcome.FAILED, response=response,
                                                        error_code=ErrorCode.INVALID_MESSAGE)))
            continue
        items.append(_Item(sender, wire, message_id, [recipient]))
    return items, failures


def _chunks(items: list[_Item], size: int) -> Iterator[list[_Item]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _send_chunk(run: _Run, server: SmtpServer, window: _Window) -> None:
    """Send the window's chunk on one connection; each window's results and the next window's start share one
    commit."""
    if window.end == 0:  # not opened with the screening (a later chunk)
        with atomic():
            window.open(0)
        _stop_if_lease_lost(run)
    smtp_sender().send_batch(server, [item.mail for item in window.chunk], on_result=window.on_result)
    run.in_flight = []


@dataclass
class _Window:
    """The mails of a chunk marked in flight together, whose results are committed together."""

    run: _Run
    chunk: list[_Item]
    rolls_up: bool = False  # the run's last chunk: its last results and the messages' roll-up share one commit
    start: int = 0
    end: int = 0
    size: int = 1  # the first window is one mail: nothing is known yet about this server's pace
    seconds: list[float] = field(default_factory=list)
    opened_at: float = 0.0
    last_reply_at: float = 0.0

    def open(self, start: int, *, unless_suppressed: dict[str, object] | None = None) -> bool:
        """Mark chunk[start:start + size] as being tried, in the caller's transaction; True when every row was.
        ``unless_suppressed`` (a one-mail window's recipient's suppression_params): a row left unmarked may be
        suppressed, so the caller's general screen tells which; otherwise it lost its lease."""
        self.start, self.end = start, min(start + self.size, len(self.chunk))
        items = self.chunk[start:self.end]
        recipients = [r for item in items for r in item.recipients]
        marked = mark_attempt_started([r.id for r in recipients], self.run.claim.token,
                                      {r.id: item.message_id for item in items for r in item.recipients},
                                      unless_suppressed=unless_suppressed)
        if marked < len(recipients):
            if unless_suppressed is None:
                # Their lease ran out (a starved renewal) and another run took some: sending could send them twice.
                release_unattempted(self.run.claim.token, [r.id for r in recipients])
                self.run.lease_lost = True
            return False
        self.run.in_flight = [*self.run.in_flight, *recipients]
        self.opened_at = self.last_reply_at = time.monotonic()
        return True

    def on_result(self, index: int, results: list[RecipientResult]) -> None:
        now = time.monotonic()
        self.run.pending.extend(zip(self.chunk[index].recipients, results, strict=True))
        self.seconds.extend([now - self.last_reply_at] * len(results))
        self.last_reply_at = now
        if index + 1 < self.end:
            return
        per_mail = (now - self.opened_at) / (self.end - self.start)
        self.size = max(1, min(COMMIT_WINDOW_MAILS, int(COMMIT_WINDOW_SECONDS / max(per_mail, 1e-6))))
        pairs, seconds = self.run.pending, self.seconds
        if self.end == len(self.chunk) and self.rolls_up:
            _record_with_roll_up(self.run, pairs, seconds)
        else:
            with atomic():  # these results and the next window's start, together
                if self.end < len(self.chunk):
                    self.open(self.end)
                self.run.record(pairs, seconds)
        self.run.pending, self.seconds = [], []
        self.run.in_flight = [r for r in self.run.in_flight if r.id not in self.run.done]
        _stop_if_lease_lost(self.run)  # before the handler tries the next mail


class LeaseLost(Exception):
    """Rows of a run's claim were taken by another run after their lease ran out: the run sends no more."""


def _stop_if_lease_lost(run: _Run) -> None:
    """Called after the commit of a window's mark, so the results committed with it stay."""
    if run.lease_lost:
        raise LeaseLost("a lease ran out while its claim was being sent; another run took rows of it")


def _abort(run: _Run, recipients: list[Recipient], exc: BaseException) -> None:
    """The run was cut short (job timeout, shutdown, a bug): record the attempt in flight, release the rest."""
    log.warning("delivery interrupted by %s", type(exc).__name__)
    run.rolled_up = False  # what is recorded here changes the messages again
    try:
        db.session.rollback()
        answered = [(r, result) for r, result in run.pending if r.id not in run.done]
        known = {r.id for r, _ in answered}
        in_flight = [r for r in run.in_flight if r.id not in run.done and r.id not in known]
        response = f"delivery interrupted ({type(exc).__name__}); the message may have been delivered"
        run.record([*answered, *((r, RecipientResult(r.email, Outcome.AMBIGUOUS, response=response))
                                 for r in in_flight)])
        untried = [r.id for r in recipients if r.id not in run.done]
        with atomic():
            release_unattempted(run.claim.token, untried)
    except Exception:
        db.session.rollback()
        log.exception("could not record the interrupted run; its leases will run out and the sweeper retries")


class _RollUpFailed(Exception):
    pass


def _record_with_roll_up(run: _Run, pairs: Sequence[tuple[Recipient, RecipientResult]],
                         seconds: Sequence[float]) -> None:
    """The run's last results and its messages' roll-up in one transaction, no savepoint (two round trips
    fewer per one-message claim): a roll-up that fails takes the transaction down with it, so the results
    are written again in one of their own, and _finish rolls up in another. On PostgreSQL a one-message run's
    result may carry its roll-up in its own statement: a failure of that statement is treated alike."""
    try:
        with atomic():
            try:
                run.record(pairs, seconds, with_roll_up=True)
                run.roll_up()
            except Exception as exc:
                raise _RollUpFailed from exc
        run.rolled_up = True
    except _RollUpFailed:
        log.warning("message roll-up failed with the results; recording them alone", exc_info=True)
        with atomic():
            run.record(pairs, seconds)


def _finish(run: _Run) -> None:
    """Roll up the messages touched unless done with the last results, and schedule the retries (best
    effort: the sweeper backs both up)."""
    if not run.rolled_up:
        try:
            with atomic():
                roll_up(sorted(run.messages))
        except Exception:
            db.session.rollback()
            log.exception("message roll-up failed")
    for queue, deferrals in run.deferrals.items():
        requeue(deferrals, queue)
