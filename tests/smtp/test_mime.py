"""The MIME message as built: structure, headers, encodings."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from mailer.smtp.mime import (
    Address,
    Attachment,
    MessageContent,
    build_message,
    html_to_text,
    make_message_id,
    needs_smtputf8,
    to_bytes,
)


def content(**kwargs) -> MessageContent:
    kwargs.setdefault("sender", Address("no-reply@shop.example", "Shop"))
    kwargs.setdefault("to", (Address("ann@example.com", "Ann"),))
    kwargs.setdefault("subject", "Hello")
    return MessageContent(**kwargs)


def parse(wire: bytes):
    return BytesParser(policy=policy.default).parsebytes(wire)


def test_text_only_is_a_single_part() -> None:
    message = parse(to_bytes(build_message(content(text="Hi.\n"))))
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n") == "Hi.\n"


def test_html_only_gets_a_derived_text_part() -> None:
    html = "<h1>Welcome</h1><ul><li>one</li><li>two</li></ul><p>Go <a href='https://x.example/v'>verify</a></p>"
    message = parse(to_bytes(build_message(content(html=html))))
    assert message.get_content_type() == "multipart/alternative"
    text, html_part = message.iter_parts()
    assert html_part.get_content().strip() == html
    body = text.get_content()
    assert "Welcome" in body and "* one" in body and "https://x.example/v" in body
    assert "<h1>" not in body


def test_full_tree_with_attachments_and_no_bcc_header() -> None:
    built = build_message(
        content(
            text="Hi",
            html="<p>Hi</p>",
            cc=(Address("cc@example.com"),),
            bcc=(Address("hidden@example.com"),),
            reply_to=Address("help@shop.example"),
            attachments=(
                Attachment("a.bin", "application/octet-stream", b"\x00\x01"),
                Attachment("b.txt", "text/plain", b"hey"),
            ),
            headers=(("X-Campaign", "q4"),),
        ),
        message_id="<1@shop.example>",
    )
    wire = to_bytes(built)
    message = parse(wire)
    assert message.get_content_type() == "multipart/mixed"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["multipart/alternative", "application/octet-stream", "text/plain"]
    assert parts[1].get_content() == b"\x00\x01" and parts[2].get_content() == "hey"
    assert message["Cc"] == "cc@example.com" and message["Reply-To"] == "help@shop.example"
    assert message["X-Campaign"] == "q4" and message["Message-ID"] == "<1@shop.example>"
    assert b"hidden" not in wire and message["Bcc"] is None
    assert wire.count(b"MIME-Version") == 1
    assert b"\r\n" in wire and b"\n" not in wire.replace(b"\r\n", b"")


def test_date_is_utc_and_message_id_on_sender_domain() -> None:
    """Date in UTC; the header registry writes formatdate's "GMT" as RFC 5322's "+0000"."""
    message = parse(to_bytes(build_message(content(text="x"))))
    assert message["Date"].endswith("+0000")
    assert parsedate_to_datetime(message["Date"]).utcoffset().total_seconds() == 0
    assert message["Message-ID"].endswith("@shop.example>")
    assert make_message_id("bücher.example").endswith("@xn--bcher-kva.example>")
    assert make_message_id("a.example") != make_message_id("a.example")


def test_utf8_headers_are_encoded_words() -> None:
    wire = to_bytes(build_message(content(subject="Grüße", text="é", sender=Address("a@shop.example", "Zoë"))))
    head = wire.split(b"\r\n\r\n")[0]
    assert head.isascii()
    message = parse(wire)
    assert message["Subject"] == "Grüße" and message["From"].addresses[0].display_name == "Zoë"


def test_non_ascii_local_part_is_written_as_utf8() -> None:
    built = build_message(content(to=(Address("jörg@example.com"),), text="x"))
    assert needs_smtputf8(built)
    wire = to_bytes(built)
    assert "To: jörg@example.com".encode() in wire
    assert not needs_smtputf8(build_message(content(text="x")))


def test_html_to_text_is_real_conversion() -> None:
    text = html_to_text("<p>a &amp; b</p><script>var x=1;</script><table><tr><td>c</td></tr></table>")
    assert "a & b" in text and "var x" not in text and "c" in text
