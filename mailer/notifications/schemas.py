from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field

from mailer.http.bodies import Strict
from mailer.i18n import Locale
from mailer.mail.account_links import ACCOUNT_TEMPLATES
from mailer.models import PersonRole, Role

# Printable ASCII without quote or backslash: what a tag filter can match exactly (see search.tag_filter).
TAG_PATTERN = r"^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$"
Tag = Annotated[str, Field(pattern=TAG_PATTERN)]
MAX_METADATA_ENTRIES = 20
MAX_METADATA_JSON_BYTES = 4 * 1024
MAX_DATA_JSON_BYTES = 64 * 1024


def json_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _bounded_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_METADATA_ENTRIES:
        raise ValueError(f"at most {MAX_METADATA_ENTRIES} entries")
    if json_bytes(value) > MAX_METADATA_JSON_BYTES:
        raise ValueError(f"at most {MAX_METADATA_JSON_BYTES} bytes as JSON")
    return value


def _bounded_data(value: dict[str, Any]) -> dict[str, Any]:
    if json_bytes(value) > MAX_DATA_JSON_BYTES:
        raise ValueError(f"at most {MAX_DATA_JSON_BYTES} bytes as JSON")
    return value


def _sendable_template(name: str | None) -> str | None:
    if name in ACCOUNT_TEMPLATES:
        raise ValueError("this template is only for the service's own account mail")
    return name


# Stored with every message and listed on every page of GET /v1/messages (metadata), or stored and
# rendered for every recipient (data): both bounded (API.md §3).
Metadata = Annotated[dict[str, str], AfterValidator(_bounded_metadata)]
TemplateData = Annotated[dict[str, Any], AfterValidator(_bounded_data)]
# The four account templates carry links the service made itself: no sender may fill them in (API.md §3).
SendableTemplate = Annotated[str | None, Field(max_length=100), AfterValidator(_sendable_template)]


class RecipientIn(Strict):
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)


AddressIn = str | RecipientIn


class AttachmentIn(Strict):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255)  # smtp.validation checks it
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
    template: SendableTemplate = None
    data: TemplateData = Field(default_factory=dict)
    reply_to: AddressIn | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list, max_length=10)
    metadata: Metadata = Field(default_factory=dict)
    send_at: datetime | None = None
    locale: Locale | None = Field(default=None, description="Which language variant of the template to render "
                                                            "(API.md §14); stored and shown with the message.")


class TemplateIn(Strict):
    subject: str = Field(min_length=1, max_length=10_000)
    html: str | None = Field(default=None, max_length=200_000)
    text: str | None = Field(default=None, max_length=200_000)
    description: str = Field(default="", max_length=500)


class PreviewIn(Strict):
    data: TemplateData = Field(default_factory=dict)


class AudienceIn(Strict):
    roles: list[PersonRole] = Field(default_factory=lambda: [Role.USER, Role.ADMIN], min_length=1)
    verified_only: bool = True


class BroadcastRequest(Strict):
    subject: str | None = Field(default=None, max_length=10_000)
    text: str | None = Field(default=None, max_length=200_000)
    html: str | None = Field(default=None, max_length=200_000)
    template: SendableTemplate = None
    data: TemplateData = Field(default_factory=dict)
    audience: AudienceIn = Field(default_factory=AudienceIn)
    tags: list[Tag] = Field(default_factory=list, max_length=10)
    metadata: Metadata = Field(default_factory=dict)
    send_at: datetime | None = None
