"""Rewrites a stored wire message with an address replaced, in headers and in decoded text parts."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from mailer.smtp.mime import to_bytes

_ADDRESS_HEADERS = {"to", "cc", "bcc", "reply-to", "from", "sender"}


def scrub(text: str, address: str, digest: str) -> str:
    """``text`` with every case-variant of ``address`` replaced by ``digest``."""
    return re.sub(re.escape(address), digest, text, flags=re.IGNORECASE)


def scrub_mime(raw: bytes, address: str, digest: str) -> bytes:
    """The message with the address replaced in every header and every text part (decoded first, so
    base64 and quoted-printable bodies are covered); in address headers its display name goes too.
    Attachments other than text are left as they are."""
    message: EmailMessage = message_from_bytes(raw, policy=default_policy)  # type: ignore[assignment]
    for part in message.walk():
        for name, value in list(part.items()):
            if address not in str(value).lower():
                continue
            if name.lower() in _ADDRESS_HEADERS:
                part.replace_header(name, _erased_addresses(value, address, digest))
            else:
                part.replace_header(name, scrub(str(value), address, digest))
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        content = part.get_content()
        if address in content.lower():
            part.set_content(scrub(content, address, digest), subtype=part.get_content_subtype(),
                             cte=_transfer_encoding(part))
    return to_bytes(message)


def _erased_addresses(header: Any, address: str, digest: str) -> str:
    """An address header with the erased address (and its display name) replaced by the bare digest."""
    kept = [digest if item.addr_spec.lower() == address else str(item) for item in header.addresses]
    return ", ".join(kept)


def _transfer_encoding(part: EmailMessage) -> str:
    cte = str(part.get("Content-Transfer-Encoding", "quoted-printable")).lower()
    return cte if cte in ("7bit", "8bit", "base64", "quoted-printable") else "quoted-printable"
