"""Session rules: login, refresh (rotation with re-use detection), logout."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError

from mailer.accounts.signup import active_tenant
from mailer.accounts.users import find_user
from mailer.audit import record_audit
from mailer.errors import (
    AccountDisabledError,
    EmailNotVerifiedError,
    InvalidCredentialsError,
    UnauthorizedError,
    UnavailableError,
)
from mailer.extensions import atomic, db
from mailer.models import RefreshToken, Tenant, User
from mailer.security.passwords import burn_verification_time, hash_password, needs_rehash, verify_password
from mailer.security.revocation import revoke_jti
from mailer.security.sessions import new_family, record_refresh_token, revoke_family, rotate_refresh_token
from mailer.security.tokens import TokenClaims, TokenError, decode_token, issue_token
from mailer.security.types import Principal


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


def _login_failed(tenant: Tenant | None, user: User | None, reason: str) -> None:
    if tenant is not None:
        with atomic():
            record_audit("login.failed", tenant_id=tenant.id, actor_id=user.id if user else None,
                         details={"reason": reason})


def login(tenant_slug: str, email: str, password: str) -> TokenPair:
    """POST /v1/auth/login: the checks of ``checked_login``, then a token pair."""
    user = checked_login(tenant_slug, email, password)
    pair = issue_pair(user)
    db.session.commit()
    return pair


def checked_login(tenant_slug: str, email: str, password: str) -> User:
    """The one login rule (the API and the console): 401 invalid_credentials alike (body and time) for
    unknown user and wrong password; 403 only after a correct password. Audited and committed, a refusal too."""
    tenant = active_tenant(tenant_slug)
    user = find_user(tenant, email)
    if user is None:
        burn_verification_time(password)
        _login_failed(tenant, None, "unknown_user")
        raise InvalidCredentialsError()
    if not verify_password(user.password_hash, password):
        _login_failed(tenant, user, "wrong_password")
        raise InvalidCredentialsError()
    if not user.is_active:
        _login_failed(tenant, user, "account_disabled")
        raise AccountDisabledError()
    if not user.email_verified:
        _login_failed(tenant, user, "email_not_verified")
        raise EmailNotVerifiedError()
    with atomic():
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        record_audit("login.succeeded", tenant_id=user.tenant_id, actor_id=user.id, details={"user_id": str(user.id)})
    return user


def issue_pair(user: User, family: str | None = None) -> TokenPair:
    """An access and a refresh token; the refresh token's row joins the session (caller commits)."""
    config = current_app.config["MAILER"]
    family = family or new_family()
    common = {"user_id": user.id, "tenant_id": user.tenant_id, "role": user.role, "version": user.token_version}
    access, _ = issue_token(config, typ="access", **common)
    refresh, claims = issue_token(config, typ="refresh", family=family, **common)
    record_refresh_token(claims, family)
    return TokenPair(access, refresh, config.ACCESS_TOKEN_SECONDS)


def _refresh_claims(token: str) -> TokenClaims:
    try:
        return decode_token(current_app.config["MAILER"], token, typ="refresh")
    except TokenError:
        raise UnauthorizedError("The refresh token is invalid or expired.") from None


def _reused(stored: RefreshToken) -> UnauthorizedError:
    revoke_family(stored.family)
    with atomic():
        record_audit("refresh_token.reused", tenant_id=stored.tenant_id, actor_id=stored.user_id,
                     details={"user_id": str(stored.user_id)})
    return UnauthorizedError("The refresh token is invalid or expired.")


def refresh(token: str) -> TokenPair:
    """Rotate: the presented token is used up and a new pair of the same family issued.
    Presenting a used token again revokes its whole family."""
    claims = _refresh_claims(token)
    stored = db.session.get(RefreshToken, claims.jti)
    if (
        stored is None
        or stored.user_id != claims.user_id
        or stored.tenant_id != claims.tenant_id
        or stored.revoked_at is not None
    ):
        raise UnauthorizedError("The refresh token is invalid or expired.")
    if stored.used_at is not None:
        raise _reused(stored)
    user = db.session.get(User, claims.user_id)
    if (
        user is None
        or user.tenant_id != claims.tenant_id
        or not user.tenant.is_active
        or user.token_version != claims.version
    ):
        raise UnauthorizedError("The refresh token is invalid or expired.")
    if not user.is_active:
        raise AccountDisabledError()
    if not user.email_verified:
        raise EmailNotVerifiedError()
    if not rotate_refresh_token(stored.jti):
        db.session.rollback()
        raise _reused(stored)  # a concurrent refresh used it a moment ago
    pair = issue_pair(user, family=stored.family)
    db.session.commit()
    return pair


def logout(principal: Principal, refresh_token: str | None) -> None:
    """Revoke the given refresh token's family (if it is the caller's) and the access token's jti."""
    if refresh_token:
        try:
            claims = decode_token(current_app.config["MAILER"], refresh_token, typ="refresh")
        except TokenError:
            claims = None
        stored = db.session.get(RefreshToken, claims.jti) if claims else None
        if stored is not None and stored.user_id == principal.id and stored.tenant_id == principal.tenant_id:
            revoke_family(stored.family)
            db.session.commit()
    if principal.jti and principal.expires_at:
        try:
            revoke_jti(principal.jti, principal.expires_at)
        except RedisError:
            raise UnavailableError("The session could not be ended; try again.") from None
