"""One claim's run: send the claimed recipients over pooled connections, write every result.

The database decides what is due; a job carries recipient ids only, so running one twice
is harmless: what is sent, failed, or held by another live lease is skipped. Each mail's
result is committed as soon as its reply arrives, in the same commit that marks the next mail
as in flight, so a worker killed mid-transfer leaves exactly the one mail in flight on its
connection unknown; that row comes back when its lease ends and its retry is recorded as
``ambiguous`` (the one window in which a second copy may go out, with the same Message-ID).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from mailer.config import Config
from mailer.extensions import db
from mailer.feedback.suppressions import screen_before_send
from mailer.feedback.tokens import envelope_sender
from mailer.mail.leases import Claim, LeaseKeeper, claim_recipients, release_unattempted
from mailer.mail.outbox import schedule_retries
from mailer.mail.per_recipient import RecipientRenderError, render_recipient_mail
from mailer.mail.recording import Attempt, Deferral, mark_attempt_started, record_attempts, roll_up
from mailer.mail.transport import smtp_server
from mailer.models import Recipient
from mailer.observability.attempts import note_attempts
from mailer.smtp.handler import OutgoingMail, SmtpHandler
from mailer.smtp.results import ErrorCode, Outcome, RecipientResult
from mailer.smtp.settings import SmtpServer

log = logging.getLogger(__name__)

# Mails handed to the SMTP handler per call (one pooled connection); each result is committed at once.
CHUNK_MAILS = 100
INTERRUPTED = "the worker stopped during this attempt; the message may have been delivered"

_handler: SmtpHandler | None = None


def smtp_handler() -> SmtpHandler:
    """One handler (and so one connection pool) per process."""
    global _handler
    if _handler is None:
        _handler = SmtpHandler()
    return _handler


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
    done: set[uuid.UUID] = field(default_factory=set)

    def record(self, pairs: Sequence[tuple[Recipient, RecipientResult]], seconds: float | None = None) -> None:
        attempts = [Attempt(r.id, r.tenant_id, r.attempts, result) for r, result in pairs]
        deferrals = record_attempts(attempts, self.claim.token, self.config)
        db.session.commit()
        note_attempts(pairs, seconds, pool=_handler)
        queues = {r.id: r.message.queue for r, _ in pairs}
        for deferral in deferrals:
            self.deferrals[queues[deferral.recipient_id]].append(deferral)
        self.done.update(r.id for r, _ in pairs)


def deliver_batch(recipient_ids: Sequence[uuid.UUID]) -> None:
    """Deliver whichever of these recipients are due; every outcome ends up in the database."""
    config: Config = current_app.config["MAILER"]
    deliver_claim(claim_recipients(recipient_ids, config.DELIVERY_LEASE_SECONDS), config)


def deliver_claim(claim: Claim, config: Config) -> None:
    """Send what ``claim`` holds and record every outcome (its rows are ours until then)."""
    if not claim.ids:
        return
    run = _Run(claim, config)
    session = db.session()
    # The rows are ours for the run: keep what was loaded instead of reloading after every commit.
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    recipients = _load(claim.ids)
    run.messages.update(r.message_id for r in recipients)
    with LeaseKeeper(db.engine, claim.token, config.DELIVERY_LEASE_SECONDS):
        try:
            interrupted = [r for r in recipients if r.id in claim.interrupted]
            if interrupted:
                run.record([(r, RecipientResult(r.email, Outcome.AMBIGUOUS, response=INTERRUPTED))
                            for r in interrupted])
            _send_all(run, [r for r in recipients if r.id not in claim.interrupted])
        except BaseException as exc:
            _abort(run, recipients, exc)
            raise
        finally:
            _finish(run)
            session.expire_on_commit = expire_on_commit
            session.expunge_all()


def _load(ids: Sequence[uuid.UUID]) -> list[Recipient]:
    rows = db.session.scalars(
        select(Recipient).where(Recipient.id.in_(list(ids))).options(selectinload(Recipient.message))
    ).all()
    order = {rid: index for index, rid in enumerate(ids)}
    return sorted(rows, key=lambda r: order[r.id])


def _send_all(run: _Run, recipients: list[Recipient]) -> None:
    by_owner: dict[uuid.UUID, list[Recipient]] = defaultdict(list)
    for recipient in recipients:
        by_owner[recipient.tenant_id].append(recipient)
    for owner, group in by_owner.items():
        server = smtp_server(run.config, str(owner))
        group, suppressed = screen_before_send(group)
        if suppressed:
            run.record(suppressed)
        items, failures = _build_mails(group, run.config)
        if failures:
            run.record(failures)
        for chunk in _chunks(items, CHUNK_MAILS):
            _send_chunk(run, server, chunk)


def _build_mails(
    recipients: list[Recipient], config: Config
) -> tuple[list[_Item], list[tuple[Recipient, RecipientResult]]]:
    """One mail per message for prebuilt MIME; one per recipient when rendered per recipient.

    With BOUNCE_DOMAIN each recipient has its own return path (VERP), so each gets its own mail.
    """
    shared: dict[uuid.UUID, _Item] = {}
    items: list[_Item] = []
    failures: list[tuple[Recipient, RecipientResult]] = []
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


def _send_chunk(run: _Run, server: SmtpServer, chunk: list[_Item]) -> None:
    """Send the chunk on one connection; each mail's result and the next mail's start share one commit."""
    def mark_started(index: int) -> None:
        item = chunk[index]
        mark_attempt_started([r.id for r in item.recipients], run.claim.token,
                             {r.id: item.message_id for r in item.recipients})
        run.in_flight = list(item.recipients)

    started = time.monotonic()

    def on_result(index: int, results: list[RecipientResult]) -> None:
        nonlocal started
        seconds = time.monotonic() - started
        if index + 1 < len(chunk):
            mark_started(index + 1)
        run.record(list(zip(chunk[index].recipients, results, strict=True)), seconds)  # commits both
        started = time.monotonic()

    mark_started(0)
    db.session.commit()
    started = time.monotonic()
    smtp_handler().send_batch(server, [item.mail for item in chunk], on_result=on_result)
    run.in_flight = []


def _abort(run: _Run, recipients: list[Recipient], exc: BaseException) -> None:
    """The run was cut short (job timeout, shutdown, a bug): record the attempt in flight, release the rest."""
    log.warning("delivery interrupted by %s", type(exc).__name__)
    try:
        db.session.rollback()
        in_flight = [r for r in run.in_flight if r.id not in run.done]
        response = f"delivery interrupted ({type(exc).__name__}); the message may have been delivered"
        run.record([(r, RecipientResult(r.email, Outcome.AMBIGUOUS, response=response)) for r in in_flight])
        untried = [r.id for r in recipients if r.id not in run.done]
        release_unattempted(run.claim.token, untried)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not record the interrupted run; its leases will run out and the sweeper retries")


def _finish(run: _Run) -> None:
    """Roll up the messages touched and schedule the retries (best effort: the sweeper backs both up)."""
    try:
        roll_up(sorted(run.messages))
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("message roll-up failed")
    for queue, deferrals in run.deferrals.items():
        schedule_retries(deferrals, queue)
