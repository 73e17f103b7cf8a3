"""Finds and rewrites an address in stored mail: headers (encoded words decoded), every text part in any
transfer encoding (base64, quoted-printable with soft breaks), nested messages (a bounce's returned mail).

``mentions`` decides on the decoded form, never on the raw bytes alone (review N6: a Bcc'd address in a
base64 body is in no header and not literally in the bytes). ``scrub_mime`` replaces the address by the
digest and drops attachments (API.md §11); when what it wrote still mentions the address in some form it
cannot rewrite, the caller drops the stored copy instead (``erase_copy``).
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from typing import Any

from mailer.smtp.mime import to_bytes

_ADDRESS_HEADERS = {"to", "cc", "bcc", "reply-to", "from", "sender", "resent-to", "resent-cc", "resent-from",
                    "final-recipient", "original-recipient", "x-failed-recipients", "delivered-to", "return-path"}
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=\r\n]{16,}")


def scrub(text: str, address: str, digest: str) -> str:
    """``text`` with every case-variant of ``address`` replaced by ``digest``."""
    return re.sub(re.escape(address), digest, text, flags=re.IGNORECASE)


def _parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=default_policy)  # type: ignore[return-value]


def _leaf_text(part: Message) -> str:
    """A leaf part's content, decoded from its transfer encoding (and charset, for text)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _loose_decodings(raw: bytes) -> list[str]:
    """What raw bytes may say once decoded, whatever MIME claims: QP, and every base64-looking run."""
    texts = [raw.decode("utf-8", "replace"), quopri.decodestring(raw).decode("utf-8", "replace")]
    for run in _BASE64_RUN.findall(raw):
        compact = re.sub(rb"\s+", b"", run)
        for start in range(4):  # a run may start mid-quantum
            chunk = compact[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                texts.append(base64.b64decode(chunk, validate=False).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                continue
    return texts


def mentions(raw: bytes | None, address: str) -> bool:
    """Whether stored mail holds ``address`` (lower-case) anywhere: headers, parts, nested mail, or encoded."""
    if not raw:
        return False
    if any(address in text.lower() for text in _loose_decodings(raw)):
        return True
    for part in _parse(raw).walk():
        if any(address in str(value).lower() for value in part.values()):
            return True
        if not part.is_multipart() and address in _leaf_text(part).lower():
            return True
    return False


def scrub_mime(raw: bytes, address: str, digest: str) -> bytes:
    """The message with the address replaced in every header and text part (decoded first, so base64 and
    quoted-printable bodies are covered), nested messages included; attachments dropped; in address
    headers the display name goes too."""
    message = _parse(raw)
    for part in list(message.walk()):
        for name, value in list(part.items()):
            if address not in str(value).lower():
                continue
            if name.lower() in _ADDRESS_HEADERS and getattr(value, "addresses", None):
                part.replace_header(name, _erased_addresses(value, address, digest))
            else:
                part.replace_header(name, scrub(str(value), address, digest))
        if part.is_multipart() or part.get_content_type() == "message/rfc822":
            continue
        if part.get_content_maintype() != "text" or part.get_content_disposition() == "attachment":
            _drop(part)
            continue
        content = _leaf_text(part)
        if address in content.lower():
            part.set_content(scrub(content, address, digest), subtype=part.get_content_subtype(),
                             cte=_transfer_encoding(part))
    return to_bytes(message)


def erase_copy(raw: bytes, address: str, digest: str) -> bytes | None:
    """The rewritten copy, or None when it still holds the address in a form we cannot rewrite (drop it)."""
    try:
        rewritten = scrub_mime(raw, address, digest)
    except Exception:  # malformed stored mail: dropping the copy is the safe outcome
        return None
    return None if mentions(rewritten, address) else rewritten


def _drop(part: Message) -> None:
    """An attachment replaced by an empty text note, so the structure stays valid."""
    for name in ("Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-ID"):
        del part[name]
    part.set_payload("[attachment removed by erasure]\r\n")
    part["Content-Type"] = "text/plain; charset=us-ascii"


def _erased_addresses(header: Any, address: str, digest: str) -> str:
    """An address header with the erased address (and its display name) replaced by the bare digest."""
    kept = [digest if item.addr_spec.lower() == address else str(item) for item in header.addresses]
    return ", ".join(kept)


def _transfer_encoding(part: Message) -> str:
    cte = str(part.get("Content-Transfer-Encoding", "quoted-printable")).lower()
    return cte if cte in ("7bit", "8bit", "base64", "quoted-printable") else "quoted-printable"
