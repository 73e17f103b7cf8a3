"""One delivery job: claim a batch of recipients, send it over pooled connections, write every result.

The database decides what is due; a job carries recipient ids only, so running one twice
is harmless: what is sent, failed, or held by another live lease is skipped. Results are
committed a chunk at a time, so a worker killed mid-batch loses at most one chunk's
results; those rows come back when their lease ends and their retry is recorded as
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
from mailer.mail.leases import Claim, LeaseKeeper, claim_recipients, release_unattempted
from mailer.mail.outbox import schedule_retries
from mailer.mail.personalize import RecipientRenderError, render_recipient_mail
from mailer.mail.recording import Attempt, Deferral, mark_attempt_started, record_attempts, roll_up
from mailer.mail.transport import smtp_server
from mailer.models import Recipient
from mailer.observability.attempts import note_attempts
from mailer.smtp.handler import OutgoingMail, SmtpHandler
from mailer.smtp.results import ErrorCode, Outcome, RecipientResult
from mailer.smtp.settings import SmtpServer

log = logging.getLogger(__name__)

# Mails handed to the SMTP handler per call (one pooled connection); results are committed after each.
CHUNK_MAILS = 20
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
    claim = claim_recipients(recipient_ids, config.DELIVERY_LEASE_SECONDS)
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
            run.record([(r, RecipientResult(r.email, Outcome.AMBIGUOUS, response=INTERRUPTED)) for r in interrupted])
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
        items, failures = _build_mails(group)
        if failures:
            run.record(failures)
        for chunk in _chunks(items, CHUNK_MAILS):
            _send_chunk(run, server, chunk)


def _build_mails(recipients: list[Recipient]) -> tuple[list[_Item], list[tuple[Recipient, RecipientResult]]]:
    """One mail per message for prebuilt MIME; one per recipient when rendered per recipient."""
    shared: dict[uuid.UUID, _Item] = {}
    items: list[_Item] = []
    failures: list[tuple[Recipient, RecipientResult]] = []
    for recipient in recipients:
        message = recipient.message
        if message.raw_mime is not None:
            item = shared.get(message.id)
            if item is None:
                item = _Item(message.sender, message.raw_mime, message.message_id_header, [])
                shared[message.id] = item
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
        items.append(_Item(message.sender, wire, message_id, [recipient]))
    return items, failures


def _chunks(items: list[_Item], size: int) -> Iterator[list[_Item]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _send_chunk(run: _Run, server: SmtpServer, chunk: list[_Item]) -> None:
    rows = [r for item in chunk for r in item.recipients]
    mark_attempt_started([r.id for r in rows], run.claim.token,
                         {r.id: item.message_id for item in chunk for r in item.recipients})
    db.session.commit()
    run.in_flight = rows
    started = time.monotonic()
    results = smtp_handler().send_batch(server, [item.mail for item in chunk])
    seconds = time.monotonic() - started
    pairs = [
        (recipient, result)
        for item, mail_results in zip(chunk, results, strict=True)
        for recipient, result in zip(item.recipients, mail_results, strict=True)
    ]
    run.record(pairs, seconds)
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
