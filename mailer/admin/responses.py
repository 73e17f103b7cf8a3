"""Response bodies and list queries of tenant administration (API.md §2); they document `/openapi.json`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from mailer.http.bodies import Out
from mailer.http.pagination import PageQuery
from mailer.models import PersonRole


class TenantOut(Out):
    id: uuid.UUID
    slug: str
    name: str
    frontend_url: str | None
    mail_from: str | None
    mail_from_name: str | None
    signup_enabled: bool
    retention_days: int = Field(description="Days finished messages are kept before they are purged.")
    default_locale: Literal["en", "zh-CN"] = Field(description="The language of a reader nothing else names one for.")
    brand_color: str | None = Field(description="`#rrggbb`, used by the built-in mail and the hosted pages.")
    logo_url: str | None = Field(description="https URL of the logo in the built-in mail and the hosted pages.")
    postal_address: str | None = Field(description="Shown in the footer of every broadcast copy.")


class UserOut(Out):
    id: uuid.UUID
    email: str
    name: str
    role: PersonRole
    is_active: bool
    email_verified: bool
    created_at: datetime


class UserListQuery(PageQuery):
    role: PersonRole | None = None
    is_active: bool | None = None


class ApiKeyOut(Out):
    """An API key as listed: never its secret, only the first characters (``prefix``)."""

    id: uuid.UUID
    name: str
    prefix: str
    created_by: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """201 of POST /v1/api-keys: the only answer that carries the secret ``key``."""

    key: str


class AuditEventOut(Out):
    id: uuid.UUID
    action: str
    actor_id: uuid.UUID | None
    actor_type: str
    ip: str | None
    at: datetime
    details: dict[str, Any]


class AuditEventQuery(PageQuery):
    action: str | None = Field(default=None, max_length=64, description="Only events of this action.")
