"""Response bodies of the account endpoints (API.md §2); they document `/openapi.json`."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from mailer.http.bodies import Out
from mailer.models import PersonRole


class TokenPairOut(Out):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class TenantRef(Out):
    id: uuid.UUID
    slug: str
    name: str


class MeOut(Out):
    id: uuid.UUID
    email: str
    name: str
    role: PersonRole
    email_verified: bool
    locale: Literal["en", "zh-CN"] = Field(description="The person's language (API.md §14).")
    tenant: TenantRef


class VerificationSentOut(Out):
    """202 of register and resend-verification: the same whether or not the account exists."""

    status: Literal["verification_sent"]


class VerifiedOut(Out):
    status: Literal["verified"]


class ResetRequestedOut(Out):
    """202 of forgot-password: the same whether or not the account exists."""

    status: Literal["reset_requested"]


class PasswordResetOut(Out):
    status: Literal["password_reset"]
