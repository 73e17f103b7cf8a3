from __future__ import annotations

from pydantic import Field

from mailer.http.bodies import Strict
from mailer.i18n import Locale
from mailer.models import PersonRole


class TenantPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    frontend_url: str | None = Field(default=None, max_length=500)
    mail_from: str | None = Field(default=None, max_length=254)
    mail_from_name: str | None = Field(default=None, max_length=200)
    signup_enabled: bool | None = None
    retention_days: int | None = Field(default=None, ge=1, description="1 to MESSAGE_RETENTION_DAYS; null: that.")
    default_locale: Locale | None = Field(default=None, description="`en` or `zh-CN`; null: DEFAULT_LOCALE.")
    brand_color: str | None = Field(default=None, max_length=7, description="`#rrggbb`; null: none.")
    logo_url: str | None = Field(default=None, max_length=500, description="An https URL; null: none.")
    postal_address: str | None = Field(default=None, max_length=500,
                                       description="Shown in the footer of every broadcast copy.")


class UserPatch(Strict):
    role: PersonRole | None = None
    is_active: bool | None = None


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
