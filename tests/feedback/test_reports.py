"""Reading reports: RFC 3464 DSNs, ARF complaints, non-standard bounces (flufl.bounce)."""

from __future__ import annotations

from mailer.feedback.reports import parse_report, report_identity
from mailer.models import FeedbackOutcome
from tests.feedback import samples

VERP = "b-token@bounces.mailer.test"


def test_a_postfix_dsn_gives_status_diagnostic_and_remote_mta() -> None:
    """Action failed → bounced, with Status, Diagnostic-Code, Remote-MTA and the returned Message-ID."""
    [finding] = parse_report(samples.postfix_dsn(to=VERP, verp=VERP, recipient="Ann@Example.com",
                                                 original_message_id="<m1@acme.test>"))
    assert finding.outcome is FeedbackOutcome.BOUNCED and finding.email == "ann@example.com"
    assert finding.status == "5.1.1" and finding.smtp_code == 550
    assert finding.diagnostic.startswith("550 5.1.1 <Ann@Example.com>: Recipient address rejected")
    assert finding.remote_mta == "mx.example.com" and finding.original_message_id == "<m1@acme.test>"


def test_a_delayed_dsn_is_a_delay() -> None:
    """Action delayed → delayed, keeping its 4.x.x status."""
    [finding] = parse_report(samples.postfix_dsn(to=VERP, verp=VERP, recipient="ann@example.com", action="delayed",
                                                 status="4.4.1", diagnostic="X-Postfix; connect to mx: timed out",
                                                 original_message_id="<m1@acme.test>"))
    assert finding.outcome is FeedbackOutcome.DELAYED and finding.status == "4.4.1"


def test_a_dsn_about_several_recipients_gives_one_finding_each() -> None:
    """Each per-recipient block is its own finding, with its own status."""
    findings = parse_report(samples.multi_dsn(to=VERP, verp=VERP, original_message_id="<m@acme.test>",
                                              failures=[("a@example.com", "5.1.1"), ("b@example.com", "5.7.1")]))
    assert [(f.email, f.status) for f in findings] == [("a@example.com", "5.1.1"), ("b@example.com", "5.7.1")]


def test_non_standard_bounces_are_read_by_flufl_bounce() -> None:
    """qmail's QSBMF and Exim's plain-text bounces: the failed address, its code, the original Message-ID."""
    [qmail] = parse_report(samples.qmail_bounce(to=VERP, recipient="gone@example.org",
                                                original_message_id="<m2@acme.test>"))
    [exim] = parse_report(samples.exim_bounce(to=VERP, recipient="gone@example.co.uk",
                                              original_message_id="<m3@acme.test>"))
    assert (qmail.outcome, qmail.email, qmail.status) == (FeedbackOutcome.BOUNCED, "gone@example.org", "5.1.1")
    assert qmail.original_message_id == "<m2@acme.test>"
    assert (exim.outcome, exim.email, exim.status) == (FeedbackOutcome.BOUNCED, "gone@example.co.uk", "5.1.1")


def test_an_arf_abuse_report_is_a_complaint_and_not_spam_is_not() -> None:
    """Feedback-Type abuse → complained (Original-Rcpt-To); not-spam → nothing."""
    [finding] = parse_report(samples.arf_complaint(to=VERP, recipient="ann@example.com",
                                                   original_message_id="<m4@acme.test>"))
    assert finding.outcome is FeedbackOutcome.COMPLAINED and finding.email == "ann@example.com"
    assert finding.original_message_id == "<m4@acme.test>" and finding.remote_mta == "mail.fbl.example.net"
    assert parse_report(samples.arf_complaint(to=VERP, recipient="ann@example.com", feedback_type="not-spam",
                                              original_message_id="<m4@acme.test>")) == []


def test_an_auto_reply_says_nothing() -> None:
    """An out-of-office reply is neither a bounce nor a complaint."""
    assert parse_report(samples.auto_reply(to=VERP)) == []


def test_the_same_report_has_the_same_identity_whatever_the_trace_headers() -> None:
    """A report delivered twice (another Received line in front) is recognised as the same one."""
    raw = samples.postfix_dsn(to=VERP, verp=VERP, recipient="ann@example.com", original_message_id="<m1@acme.test>")
    again = b"Received: from relay2 by mx; Tue, 1 Dec 2026 22:01:00 +0000\r\n" + raw
    other = samples.postfix_dsn(to=VERP, verp=VERP, recipient="ann@example.com", original_message_id="<m1@acme.test>",
                                report_id="<other@mx.example.net>")
    assert report_identity(raw) == report_identity(again) != report_identity(other)
