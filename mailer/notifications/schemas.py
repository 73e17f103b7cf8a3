from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from mailer.http.bodies import Strict

# Printable ASCII without quote or backslash: what a tag filter can match exactly (see routes.tag_filter).
TAG_PATTERN = r"^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$"
Tag = Annotated[str, Field(pattern=TAG_PATTERN)]


class RecipientIn(Strict):
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)


AddressIn = str | RecipientIn


class AttachmentIn(Strict):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=127)
    content: str


class MessageRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "to": ["ann@example.com", {"email": "bob@example.com", "name": "Bob"}],
        "subject": "Your receipt", "text": "Thanks for your order.", "html": "<p>Thanks for your order.</p>",
        "tags": ["receipt"], "metadata": {"order": "42"},
    }]})

    to: list[AddressIn] = Field(default_factory=list)
    cc: list[AddressIn] = Field(default_factory=list)
    bcc: list[AddressIn] = Field(default_factory=list)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    template: str | None = Field(default=None, max_length=100)
    data: dict[str, Any] = Field(default_factory=dict)
    reply_to: AddressIn | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list, max_length=10)
    metadata: dict[str, str] = Field(default_factory=dict)
    send_at: datetime | None = None


class TemplateIn(Strict):
    subject: str = Field(min_length=1, max_length=10_000)
    html: str | None = Field(default=None, max_length=200_000)
    text: str | None = Field(default=None, max_length=200_000)
    description: str = Field(default="", max_length=500)


class PreviewIn(Strict):
    data: dict[str, Any] = Field(default_factory=dict)


class AudienceIn(Strict):
    roles: list[Literal["user", "admin"]] = Field(default_factory=lambda: ["user", "admin"], min_length=1)
    verified_only: bool = True


class BroadcastRequest(Strict):
    subject: str | None = Field(default=None, max_length=10_000)
    text: str | None = Field(default=None, max_length=200_000)
    html: str | None = Field(default=None, max_length=200_000)
    template: str | None = Field(default=None, max_length=100)
    data: dict[str, Any] = Field(default_factory=dict)
    audience: AudienceIn = Field(default_factory=AudienceIn)
    tags: list[Tag] = Field(default_factory=list, max_length=10)
    metadata: dict[str, str] = Field(default_factory=dict)
