"""Builds the MIME message: mixed[alternative[text, html], attachments…]."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate

import html2text


@dataclass(frozen=True)
class Address:
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


def make_message_id(domain: str) -> str:
    """A globally unique Message-ID on the sender's domain."""
    return f"<{int(time.time() * 1000)}.{secrets.token_hex(12)}@{domain}>"


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    return converter.handle(html).strip() + "\n"


def build_message(content: MessageContent, *, message_id: str) -> EmailMessage:
    """The message as it goes on the wire; Bcc recipients appear in no header."""
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
    return message


def to_bytes(message: EmailMessage) -> bytes:
    """Wire form with CRLF line ends; UTF-8 headers are RFC 2047 encoded."""
    return message.as_bytes(policy=SMTP_POLICY)
