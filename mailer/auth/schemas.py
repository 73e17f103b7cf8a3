"""Request bodies of the auth endpoints. Unknown fields are rejected (422)."""

from __future__ import annotations

import unicodedata

from pydantic import Field, field_validator

from mailer.http.bodies import Strict
from mailer.i18n import Locale

PASSWORD = Field(min_length=8, max_length=128)
TENANT = Field(min_length=1, max_length=63)
EMAIL = Field(min_length=1, max_length=320)
TOKEN = Field(min_length=1, max_length=4096)


class LoginRequest(Strict):
    tenant: str = TENANT
    email: str = EMAIL
    password: str = Field(min_length=1, max_length=1024)


class RegisterRequest(Strict):
    tenant: str = TENANT
    email: str = EMAIL
    password: str = PASSWORD
    name: str = Field(default="", max_length=200)
    locale: Locale | None = None

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        return printable_name(value)


def printable_name(value: str) -> str:
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        raise ValueError("must not contain control characters")
    return value.strip()


class MePatch(Strict):
    """PATCH /v1/auth/me: the caller's own name and language (API.md §2, §14)."""

    name: str | None = Field(default=None, max_length=200)
    locale: Locale | None = None

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return None if value is None else printable_name(value)


class AddressRequest(Strict):
    """resend-verification and forgot-password."""

    tenant: str = TENANT
    email: str = EMAIL


class TokenRequest(Strict):
    token: str = TOKEN


class ResetPasswordRequest(Strict):
    token: str = TOKEN
    password: str = PASSWORD


class RefreshRequest(Strict):
    refresh_token: str = TOKEN


class LogoutRequest(Strict):
    refresh_token: str | None = Field(default=None, max_length=4096)


class PasswordChangeRequest(Strict):
    """The console's account page: the current password, then the new one."""

    current_password: str = Field(min_length=1, max_length=1024)
    password: str = PASSWORD
