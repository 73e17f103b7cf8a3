"""Reply parsing and classification (API.md §4)."""

from __future__ import annotations

import pytest

from mailer.smtp.replies import Reply, classify
from mailer.smtp.results import ErrorCode, Outcome


@pytest.mark.parametrize(
    ("code", "text", "enhanced"),
    [
        (550, "5.1.1 <x@y> User unknown", "5.1.1"),
        (451, "4.7.1 Greylisted", "4.7.1"),
        (250, "2.0.0 Ok: queued as ABC", "2.0.0"),
        (550, "User unknown", None),
        (550, "4.1.1 mismatched class", None),
        (554, "5.7.1.2 not a code", None),
    ],
)
def test_enhanced_code(code: int, text: str, enhanced: str | None) -> None:
    assert Reply(code, text).enhanced_code == enhanced


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("4.7.1 Greylisted, try again in 5 minutes", 300.0),
        ("4.7.0 retry in 30 seconds", 30.0),
        ("Please try again later in 2 hours", 7200.0),
        ("4.7.1 Greylisted, please retry after 300s", 300.0),
        ("4.3.0 Temporary failure", None),
        ("4.5.3 Too many recipients, at most 100 max", None),
    ],
)
def test_retry_after(text: str, seconds: float | None) -> None:
    assert Reply(451, text).retry_after == seconds


def test_retry_after_only_for_transient() -> None:
    assert Reply(550, "5.0.0 try again in 5 minutes").retry_after is None


def test_classification_by_step() -> None:
    assert (
        classify("a", Reply(550, "5.1.1 no"), ErrorCode.RECIPIENT_REJECTED).error_code is ErrorCode.RECIPIENT_REJECTED
    )
    assert classify("a", Reply(552, "5.2.2 mailbox full"), ErrorCode.RECIPIENT_REJECTED).error_code is (
        ErrorCode.RECIPIENT_REJECTED
    )
    assert classify("a", Reply(553, "no"), ErrorCode.SENDER_REJECTED).error_code is ErrorCode.SENDER_REJECTED
    assert classify("a", Reply(554, "5.7.1 spam"), ErrorCode.CONTENT_REJECTED).error_code is ErrorCode.CONTENT_REJECTED
    assert classify("a", Reply(552, "too big"), ErrorCode.CONTENT_REJECTED).error_code is ErrorCode.MESSAGE_TOO_LARGE
    assert classify("a", Reply(554, "5.3.4 too big"), ErrorCode.CONTENT_REJECTED).error_code is (
        ErrorCode.MESSAGE_TOO_LARGE
    )
    for reply in (Reply(421, "4.3.2 bye"), Reply(450, "busy"), Reply.none("timed out")):
        result = classify("a", reply, ErrorCode.CONTENT_REJECTED)
        assert result.outcome is Outcome.DEFERRED and result.error_code is None


def test_too_many_recipients() -> None:
    assert Reply(452, "4.5.3 Too many recipients").too_many_recipients
    assert Reply(552, "5.5.3 Too many recipients").too_many_recipients
    assert not Reply(552, "5.2.2 Mailbox full").too_many_recipients
