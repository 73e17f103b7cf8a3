"""A message an application submitted over SMTP (API.md §13), kept as the application made it.

Only the header block changes: a ``Received:`` trace header is prepended (RFC 5321 §4.4), ``Message-ID``
and ``Date`` are added when missing, ``Bcc:`` is removed, and ``X-Mailer-Tag`` / ``X-Mailer-Metadata-<key>``
/ ``X-Mailer-Idempotency-Key`` are read and removed; then the tenant's DKIM signature goes on top. The
header lines that stay and every byte of the body (its MIME structure, transfer encodings) are the
application's own. The result is stored as the message's wire form and sent as it is (mail/delivery).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import formatdate, getaddresses
from typing import Protocol

from mailer.config import Config
from mailer.domains.policy import SendingTenant, may_send_as
from mailer.domains.signing import dkim_sign
from mailer.mail.compose import ComposedMessage
from mailer.smtp.mime import Address, make_message_id, message_id_domain
from mailer.smtp.validation import MessageValidationError, check_subject, normalize_address

TAG_HEADER = "x-mailer-tag"
METADATA_PREFIX = "x-mailer-metadata-"
IDEMPOTENCY_HEADER = "x-mailer-idempotency-key"
_FIELD_NAME = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_HELO_SAFE = re.compile(r"^[A-Za-z0-9.\-\[\]:_]{1,255}$")


class SubmittingTenant(SendingTenant, Protocol):
    """What keeping a message reads of its tenant (a Tenant, or the submission writer's row of it)."""

    @property
    def domains_version(self) -> int: ...


class SenderRefusedError(Exception):
    """The From header is not on a domain the tenant may send as (550 5.7.1 after DATA)."""


@dataclass(frozen=True)
class Submission:
    """What one SMTP transaction handed over: the envelope, the DATA bytes, and the trace details."""

    mail_from: str
    recipients: tuple[str, ...]  # normalized envelope addresses, each once
    raw: bytes
    helo: str
    peer_ip: str
    server_name: str


@dataclass(frozen=True)
class KeptMessage:
    composed: ComposedMessage
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass
class _Header:
    name: str  # lower-cased
    lines: list[bytes]

    @property
    def raw(self) -> bytes:
        """The field as received, folded lines included (CRLF between them, none at the end)."""
        return b"".join(self.lines)

    @property
    def value(self) -> str:
        """The unfolded value, as text (8-bit bytes kept as UTF-8 where they are)."""
        joined = self.raw.replace(b"\r\n", b"").split(b":", 1)[1]
        return joined.decode("utf-8", errors="replace").strip()


def keep_message(config: Config, tenant: SubmittingTenant, submission: Submission,
                 domains: Mapping[str, bool] | None = None) -> KeptMessage:
    """The stored form of a submitted message. Raises MessageValidationError (malformed or injected headers)
    or SenderRefusedError (From not on a domain the tenant may send as, §10's rule; ``domains``: may_send_as's)."""
    headers, body = _split(submission.raw)
    sender = _from_address(headers)
    if not may_send_as(config, tenant, sender, domains):
        raise SenderRefusedError(f"the From address's domain is not one this tenant may send as: {sender}")
    kept: list[_Header] = []
    tags: list[str] = []
    metadata: dict[str, str] = {}
    key: str | None = None
    for header in headers:
        if header.name == TAG_HEADER:
            tags.append(header.value)
        elif header.name.startswith(METADATA_PREFIX):
            original = header.raw.split(b":", 1)[0].strip().decode("ascii")
            metadata[original[len(METADATA_PREFIX):]] = header.value
        elif header.name == IDEMPOTENCY_HEADER:
            key = header.value
        elif header.name != "bcc":
            kept.append(header)
    subject = _subject(kept)
    message_id = _message_id(kept) or make_message_id(message_id_domain(sender))
    trailer: list[bytes] = []
    if not _find(kept, "message-id"):
        trailer.append(f"Message-ID: {message_id}".encode())
    if not _find(kept, "date"):
        trailer.append(f"Date: {formatdate(usegmt=True)}".encode())
    head = [_received(submission), *(h.raw for h in kept), *trailer]
    wire = dkim_sign(config, tenant.id, sender, b"\r\n".join(head) + b"\r\n\r\n" + body, tenant.domains_version)
    recipients = tuple(Address(email, "") for email in submission.recipients)
    return KeptMessage(ComposedMessage(sender, subject, message_id, wire, recipients), tags, metadata, key)


def _split(raw: bytes) -> tuple[list[_Header], bytes]:
    """The header fields (each with its raw lines, CRLF-less) and the body bytes after the blank line."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    if not separator:
        head, body = raw.removesuffix(b"\r\n"), b""
    if not head or head.startswith(b"\r\n"):
        raise MessageValidationError.single("headers", "the message has no header block")
    fields: list[_Header] = []
    for line in head.split(b"\r\n"):
        if b"\r" in line or b"\n" in line or b"\0" in line:
            raise MessageValidationError.single("headers", "a header contains a bare CR, LF or NUL")
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise MessageValidationError.single("headers", "the header block starts with a continuation line")
            fields[-1].lines.append(b"\r\n" + line)
            continue
        match = _FIELD_NAME.match(line)
        if match is None:
            raise MessageValidationError.single("headers", "a header line has no valid field name")
        fields.append(_Header(match.group(1).decode("ascii").lower(), [line]))
    return fields, body


def _find(headers: Sequence[_Header], name: str) -> list[_Header]:
    return [h for h in headers if h.name == name]


def _from_address(headers: Sequence[_Header]) -> str:
    found = _find(headers, "from")
    if len(found) != 1:
        raise MessageValidationError.single("From", "the message needs exactly one From header")
    addresses = [a for _, a in getaddresses([found[0].value]) if a]
    if len(addresses) != 1:
        raise MessageValidationError.single("From", "the From header must hold exactly one address")
    return normalize_address(addresses[0], field="From")


def _subject(headers: Sequence[_Header]) -> str:
    found = _find(headers, "subject")
    if not found:
        return ""
    value = found[0].value
    with suppress(ValueError, LookupError):  # an undecodable encoded word: the text as written
        value = str(make_header(decode_header(value)))
    return check_subject(value, field="Subject")


def _message_id(headers: Sequence[_Header]) -> str | None:
    found = _find(headers, "message-id")
    if not found:
        return None
    value = found[0].value
    if len(found) > 1 or not _MESSAGE_ID.match(value) or len(value) > 255:
        raise MessageValidationError.single("Message-ID", "one Message-ID of the form <id@domain>, at most 255")
    return value


def _received(submission: Submission) -> bytes:
    """The trace header (RFC 5321 §4.4, ESMTPSA per RFC 3848); no ``for`` clause, which could name a Bcc."""
    helo = submission.helo if _HELO_SAFE.match(submission.helo or "") else "unknown"
    return (f"Received: from {helo} ([{submission.peer_ip}])\r\n\tby {submission.server_name} (Mailer)"
            f" with ESMTPSA;\r\n\t{formatdate(usegmt=True)}").encode()
