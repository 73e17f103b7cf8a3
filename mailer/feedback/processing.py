"""Applying a stored report: match each finding to a recipient row, record it once, suppress when the rules say.

Matching is the token's alone (API.md §8): a ``b-`` token speaks for its own recipient's copy, so a
finding applies to that recipient when it names the recipient's address, or when it is the report's
only finding (forwards, aliases); any other finding is unmatched. The returned Message-ID never
selects a row: a custom message's Message-ID is shared by all its To/Cc recipients, who see each
other's addresses, so matching by it let one recipient bounce and suppress the others. A report can
therefore touch no row but its token's. The same report twice records one event (FeedbackRecord is
unique per recipient and report).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import func, insert, select

from mailer.extensions import atomic, current_unit, db
from mailer.feedback.reports import Finding, parse_report, report_identity
from mailer.feedback.unsubscribe import unsubscribe
from mailer.mail.recipient_tokens import TokenKind
from mailer.mail.recording import roll_up
from mailer.mail.suppressions import add_suppression, is_hard_bounce
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
from mailer.observability.feedback import observe_report
from mailer.smtp.results import ErrorCode
from mailer.webhooks.feedback_events import on_feedback_recorded

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
# Findings one recipient may collect in all: a real copy bounces once or is delayed a few times; a token
# holder mailing new reports (each a new Message-ID) would otherwise add an event and a webhook each.
MAX_FEEDBACK_PER_RECIPIENT = 20


@dataclass(frozen=True)
class Applied:
    recipient_id: uuid.UUID
    outcome: FeedbackOutcome
    new: bool


def process_report(report_id: uuid.UUID) -> ReportStatus | None:
    """Process one stored report (idempotent); returns its final status, None if there is no such report."""
    report = db.session.get(InboundReport, report_id)
    if report is None or report.status != ReportStatus.PENDING.value:
        return ReportStatus(report.status) if report else None
    report.attempts += 1
    db.session.commit()
    with atomic():
        return _process(report)


def _process(report: InboundReport) -> ReportStatus:
    if report.attempts > MAX_ATTEMPTS:
        return _finish(report, ReportStatus.FAILED, "gave up after repeated processing errors")
    anchor = db.session.get(Recipient, report.recipient_id)
    if anchor is None:
        return _unmatched(report, "the token's recipient no longer exists")
    if report.token_kind == TokenKind.UNSUBSCRIBE.value:
        unsubscribe(anchor, via="mailto")
        return _finish(report, ReportStatus.PROCESSED, "unsubscribed", [FeedbackOutcome.UNSUBSCRIBED.value])
    recorded = db.session.scalar(select(func.count()).select_from(FeedbackRecord)
                                 .where(FeedbackRecord.recipient_id == anchor.id)) or 0
    if recorded >= MAX_FEEDBACK_PER_RECIPIENT:
        return _unmatched(report, f"the recipient already has {recorded} feedback events (the most it takes)")
    findings = [f for f in parse_report(report.raw) if f.outcome is not None]
    if not findings:
        return _unmatched(report, "no bounce or complaint found in the report")
    key = report_identity(report.raw)
    applied: list[Applied] = []
    for finding in findings:
        recipient = match_recipient(anchor, finding, single=len(findings) == 1)
        if recipient is None:
            log.info("feedback finding matched no recipient", extra={"report_id": str(report.id)})
            continue
        applied.append(apply_finding(recipient, finding, key))
    if not applied:
        return _unmatched(report, "the report names no recipient of the token's tenant")
    roll_up(sorted({db.session.get(Recipient, a.recipient_id).message_id for a in applied}))
    summary = ", ".join(f"{a.outcome.value}{'' if a.new else ' (duplicate)'}" for a in applied)
    return _finish(report, ReportStatus.PROCESSED, summary, [a.outcome.value for a in applied if a.new])


def match_recipient(anchor: Recipient, finding: Finding, *, single: bool) -> Recipient | None:
    """The token's own recipient when the finding is about it, else None (never another row).

    A VERP return path belongs to one recipient's copy, so a report with a single finding is about
    that recipient even when the final address differs (a forward, an alias).
    """
    addresses = {a.lower() for a in (finding.email, finding.original_recipient) if a}
    if single or not addresses or anchor.email.lower() in addresses:
        return anchor
    return None


def apply_finding(recipient: Recipient, finding: Finding, report_key: str) -> Applied:
    """Record the finding on the recipient once; a failure after ``sent`` makes it ``bounced``. Caller commits."""
    seen = db.session.scalar(select(FeedbackRecord.id).where(
        FeedbackRecord.recipient_id == recipient.id, FeedbackRecord.report_key == report_key))
    if seen is not None:
        return Applied(recipient.id, finding.outcome, False)
    db.session.add(FeedbackRecord(tenant_id=recipient.tenant_id, recipient_id=recipient.id, report_key=report_key,
                                  kind=finding.outcome.value))
    db.session.execute(insert(DeliveryEvent.__table__), [{
        "id": uuid.uuid4(), "recipient_id": recipient.id, "tenant_id": recipient.tenant_id, "at": utcnow(),
        "outcome": finding.outcome.value, "smtp_code": finding.smtp_code, "enhanced_code": finding.status,
        "response": finding.response,
    }])
    if finding.outcome is FeedbackOutcome.BOUNCED and recipient.status == RecipientStatus.SENT.value:
        recipient.status = RecipientStatus.BOUNCED.value
        recipient.error_code = ErrorCode.BOUNCED.value
        recipient.last_error = finding.response
    if finding.outcome is FeedbackOutcome.BOUNCED and is_hard_bounce(finding.status):
        add_suppression(recipient.tenant_id, recipient.email, scope=SuppressionScope.ALL,
                        reason=SuppressionReason.HARD_BOUNCE, source_message_id=recipient.message_id,
                        enhanced_code=finding.status, detail=finding.response)
    elif finding.outcome is FeedbackOutcome.COMPLAINED:
        add_suppression(recipient.tenant_id, recipient.email, scope=SuppressionScope.ALL,
                        reason=SuppressionReason.COMPLAINT, source_message_id=recipient.message_id,
                        detail=finding.response)
    on_feedback_recorded(recipient_id=recipient.id, outcome=finding.outcome.value, smtp_code=finding.smtp_code,
                         enhanced_code=finding.status, response=finding.response)
    return Applied(recipient.id, finding.outcome, True)


def _unmatched(report: InboundReport, why: str) -> ReportStatus:
    log.warning("feedback report unmatched: %s", why, extra={"report_id": str(report.id)})
    return _finish(report, ReportStatus.UNMATCHED, why)


def _finish(report: InboundReport, status: ReportStatus, result: str, outcomes: Sequence[str] = ()) -> ReportStatus:
    report.status, report.result, report.processed_at = status.value, result[:2000], datetime.now(UTC)
    current_unit().after_commit(partial(observe_report, status.value, tuple(outcomes)))
    return status
