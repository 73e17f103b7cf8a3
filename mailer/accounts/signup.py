"""Account rules on the request path: sign-up, resend, forgot (uniform answers), verify, reset.

Sign-up, resend-verification and forgot-password do the same work whatever the address:
validate, (sign-up) hash the password, store a request row, enqueue its id. Whether an
account exists is decided in the worker (mailer.accounts.notices).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, update

from mailer.accounts.pending import submit_auth_request
from mailer.audit import record_audit
from mailer.errors import MailerError, SignupDisabledError, ValidationError
from mailer.extensions import atomic, db
from mailer.mail.outbox import enqueue, stage
from mailer.mail.system_mail import build_system_message, mail_context
from mailer.models import ActionPurpose, ActionToken, AuthRequestKind, MessageKind, Tenant, User
from mailer.models.types import utcnow
from mailer.security.action_tokens import (
    MAX_TOKEN_CHARS,
    find_action_token,
    hash_token,
    redeem_action_token,
    void_action_tokens,
)
from mailer.security.passwords import hash_password
from mailer.security.sessions import revoke_user_sessions
from mailer.smtp.validation import normalize_address


def normalized_email(value: str) -> str:
    """The address as stored: validated (MessageValidationError, a 422, otherwise) and lower-cased."""
    return normalize_address(value, field="email").lower()


def active_tenant(slug: str) -> Tenant | None:
    return db.session.scalars(select(Tenant).where(Tenant.slug == slug, Tenant.is_active.is_(True))).first()


def register(tenant_slug: str, email: str, password: str, name: str, locale: str | None = None) -> None:
    """``locale``: the language the request named (its body, else its Accept-Language), if any (API.md §14);
    None: the new account gets the tenant's default_locale."""
    address = normalized_email(email)
    tenant = active_tenant(tenant_slug)
    if tenant is None:
        raise ValidationError(errors=[{"field": "tenant", "message": "unknown tenant"}])
    if not tenant.signup_enabled:
        raise SignupDisabledError()
    password_hash = hash_password(password)  # always: the cost must not depend on the account
    submit_auth_request(AuthRequestKind.REGISTER, tenant, address, name=name, password_hash=password_hash,
                        locale=locale)


def resend_verification(tenant_slug: str, email: str) -> None:
    address = normalized_email(email)
    tenant = active_tenant(tenant_slug)
    if tenant is not None:
        submit_auth_request(AuthRequestKind.RESEND_VERIFICATION, tenant, address)


def forgot_password(tenant_slug: str, email: str) -> None:
    address = normalized_email(email)
    tenant = active_tenant(tenant_slug)
    if tenant is not None:
        submit_auth_request(AuthRequestKind.FORGOT_PASSWORD, tenant, address)


def check_verification_token(token: str) -> None:
    """InvalidTokenError or TokenExpiredError if ``token`` cannot verify an address; changes nothing."""
    find_action_token(token, ActionPurpose.VERIFICATION)


@dataclass(frozen=True)
class LinkStatus:
    """What a hosted page may say of an emailed link before anything is redeemed (read only)."""

    tenant: Tenant | None  # whose link it is (its branding and default language), if it is one of ours
    expires_at: datetime | None  # when a live link stops working
    error: str | None  # `invalid_token` or `token_expired`; None for a live link


def link_status(token: str, purpose: ActionPurpose) -> LinkStatus:
    try:
        row, user = find_action_token(token, purpose)
    except MailerError as exc:
        return LinkStatus(link_tenant(token, purpose), None, exc.code)
    return LinkStatus(user.tenant, row.expires_at, None)


def link_tenant(token: str, purpose: ActionPurpose) -> Tenant | None:
    """The tenant an emailed link of ours belongs to, live or not (for its page's branding)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    tenant_id = db.session.scalar(select(ActionToken.tenant_id).where(
        ActionToken.token_hash == hash_token(token), ActionToken.purpose == purpose))
    return db.session.get(Tenant, tenant_id) if tenant_id else None


def verify_email(token: str) -> None:
    """Redeem a verification token. 400 invalid_token / token_expired."""
    row, user = find_action_token(token, ActionPurpose.VERIFICATION)
    redeem_action_token(row)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    with atomic():
        record_audit("email.verified", tenant_id=user.tenant_id, actor_id=user.id, details={"user_id": str(user.id)})


def reset_password(token: str, password: str) -> None:
    """Redeem a reset token (once, atomically) and set the password.

    Every outstanding access and refresh token of the user dies (token version bump, refresh
    rows revoked), older reset links are voided, and a "password changed" notice is queued.
    The mailbox owner proved control of the address, so an unverified address becomes verified.
    No tokens are issued: the user logs in again.
    """
    row, user = find_action_token(token, ActionPurpose.PASSWORD_RESET)
    new_hash = hash_password(password)  # before the claim, to keep the write transaction short
    redeem_action_token(row)
    now = utcnow()
    with atomic():  # the new password, the revocations and the notice, together
        db.session.execute(
            update(User)
            .where(User.id == user.id)
            .values(password_hash=new_hash, token_version=User.token_version + 1,
                    email_verified_at=func.coalesce(User.email_verified_at, now))
            .execution_options(synchronize_session=False)
        )
        void_action_tokens(user.id, ActionPurpose.PASSWORD_RESET)
        revoke_user_sessions(user.id)
        record_audit("password.reset", tenant_id=user.tenant_id, actor_id=user.id, details={"user_id": str(user.id)})
        config = current_app.config["MAILER"]
        tenant = user.tenant
        notice = build_system_message(config, tenant, user, MessageKind.PASSWORD_CHANGED, mail_context(tenant, user))
        enqueue(stage(notice))
        db.session.add(notice)
