"""Validation before anything is queued: each violation names its field."""

from __future__ import annotations

import base64

import pytest

from mailer.smtp.validation import (
    ErrorCollector,
    FieldError,
    MessageTooLargeError,
    MessageValidationError,
    check_content_type,
    check_custom_headers,
    check_display_name,
    check_filename,
    check_recipient_count,
    check_size,
    check_subject,
    decode_attachment,
    normalize_address,
)


def fields(exc: pytest.ExceptionInfo[MessageValidationError]) -> list[str]:
    return [error.field for error in exc.value.errors]


def test_address_normalized_with_idn_domain_in_punycode() -> None:
    assert normalize_address("ann@Example.COM", field="to[0]") == "ann@example.com"
    assert normalize_address("ann@bücher.example", field="to[0]") == "ann@xn--bcher-kva.example"
    assert normalize_address("jörg@example.com", field="to[0]") == "jörg@example.com"


@pytest.mark.parametrize(
    "value",
    ["", "no-at-sign", "a@", "@example.com", "a b@example.com", "Ann <ann@example.com>", "a@example.com\r\nBcc: x@y.z"],
)
def test_bad_addresses_name_the_field(value: str) -> None:
    with pytest.raises(MessageValidationError) as exc:
        normalize_address(value, field="to[2]")
    assert fields(exc) == ["to[2]"]


def test_address_length_limits() -> None:
    """Local part at most 64 octets, the whole address at most 254."""
    normalize_address("a" * 64 + "@example.com", field="to[0]")
    with pytest.raises(MessageValidationError):
        normalize_address("a" * 65 + "@example.com", field="to[0]")
    domain = ".".join(["d" * 61, "d" * 60, "d" * 60]) + ".example"  # 191 chars
    normalize_address("a" * 62 + "@" + domain, field="cc[0]")  # 254
    with pytest.raises(MessageValidationError) as exc:
        normalize_address("a" * 63 + "@" + domain, field="cc[0]")  # 255
    assert fields(exc) == ["cc[0]"]


@pytest.mark.parametrize("value", ["Hi\r\nBcc: victim@example.com", "Hi\nthere", "Hi\rthere", "nul\x00"])
def test_subject_rejects_line_breaks(value: str) -> None:
    with pytest.raises(MessageValidationError) as exc:
        check_subject(value)
    assert fields(exc) == ["subject"]


def test_subject_length_limit() -> None:
    assert check_subject("x" * 998) == "x" * 998
    with pytest.raises(MessageValidationError):
        check_subject("x" * 999)
    assert check_subject("Grüße\tund mehr") == "Grüße\tund mehr"


def test_display_name_rejects_injection() -> None:
    assert check_display_name("Ann O'Neil, PhD", field="to[0].name") == "Ann O'Neil, PhD"
    with pytest.raises(MessageValidationError) as exc:
        check_display_name("Ann\r\nBcc: victim@example.com", field="to[1].name")
    assert fields(exc) == ["to[1].name"]


def test_custom_headers_only_x_headers() -> None:
    assert check_custom_headers({"X-Campaign": "q4", "X-Ref_ID.2": "a"}) == (("X-Campaign", "q4"), ("X-Ref_ID.2", "a"))


@pytest.mark.parametrize(
    "name", ["From", "To", "Cc", "Bcc", "Message-ID", "Date", "Subject", "Reply-To", "Content-Type", "Campaign"]
)
def test_custom_headers_refuse_non_x_names(name: str) -> None:
    """A caller can never override From, Message-ID and the like."""
    with pytest.raises(MessageValidationError) as exc:
        check_custom_headers({name: "x"})
    assert fields(exc) == [f"headers.{name}"]


@pytest.mark.parametrize("name", ["X-", "X Bad", "X-Bad:", "X-Ü"])
def test_custom_headers_refuse_bad_name_chars(name: str) -> None:
    with pytest.raises(MessageValidationError):
        check_custom_headers({name: "x"})


def test_custom_headers_report_every_bad_one() -> None:
    """Injection in a value, a duplicate and a forbidden name: all reported at once."""
    with pytest.raises(MessageValidationError) as exc:
        check_custom_headers({"X-A": "ok\r\nFrom: evil@example.com", "From": "evil@example.com", "x-a": "again"})
    assert fields(exc) == ["headers.X-A", "headers.From", "headers.x-a"]


def test_attachment_strict_base64() -> None:
    assert decode_attachment(base64.b64encode(b"%PDF-1.7").decode(), field="attachments[0].content") == b"%PDF-1.7"
    for bad in ["not base64!", "QUJD\nREVG", "QUJDRA", "QUJD=="]:
        with pytest.raises(MessageValidationError) as exc:
            decode_attachment(bad, field="attachments[0].content")
        assert fields(exc) == ["attachments[0].content"]


def test_attachment_filename_and_type() -> None:
    assert check_content_type("Application/PDF", field="attachments[0].content_type") == "application/pdf"
    assert check_filename("résumé.pdf", field="attachments[0].filename") == "résumé.pdf"
    for bad in ["pdf", "application/", "text/plain\r\nX: y"]:
        with pytest.raises(MessageValidationError):
            check_content_type(bad, field="attachments[0].content_type")
    for bad in ["../etc/passwd", "a\r\nb.txt", " "]:
        with pytest.raises(MessageValidationError):
            check_filename(bad, field="attachments[0].filename")


def test_recipient_count() -> None:
    assert check_recipient_count(100, 100) == 100
    for n in (0, 101):
        with pytest.raises(MessageValidationError) as exc:
            check_recipient_count(n, 100)
        assert fields(exc) == ["to"]


def test_size_limit_has_its_own_error() -> None:
    """Over MAX_MESSAGE_BYTES is a 413, not a 422: a distinct exception type."""
    assert check_size(b"x" * 10, 10) == 10
    with pytest.raises(MessageTooLargeError) as exc:
        check_size(b"x" * 11, 10)
    assert (exc.value.size, exc.value.limit) == (11, 10)
    assert not isinstance(exc.value, MessageValidationError)


def test_collector_gathers_all_errors() -> None:
    collector = ErrorCollector()
    assert collector.check(normalize_address, "ann@example.com", field="to[0]") == "ann@example.com"
    assert collector.check(normalize_address, "bad", field="to[1]") is None
    assert collector.check(check_subject, "a\nb") is None
    with pytest.raises(MessageValidationError) as exc:
        collector.raise_if_any()
    assert fields(exc) == ["to[1]", "subject"]
    assert isinstance(exc.value.errors[0], FieldError)
