"""Applying stored reports, a claimed batch at a time: match each finding to a recipient row, record it once,
suppress when the rules say.

Matching is the token's alone (API.md §8): a ``b-`` token speaks for its own recipient's copy, so a
finding applies to that recipient when it names the recipient's address, or when it is the report's
only finding (forwards, aliases); any other finding is unmatched. The returned Message-ID never
selects a row: a custom message's Message-ID is shared by all its To/Cc recipients, who see each
other's addresses, so matching by it let one recipient bounce and suppress the others. A report can
therefore touch no row but its token's. The same report twice records one event (FeedbackRecord is
unique per recipient and report).

A batch is decided report by report, in arrival order, against what the batch's recipients already
have (loaded with one query) and what the reports before it in the batch added; its writes — events,
recipient statuses, suppressions and their audit events, webhook events, roll-ups, report statuses —
go out together in one transaction. A report that cannot be parsed is left to its lease; a batch whose
writes fail is retried report by report, so one bad report never holds the others back.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from mailer.extensions import atomic, current_unit, db
from mailer.feedback.bulk_suppressions import NewSuppression, add_suppressions
from mailer.feedback.claims import claim_reports
from mailer.feedback.reports import Finding, parse_report, report_identity
from mailer.feedback.unsubscribe import unsubscribe
from mailer.mail.recipient_tokens import TokenKind
from mailer.mail.recording import roll_up
from mailer.mail.suppressions import is_hard_bounce
from mailer.models import (
    DeliveryEvent,
    FeedbackOutcome,
    FeedbackRecord,
    InboundReport,
    Recipient,
    RecipientStatus,
    ReportStatus,
    SuppressionReason,
    SuppressionScope,
)
from mailer.models.types import utcnow
from mailer.observability.feedback import observe_reports
from mailer.smtp.results import ErrorCode
from mailer.webhooks import EventType, emit

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
# Findings one recipient may collect in all: a real copy bounces once or is delayed a few times; a token
# holder mailing new reports (each a new Message-ID) would otherwise add an event and a webhook each.
MAX_FEEDBACK_PER_RECIPIENT = 20
# Reports one claim takes: large enough that a storm costs a few statements per hundred reports, small
# enough that a batch commits well within a second (suppressions effective soon after arrival).
BATCH_SIZE = 100
LINGER_SECONDS = 1.0
POLL_SECONDS = 0.2
_EVENT_OF = {  # a delay or an unsubscribe tells no webhook
    FeedbackOutcome.BOUNCED: EventType.MESSAGE_BOUNCED,
    FeedbackOutcome.COMPLAINED: EventType.MESSAGE_COMPLAINED,
}
_UNSUBSCRIBE_KEY = "unsubscribe"  # unsubscribe.py records a mailto unsubscribe under this report key


@dataclass(frozen=True)
class Applied:
    recipient_id: uuid.UUID
    outcome: FeedbackOutcome
    new: bool


@dataclass
class _Batch:
    """What the batch's reports found (keys already recorded per recipient) and what they will write."""

    seen: dict[uuid.UUID, set[str]]
    records: list[dict[str, object]] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)
    suppressions: list[NewSuppression] = field(default_factory=list)
    webhooks: dict[EventType, list[tuple[uuid.UUID, dict[str, object]]]] = field(default_factory=dict)
    message_ids: set[uuid.UUID] = field(default_factory=set)
    observed: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def write(self) -> None:
        db.session.flush()  # the recipients' new statuses, before the events and the roll-up read them
        if self.records:
            db.session.execute(insert(FeedbackRecord.__table__), self.records)
            db.session.execute(insert(DeliveryEvent.__table__), self.events)
        add_suppressions(self.suppressions)
        for event_type, subjects in self.webhooks.items():
            emit(db.session, event_type, subjects)
        roll_up(sorted(self.message_ids))
        current_unit().after_commit(partial(observe_reports, self.observed))


def drain_reports(lease_seconds: int, keep_going: Callable[[], bool]) -> int:
    """Claim and process batches while ``keep_going()``, until none has come for LINGER_SECONDS; how many were done.

    Lingering keeps a storm's trickle on a job that has paid for its start (a bare worker's ~0.5 s of CPU),
    so a report arriving meanwhile is applied within POLL_SECONDS.
    """
    done = 0
    idle_since = time.monotonic()
    while keep_going():
        claimed = claim_reports(BATCH_SIZE, lease_seconds)
        if claimed:
            done += len(process_batch(claimed))
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= LINGER_SECONDS:
            break
        else:
            time.sleep(POLL_SECONDS)
    return done


def process_report(report_id: uuid.UUID, lease_seconds: int) -> ReportStatus | None:
    """Process one stored report now (idempotent): its status once done, None if there is no such report."""
    if claim_reports(1, lease_seconds, only=[report_id]):
        status = process_batch([report_id]).get(report_id)
        if status is not None:
            return status
    report = db.session.get(InboundReport, report_id)
    return report.status if report else None


def process_batch(report_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ReportStatus]:
    """Apply claimed reports in one transaction; their final statuses (a report left for a retry is absent)."""
    try:
        return _apply(report_ids)
    except SQLAlchemyError:
        if len(report_ids) == 1:
            raise
        log.warning("feedback batch failed; processing its reports one by one", exc_info=True,
                    extra={"reports": len(report_ids)})
    statuses: dict[uuid.UUID, ReportStatus] = {}
    for report_id in report_ids:
        try:
            statuses.update(_apply([report_id]))
        except SQLAlchemyError:  # left pending: claimable again when its lease ends, up to MAX_ATTEMPTS
            log.exception("feedback report failed", extra={"report_id": str(report_id)})
    return statuses


def _apply(report_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ReportStatus]:
    with atomic():
        reports = db.session.scalars(
            select(InboundReport).where(InboundReport.id.in_(list(report_ids)))
            .order_by(InboundReport.received_at).execution_options(populate_existing=True)
        ).all()
        anchors = {r.id: r for r in db.session.scalars(
            select(Recipient).where(Recipient.id.in_({report.recipient_id for report in reports})))}
        batch = _Batch(_recorded_keys(list(anchors)))
        statuses: dict[uuid.UUID, ReportStatus] = {}
        for report in reports:
            status = _decide(report, anchors.get(report.recipient_id), batch)
            if status is not None:
                statuses[report.id] = status
        batch.write()
    return statuses


def _recorded_keys(recipient_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    seen: dict[uuid.UUID, set[str]] = defaultdict(set)
    if recipient_ids:
        for recipient_id, key in db.session.execute(
            select(FeedbackRecord.recipient_id, FeedbackRecord.report_key)
            .where(FeedbackRecord.recipient_id.in_(recipient_ids))
        ).tuples():
            seen[recipient_id].add(key)
    return seen


def _decide(report: InboundReport, anchor: Recipient | None, batch: _Batch) -> ReportStatus | None:
    if report.attempts > MAX_ATTEMPTS:
        return _finish(report, batch, ReportStatus.FAILED, "gave up after repeated processing errors")
    if anchor is None:
        return _unmatched(report, batch, "the token's recipient no longer exists")
    if report.token_kind == TokenKind.UNSUBSCRIBE:
        unsubscribe(anchor, via="mailto")
        batch.seen[anchor.id].add(_UNSUBSCRIBE_KEY)
        return _finish(report, batch, ReportStatus.PROCESSED, "unsubscribed", [FeedbackOutcome.UNSUBSCRIBED])
    recorded = len(batch.seen[anchor.id])
    if recorded >= MAX_FEEDBACK_PER_RECIPIENT:
        return _unmatched(report, batch,
                          f"the recipient already has {recorded} feedback events (the most it takes)")
    try:
        findings = [f for f in parse_report(report.raw) if f.outcome is not None]
        key = report_identity(report.raw)
    except Exception:  # left pending: retried when its lease ends, up to MAX_ATTEMPTS, without the batch
        log.exception("feedback report could not be parsed", extra={"report_id": str(report.id)})
        return None
    if not findings:
        return _unmatched(report, batch, "no bounce or complaint found in the report")
    applied: list[Applied] = []
    for finding in findings:
        recipient = match_recipient(anchor, finding, single=len(findings) == 1)
        if recipient is None:
            log.info("feedback finding matched no recipient", extra={"report_id": str(report.id)})
            continue
        applied.append(apply_finding(recipient, finding, key, batch))
    if not applied:
        return _unmatched(report, batch, "the report names no recipient of the token's tenant")
    batch.message_ids.add(anchor.message_id)
    summary = ", ".join(f"{a.outcome}{'' if a.new else ' (duplicate)'}" for a in applied)
    return _finish(report, batch, ReportStatus.PROCESSED, summary, [a.outcome for a in applied if a.new])


def match_recipient(anchor: Recipient, finding: Finding, *, single: bool) -> Recipient | None:
    """The token's own recipient when the finding is about it, else None (never another row).

    A VERP return path belongs to one recipient's copy, so a report with a single finding is about
    that recipient even when the final address differs (a forward, an alias).
    """
    addresses = {a.lower() for a in (finding.email, finding.original_recipient) if a}
    if single or not addresses or anchor.email.lower() in addresses:
        return anchor
    return None


def apply_finding(recipient: Recipient, finding: Finding, report_key: str, batch: _Batch) -> Applied:
    """Record the finding on the recipient once (in ``batch``); a failure after ``sent`` makes it ``bounced``."""
    outcome = finding.outcome
    assert outcome is not None  # _decide keeps only findings with an outcome
    if report_key in batch.seen[recipient.id]:
        return Applied(recipient.id, outcome, False)
    batch.seen[recipient.id].add(report_key)
    now = utcnow()
    batch.records.append({"id": uuid.uuid4(), "tenant_id": recipient.tenant_id, "recipient_id": recipient.id,
                          "report_key": report_key, "kind": outcome, "created_at": now})
    batch.events.append({"id": uuid.uuid4(), "recipient_id": recipient.id, "tenant_id": recipient.tenant_id,
                         "at": now, "outcome": outcome, "smtp_code": finding.smtp_code,
                         "enhanced_code": finding.status, "response": finding.response})
    if outcome is FeedbackOutcome.BOUNCED and recipient.status == RecipientStatus.SENT:
        recipient.status = RecipientStatus.BOUNCED
        recipient.error_code = ErrorCode.BOUNCED
        recipient.last_error = finding.response
    if outcome is FeedbackOutcome.BOUNCED and is_hard_bounce(finding.status):
        batch.suppressions.append(NewSuppression(
            recipient.tenant_id, recipient.email, SuppressionScope.ALL, SuppressionReason.HARD_BOUNCE,
            source_message_id=recipient.message_id, enhanced_code=finding.status, detail=finding.response))
    elif outcome is FeedbackOutcome.COMPLAINED:
        batch.suppressions.append(NewSuppression(
            recipient.tenant_id, recipient.email, SuppressionScope.ALL, SuppressionReason.COMPLAINT,
            source_message_id=recipient.message_id, detail=finding.response))
    if outcome in _EVENT_OF:
        batch.webhooks.setdefault(_EVENT_OF[outcome], []).append((recipient.id, {
            "smtp_code": finding.smtp_code, "enhanced_code": finding.status, "response": finding.response}))
    return Applied(recipient.id, outcome, True)


def _unmatched(report: InboundReport, batch: _Batch, why: str) -> ReportStatus:
    log.warning("feedback report unmatched: %s", why, extra={"report_id": str(report.id)})
    return _finish(report, batch, ReportStatus.UNMATCHED, why)


def _finish(report: InboundReport, batch: _Batch, status: ReportStatus, result: str,
            outcomes: Sequence[str] = ()) -> ReportStatus:
    report.status, report.result, report.processed_at = status, result[:2000], datetime.now(UTC)
    report.lease_until = None
    batch.observed.append((status, tuple(outcomes)))
    return status
