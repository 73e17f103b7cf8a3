"""Account rules: login (more flows arrive with the accounts issue)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from mailer.errors import AccountDisabledError, EmailNotVerifiedError, InvalidCredentialsError
from mailer.extensions import db
from mailer.models import Tenant, User
from mailer.security.passwords import burn_verification_time, verify_password
from mailer.security.tokens import issue_token


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def as_json(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


def find_user(tenant_slug: str, email: str) -> User | None:
    return db.session.scalars(
        select(User)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(Tenant.slug == tenant_slug, Tenant.is_active.is_(True), User.email == email.strip().lower())
    ).first()


def login(tenant_slug: str, email: str, password: str) -> TokenPair:
    user = find_user(tenant_slug, email)
    if user is None:
        burn_verification_time(password)
        raise InvalidCredentialsError()
    if not verify_password(user.password_hash, password):
        raise InvalidCredentialsError()
    if not user.is_active:
        raise AccountDisabledError()
    if not user.email_verified:
        raise EmailNotVerifiedError()
    return issue_pair(user)


def issue_pair(user: User, family: str | None = None) -> TokenPair:
    config = current_app.config["MAILER"]
    common = {"user_id": user.id, "tenant_id": user.tenant_id, "role": user.role, "version": user.token_version}
    access, _ = issue_token(config, typ="access", **common)
    refresh, _ = issue_token(config, typ="refresh", family=family, **common)
    return TokenPair(access, refresh, config.ACCESS_TOKEN_SECONDS)
