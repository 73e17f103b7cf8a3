"""Response bodies of the sending endpoints (API.md §3, §4); they document `/openapi.json`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from mailer.http.bodies import Out, Strict
from mailer.http.pagination import PageQuery
from mailer.i18n import Locale
from mailer.models import FeedbackOutcome, MessageKind, MessageStatus, RecipientStatus
from mailer.notifications.schemas import TAG_PATTERN
from mailer.smtp.results import ErrorCode, Outcome


class AcceptedRecipient(Out):
    email: str
    status: RecipientStatus


class MessageAccepted(Out):
    id: uuid.UUID
    status: Literal["queued", "scheduled", "failed"]  # failed: every recipient is suppressed (API.md §8)
    recipients: list[AcceptedRecipient]
    created_at: datetime


class RecipientCounts(Out):
    queued: int
    sending: int
    sent: int
    deferred: int
    failed: int
    bounced: int


class RecipientOut(Out):
    id: uuid.UUID
    email: str
    status: RecipientStatus
    error_code: ErrorCode | None
    attempts: int
    smtp_code: int | None
    smtp_response: str | None
    message_id: str | None
    last_error: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None


class DeliveryEventOut(Out):
    at: datetime
    outcome: Outcome | FeedbackOutcome
    smtp_code: int | None
    enhanced_code: str | None
    response: str | None


class RecipientDetail(RecipientOut):
    events: list[DeliveryEventOut]


class MessageSummary(Out):
    id: uuid.UUID
    kind: MessageKind
    subject: str
    status: MessageStatus
    created_by: uuid.UUID | None
    created_at: datetime
    send_at: datetime | None
    tags: list[str]
    metadata: dict[str, Any]
    locale: Locale | None = Field(description="The `locale` the message was sent with (API.md §3, §14).")


class MessageDetail(MessageSummary):
    counts: RecipientCounts
    recipients: list[RecipientOut] | None = None


class RecipientListQuery(PageQuery):
    status: RecipientStatus | None = None


class BroadcastAccepted(Out):
    id: uuid.UUID
    status: Literal["queued", "scheduled"]
    recipient_count: int


class RetryAccepted(Out):
    """202 of POST /v1/messages/{id}/retry: how many failed recipients were queued again."""

    id: uuid.UUID
    status: MessageStatus
    requeued: int


class MessageStatusCounts(Out):
    scheduled: int
    queued: int
    sending: int
    sent: int
    partially_failed: int
    failed: int
    total: int


class StatsWindow(RecipientCounts):
    """Recipients created since ``since`` by their current status, and their messages by status."""

    since: datetime
    total: int
    messages: MessageStatusCounts


class StatsOut(Out):
    generated_at: datetime
    last_24h: StatsWindow
    last_30d: StatsWindow


class TemplateListQuery(PageQuery):
    source: Literal["tenant", "builtin"] | None = None


class TemplateLocaleQuery(Strict):
    locale: Locale | None = Field(default=None, description="A language variant (API.md §14): `en` or `zh-CN`.")


class TemplateOut(Out):
    """A tenant template (``source`` "tenant") or the built-in one it would override ("builtin", no dates),
    or one of its language variants (``locale`` set)."""

    name: str
    locale: Locale | None = Field(description="The language variant's locale; null for the template itself.")
    variants: list[Locale] | None = Field(default=None,
                                          description="The template's language variants (not on a variant).")
    subject: str
    html: str | None
    text: str | None
    description: str
    source: Literal["tenant", "builtin"]
    created_at: datetime | None
    updated_at: datetime | None


class RenderedOut(Out):
    subject: str
    html: str | None
    text: str | None


class MessageListQuery(PageQuery):
    status: MessageStatus | None = None
    kind: MessageKind | None = None
    tag: str | None = Field(default=None, pattern=TAG_PATTERN)
    email: str | None = Field(default=None, min_length=1, max_length=320,
                              description="Messages with this recipient (to, cc or bcc), case-insensitive.")
    since: datetime | None = Field(default=None, description="Created at or after (ISO 8601).")
    until: datetime | None = Field(default=None, description="Created before (ISO 8601).")
    subject: str | None = Field(default=None, min_length=1, max_length=998,
                                description="Subject contains this text, case-insensitive.")

    @model_validator(mode="after")
    def _since_before_until(self) -> MessageListQuery:
        if self.since is not None and self.until is not None and _aware(self.since) > _aware(self.until):
            raise ValueError("since must not be after until")
        return self


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
