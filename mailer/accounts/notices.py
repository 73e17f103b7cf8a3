"""The worker's half of sign-up, resend-verification and forgot-password.

Here, off the request path, we look the address up and decide which mail (if any) it gets,
so that the HTTP answer and its timing are the same whether or not an account exists:

- register: new address → unverified user + verification mail; existing account → an
  "account exists" notice with a reset link (never a second account, never the new password);
- resend-verification: verification mail only to an existing, unverified, active user;
- forgot-password: reset mail only to an existing, active user.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from flask import current_app
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from mailer.accounts.pending import PENDING_MAX_AGE
from mailer.accounts.users import find_user
from mailer.audit import record_audit
from mailer.config import Config
from mailer.extensions import atomic, db
from mailer.mail.outbox import enqueue, stage
from mailer.mail.system_mail import build_system_message, mail_context
from mailer.models import (
    AuthRequest,
    AuthRequestKind,
    AuthRequestStatus,
    Message,
    MessageKind,
    Role,
    Tenant,
    User,
)
from mailer.models.types import utcnow

log = logging.getLogger(__name__)


def verification_mail(config: Config, tenant: Tenant, user: User) -> Message:
    """Its link and token are made at delivery (mail/system_mail.py), never stored."""
    return build_system_message(config, tenant, user, MessageKind.VERIFICATION, mail_context(tenant, user))


def reset_mail(config: Config, tenant: Tenant, user: User) -> Message:
    return build_system_message(config, tenant, user, MessageKind.PASSWORD_RESET, mail_context(tenant, user))


def account_exists_mail(config: Config, tenant: Tenant, user: User) -> Message:
    return build_system_message(config, tenant, user, MessageKind.ACCOUNT_EXISTS, mail_context(tenant, user))


def _register(config: Config, tenant: Tenant, row: AuthRequest, password_hash: str | None) -> Message | None:
    user = find_user(tenant, row.email)
    if user is None:
        if password_hash is None:
            return None
        user = User(tenant_id=tenant.id, email=row.email, name=row.name, password_hash=password_hash,
                    role=Role.USER, email_verified_at=None,
                    locale=row.locale or tenant.default_locale or config.DEFAULT_LOCALE)
        db.session.add(user)
        db.session.flush()  # IntegrityError here: a concurrent sign-up created the address first
        record_audit("user.registered", tenant_id=tenant.id, actor_id=user.id, details={"user_id": str(user.id)},
                     ip=row.ip)
        return verification_mail(config, tenant, user)
    if not user.is_active:
        return None
    return account_exists_mail(config, tenant, user)


def _resend(config: Config, tenant: Tenant, row: AuthRequest, password_hash: str | None) -> Message | None:
    user = find_user(tenant, row.email)
    if user is None or not user.is_active or user.email_verified:
        return None
    return verification_mail(config, tenant, user)


def _forgot(config: Config, tenant: Tenant, row: AuthRequest, password_hash: str | None) -> Message | None:
    user = find_user(tenant, row.email)
    if user is None or not user.is_active:
        return None
    record_audit("password.reset_requested", tenant_id=tenant.id, actor_id=user.id,
                 details={"user_id": str(user.id)}, ip=row.ip)
    return reset_mail(config, tenant, user)


_HANDLERS: dict[str, Callable[[Config, Tenant, AuthRequest, str | None], Message | None]] = {
    AuthRequestKind.REGISTER: _register,
    AuthRequestKind.RESEND_VERIFICATION: _resend,
    AuthRequestKind.FORGOT_PASSWORD: _forgot,
}


def _claim(row: AuthRequest, status: AuthRequestStatus) -> bool:
    """pending → done/expired, atomically; False if another job already took it."""
    result = db.session.execute(
        update(AuthRequest)
        .where(AuthRequest.id == row.id, AuthRequest.status == AuthRequestStatus.PENDING)
        .values(status=status, password_hash=None, processed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def process_auth_request(tenant_id: uuid.UUID, request_id: uuid.UUID) -> None:
    """Do what the stored request asks, once. The claim, the account and token rows and the
    message commit together; delivery is enqueued after the commit (the outbox rule)."""
    config: Config = current_app.config["MAILER"]
    for _attempt in range(2):
        db.session.expire_all()
        row = db.session.get(AuthRequest, request_id)
        if row is None or row.tenant_id != tenant_id or row.status != AuthRequestStatus.PENDING:
            return
        tenant = db.session.get(Tenant, row.tenant_id)
        password_hash = row.password_hash
        too_old = row.created_at < utcnow() - PENDING_MAX_AGE
        if not _claim(row, AuthRequestStatus.EXPIRED if too_old else AuthRequestStatus.DONE):
            db.session.rollback()
            return
        try:
            with atomic():
                message = None
                if tenant is not None and tenant.is_active and not too_old:
                    message = _HANDLERS[row.kind](config, tenant, row, password_hash)
                if message is not None:
                    enqueue(stage(message))
                    db.session.add(message)
        except IntegrityError:  # rolled back, the claim too; the second pass sees the new account
            log.info("concurrent sign-up of one address; processing the request again",
                     extra={"auth_request_id": str(request_id)})
            continue
        return
