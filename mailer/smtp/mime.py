"""Builds the MIME message: mixed[alternative[text, html], attachments…]."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import SMTPUTF8 as SMTPUTF8_POLICY
from email.utils import formatdate
from html import unescape

import html2text


@dataclass(frozen=True)
class Address:
    """An address in envelope form (see validation.normalize_address) and a display name."""

    email: str
    name: str = ""

    def header(self) -> HeaderAddress:
        local, _, domain = self.email.rpartition("@")
        return HeaderAddress(display_name=self.name, username=local, domain=domain)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class MessageContent:
    sender: Address
    to: tuple[Address, ...]
    subject: str
    text: str | None = None
    html: str | None = None
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: Address | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def envelope_recipients(self) -> list[str]:
        """Every recipient once, in order: to, cc, then bcc (Bcc lives only here)."""
        seen: dict[str, None] = {}
        for address in (*self.to, *self.cc, *self.bcc):
            seen.setdefault(address.email, None)
        return list(seen)


_ADDRESS_HEADERS = ("From", "Sender", "To", "Cc", "Reply-To")


def message_id_domain(sender: str) -> str:
    """The domain a sender's Message-IDs are made on."""
    return sender.rpartition("@")[2] or "localhost"


def make_message_id(domain: str) -> str:
    """A globally unique Message-ID on the sender's domain (IDN domains in ASCII)."""
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return f"<{int(time.time() * 1000)}.{secrets.token_hex(12)}@{domain}>"


# html2text costs about 4 s per MB: beyond this the text part is derived by a linear pass instead.
MAX_HTML2TEXT_CHARS = 64 * 1024
# Each pattern is linear (N1): a match may not cross a "<" it could restart at (``<[^>]*>`` over a
# megabyte of "<" is O(n²), minutes in C with the GIL held), and no two quantifiers share characters.
_BLOCK_END = re.compile(r"<(?:br|/p|/div|/li|/tr|/h[1-6]|/table|/blockquote)[\s/]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")
_BLANK_LINES = re.compile(r"\n(?:[^\S\n]*\n){2,}[^\S\n]*")


def _plain_text_of(html: str) -> str:
    """Tags dropped, block ends as line breaks, entities decoded: linear in the size of ``html``."""
    text = _TAG.sub("", _BLOCK_END.sub("\n", html))
    return _BLANK_LINES.sub("\n\n", unescape(text)).strip() + "\n"


def html_to_text(html: str) -> str:
    """A readable plain-text rendering of ``html`` (html2text: lists, links, tables; a plain pass when large)."""
    if len(html) > MAX_HTML2TEXT_CHARS:
        return _plain_text_of(html)
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    return converter.handle(html).strip() + "\n"


def build_message(content: MessageContent, *, message_id: str | None = None) -> EmailMessage:
    """The message as it goes on the wire; Bcc recipients appear in no header.

    Structure: ``mixed[alternative[text, html], attachments…]``, collapsing the
    levels not needed; a text part is always present (derived from the HTML when
    only HTML is given). ``message_id`` defaults to a new one on the sender's domain.
    Header values must already be checked (see validation): CR/LF raise ValueError.
    """
    if message_id is None:
        message_id = make_message_id(message_id_domain(content.sender.email))
    message = EmailMessage()
    message["From"] = content.sender.header()
    message["To"] = [address.header() for address in content.to]
    if content.cc:
        message["Cc"] = [address.header() for address in content.cc]
    if content.reply_to:
        message["Reply-To"] = content.reply_to.header()
    message["Subject"] = content.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    for name, value in content.headers:
        message[name] = value

    text = content.text if content.text is not None else html_to_text(content.html or "")
    message.set_content(text)
    if content.html is not None:
        message.add_alternative(content.html, subtype="html")
    for attachment in content.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype or "octet-stream", filename=attachment.filename
        )
    for part in message.walk():
        # add_alternative/add_attachment stamp every sub-part; only the top needs it.
        if part is not message:
            del part["MIME-Version"]
    return message


def needs_smtputf8(message: EmailMessage) -> bool:
    """True when an address header holds a non-ASCII local part (RFC 6532 headers)."""
    for name in _ADDRESS_HEADERS:
        for header in message.get_all(name, ()):
            if any(not address.username.isascii() for address in header.addresses):
                return True
    return False


def to_bytes(message: EmailMessage) -> bytes:
    """Wire form with CRLF line ends; UTF-8 headers are RFC 2047 encoded.

    A non-ASCII local part cannot be encoded that way: such a message is written as
    UTF-8 (RFC 6532) and the sender sends it with SMTPUTF8.
    """
    policy = SMTPUTF8_POLICY if needs_smtputf8(message) else SMTP_POLICY
    return message.as_bytes(policy=policy)
