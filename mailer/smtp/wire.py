"""A message's wire bytes written directly: what mime.py's ``to_bytes(build_message(...))`` writes, without
building the `email` package's message objects, which cost most of a request's MIME step.

Written here: a text part, or multipart/alternative[text, html], each part encoded by set_content's rules
(7bit, 8bit, quoted-printable or base64), and the headers whose plain ASCII value fits one line. A header this
module is not sure it writes as the `email` package does (non-ASCII, quoting, folding, encoded words) is folded
by the `email` package alone, one header at a time. A message with attachments, with a custom header the
package's registry knows, or whose boundary occurs in a part is built whole by the `email` package.
tests/smtp/test_wire.py compares both writers byte for byte.
"""

from __future__ import annotations

import binascii
import functools
import re
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email import quoprimime
from email.policy import SMTP, SMTPUTF8, EmailPolicy
from email.policy import default as DEFAULT_POLICY
from email.utils import format_datetime

from mailer.smtp.mime import (
    Address,
    MessageContent,
    build_message,
    html_to_text,
    make_message_id,
    message_id_domain,
    to_bytes,
)

_MAX_LINE = 78  # the SMTP policies' max_line_length: a longer header line is folded
_PLAIN_NAME = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
# Printable ASCII words, single spaces between them; "=?" would be read back as an encoded word.
_PLAIN_TEXT = re.compile(r"(?!.*=\?)[!-~]+(?: [!-~]+)*")
_PLAIN_ID = re.compile(r"<[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+>")
_KNOWN_HEADERS = frozenset(SMTP.header_factory.registry)
_PART_HEAD = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: {}\r\n'


def message_bytes(content: MessageContent, *, message_id: str | None = None) -> bytes:
    """``to_bytes(build_message(content, message_id=message_id))``, byte for byte (a new boundary of the same form,
    the Date of this second). Raises what they raise for a header value they refuse."""
    if message_id is None:
        message_id = make_message_id(message_id_domain(content.sender.email))
    if content.attachments or any(name.lower() in _KNOWN_HEADERS for name, _ in content.headers):
        return to_bytes(build_message(content, message_id=message_id))
    policy = SMTPUTF8 if any(needs_utf8(address) for address in _address_fields(content)) else SMTP
    head = _headers(content, message_id, policy)
    text = content.text if content.text is not None else html_to_text(content.html or "")
    if content.html is None:
        cte, body = encode_body(text)
        return b"".join([head, _PART_HEAD.format("plain", cte).encode("ascii"), b"MIME-Version: 1.0\r\n\r\n", body])
    boundary = new_boundary().encode("ascii")
    parts = encode_part("plain", text), encode_part("html", content.html)
    if any(boundary in part for part in parts):
        return to_bytes(build_message(content, message_id=message_id))
    delimiter = b"--" + boundary
    return b"".join([
        head, b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="', boundary, b'"\r\n\r\n',
        delimiter, b"\r\n", parts[0], b"\r\n", delimiter, b"\r\n", parts[1], b"\r\n", delimiter, b"--\r\n",
    ])


def _address_fields(content: MessageContent) -> tuple[Address, ...]:
    return (content.sender, *content.to, *content.cc, *((content.reply_to,) if content.reply_to else ()))


def _headers(content: MessageContent, message_id: str, policy: EmailPolicy) -> bytes:
    lines = [address_line("From", (content.sender,), policy), address_line("To", content.to, policy)]
    if content.cc:
        lines.append(address_line("Cc", content.cc, policy))
    if content.reply_to:
        lines.append(address_line("Reply-To", (content.reply_to,), policy))
    lines += [text_line("Subject", content.subject, policy), b"Date: " + date_value().encode("ascii") + b"\r\n"]
    if _PLAIN_ID.fullmatch(message_id) and len(message_id) <= _MAX_LINE - len("Message-ID: "):
        lines.append(b"Message-ID: " + message_id.encode("ascii") + b"\r\n")
    else:
        lines.append(fold("Message-ID", message_id, policy))
    lines += [text_line(name, value, policy) for name, value in content.headers]
    return b"".join(lines)


def new_boundary() -> str:
    """A random boundary of the form the `email` generator makes (19 digits between runs of "="), so a header
    holding it folds as the generator's does."""
    return f"==============={secrets.randbelow(10**19):019d}=="


def needs_utf8(address: Address) -> bool:
    """A non-ASCII local part: the message is written as UTF-8 (RFC 6532) and sent with SMTPUTF8."""
    return not address.email.rpartition("@")[0].isascii()


def fold(name: str, value: object, policy: EmailPolicy) -> bytes:
    """One header as the `email` package writes it under ``policy`` (CRLF-ended)."""
    return policy.fold_binary(name, policy.header_store_parse(name, value)[1])


def address_line(name: str, addresses: Sequence[Address], policy: EmailPolicy) -> bytes:
    """An address header (From, To, Cc, Reply-To) as the `email` package writes it."""
    value = ", ".join(f"{address.name} <{address.email}>" if address.name else address.email for address in addresses)
    if addresses and len(name) + 2 + len(value) <= _MAX_LINE and all(map(_plain, addresses)):
        return f"{name}: {value}\r\n".encode("ascii")
    return fold(name, [address.header() for address in addresses], policy)


def _plain(address: Address) -> bool:
    return bool((not address.name or _PLAIN_NAME.fullmatch(address.name)) and _PLAIN_ADDRESS.fullmatch(address.email))


def text_line(name: str, value: str, policy: EmailPolicy) -> bytes:
    """An unstructured header (Subject, a custom header) as the `email` package writes it."""
    if len(name) + 2 + len(value) <= _MAX_LINE and _PLAIN_TEXT.fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return fold(name, value, policy)


def date_value(now: float | None = None) -> str:
    """The Date header's value as the `email` package writes what build_message sets (UTC, +0000)."""
    return _date_at(int(time.time() if now is None else now))


@functools.lru_cache(maxsize=4)
def _date_at(second: int) -> str:  # a worker writes hundreds of copies a second
    return format_datetime(datetime.fromtimestamp(second, UTC))


def encode_part(subtype: str, text: str) -> bytes:
    """A text part as set_content writes it into a multipart message (headers, blank line, body), SMTP policy."""
    cte, body = encode_body(text)
    return _PART_HEAD.format(subtype, cte).encode("ascii") + b"\r\n" + body


def encode_body(text: str) -> tuple[str, bytes]:
    """A text part's Content-Transfer-Encoding and body (CRLF line ends) as set_content chooses and writes them."""
    data = text.encode("utf-8")
    lines = data.splitlines()
    if max(map(len, lines), default=0) <= DEFAULT_POLICY.max_line_length:
        return ("7bit" if data.isascii() else "8bit"), b"\r\n".join(lines) + b"\r\n"
    known = _QP_LINES.get  # a C call per line; a line not kept yet (a copy's name, link) is encoded by _qp_line
    sniff = lines[:10]
    qp_length = sum((known(line) or _qp_line(line))[1] for line in sniff) + len(sniff)
    if qp_length > len(binascii.b2a_base64(b"\n".join([*sniff, b""]))):
        data = b"\n".join([*lines, b""])
        step = DEFAULT_POLICY.max_line_length // 4 * 3
        body = b"".join(binascii.b2a_base64(data[i:i + step]) for i in range(0, len(data), step))
        return "base64", body.replace(b"\n", b"\r\n")
    encoded = [(known(line) or _qp_line(line))[0] for line in lines]
    return "quoted-printable", b"\r\n".join(encoded) + b"\r\n"


_QP_LINES: dict[bytes, tuple[bytes, int]] = {}
_QP_LINES_KEPT = 8192


def _qp_line(line: bytes) -> tuple[bytes, int]:
    """One line of a part (no line break) not in _QP_LINES, quoted-printable encoded as set_content encodes it,
    soft breaks CRLF, and the length body_encode gives it (LF soft breaks), which the choice of encoding compares;
    kept in _QP_LINES (emptied when full).

    body_encode works line by line, so a part is its lines' encodings joined: the lines a broadcast's copies
    share (its layout, most of the HTML) are encoded once per process, not once per copy."""
    encoded = quoprimime.body_encode(line.decode("latin-1"), DEFAULT_POLICY.max_line_length)
    found = encoded.replace("\n", "\r\n").encode("latin-1"), len(encoded)
    if len(_QP_LINES) >= _QP_LINES_KEPT:
        _QP_LINES.clear()
    _QP_LINES[line] = found
    return found
