"""Tenant administration rules. Each function owns its commit and writes an audit event."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from mailer.admin.branding import check_branding
from mailer.audit import record_audit
from mailer.domains.policy import may_send_as
from mailer.errors import ValidationError
from mailer.extensions import atomic, db
from mailer.models import ApiKey, Role, Tenant, User
from mailer.models.types import utcnow
from mailer.retention.policy import check_retention_days
from mailer.security.api_keys import new_api_key
from mailer.security.scope import get_owned, tenant_select
from mailer.security.types import Principal
from mailer.smtp.validation import check_display_name, normalize_address

_HTTP_URL = re.compile(r"https?://[^\s/?#@]+(?:[/?#][^\s]*)?", re.IGNORECASE)


def _field_error(field: str, message: str) -> ValidationError:
    return ValidationError("One or more fields are invalid.", errors=[{"field": field, "message": message}])


def update_tenant(principal: Principal, changes: dict[str, Any]) -> Tenant:
    tenant = db.session.get(Tenant, principal.tenant_id)
    if "frontend_url" in changes and changes["frontend_url"] is not None:
        url = changes["frontend_url"].strip().rstrip("/")
        if not _HTTP_URL.fullmatch(url):
            raise _field_error("frontend_url", "must be an http:// or https:// URL")
        changes["frontend_url"] = url
    if changes.get("mail_from") is not None:
        changes["mail_from"] = normalize_address(changes["mail_from"], field="mail_from")
    if changes.get("mail_from_name") is not None:
        changes["mail_from_name"] = check_display_name(changes["mail_from_name"], field="mail_from_name")
    if changes.get("name") is not None:  # it is in every account mail's subject: a header's rules
        changes["name"] = check_display_name(changes["name"], field="name")
    if changes.get("mail_from") is not None and not may_send_as(current_app.config["MAILER"], tenant,
                                                                changes["mail_from"]):
        raise _field_error("mail_from", "must be on a verified sending domain of the tenant (POST /v1/domains)")
    for field in ("name", "signup_enabled"):
        if field in changes and changes[field] is None:
            raise _field_error(field, "cannot be null")
    if "retention_days" in changes:
        check_retention_days(current_app.config["MAILER"], changes["retention_days"])
    changes.update(check_branding(changes))
    for name, value in changes.items():
        setattr(tenant, name, value)
    with atomic():
        record_audit("tenant.changed", tenant_id=tenant.id, actor_id=principal.id, actor_type=principal.kind,
                     details={"fields": sorted(changes)})
    return tenant


def _lock_tenant(tenant_id: Any) -> None:
    """The tenant row's writer lock (as the audit chain takes it) until the transaction ends: two admins
    demoting or disabling each other at once are serialised, and the second sees the first's change (L14)."""
    db.session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update(key_share=True))


def _other_active_admins(user: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(
            tenant_select(User, user.tenant_id)
            .where(User.id != user.id, User.role == Role.ADMIN, User.is_active.is_(True))
            .subquery()
        )
    ) or 0


def update_user(principal: Principal, user_id: str, changes: dict[str, Any]) -> User:
    """Change a user's role or active flag; either change ends the user's sessions at once."""
    user = get_owned(User, user_id)
    role, active = changes.get("role"), changes.get("is_active")
    if role is None and "role" in changes:
        raise _field_error("role", "cannot be null")
    if active is None and "is_active" in changes:
        raise _field_error("is_active", "cannot be null")
    loses_admin = user.role == Role.ADMIN and user.is_active and (
        (role is not None and role != Role.ADMIN) or active is False
    )
    with atomic():
        if loses_admin:
            _lock_tenant(user.tenant_id)
            db.session.refresh(user)  # as it is now that the lock is held
            if _other_active_admins(user) == 0:
                raise _field_error("role" if role is not None else "is_active", "the tenant must keep an active admin")
            _revoke_keys_of(principal, user)
        before = {"role": user.role, "is_active": user.is_active}
        if role is not None:
            user.role = role
        if active is not None:
            user.is_active = active
        after = {"role": user.role, "is_active": user.is_active}
        if after != before:
            # Tokens carry the role and the version; bumping the version voids every one of them.
            user.token_version += 1
            record_audit("user.changed", tenant_id=user.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                         details={"user_id": str(user.id), "before": before, "after": after})
    return user


def _revoke_keys_of(principal: Principal, user: User) -> None:
    """API keys act with the tenant's authority (role service): an admin who is demoted or disabled takes the
    keys they created with them (L13), each revoked and audited as DELETE /v1/api-keys/{id} would."""
    keys = db.session.scalars(tenant_select(ApiKey, user.tenant_id).where(
        ApiKey.created_by == user.id, ApiKey.revoked_at.is_(None))).all()
    for key in keys:
        key.revoked_at = utcnow()
        record_audit("api_key.revoked", tenant_id=user.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                     details={"api_key_id": str(key.id), "name": key.name, "reason": "creator lost admin"})


def create_api_key(principal: Principal, name: str) -> tuple[ApiKey, str]:
    key, secret = new_api_key(principal.tenant_id, name.strip() or name, principal.id)
    db.session.flush()
    with atomic():
        record_audit("api_key.created", tenant_id=principal.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                     details={"api_key_id": str(key.id), "name": key.name})
    return key, secret


def revoke_api_key(principal: Principal, key_id: str) -> None:
    key = get_owned(ApiKey, key_id, ApiKey.revoked_at.is_(None))
    key.revoked_at = utcnow()
    with atomic():
        record_audit("api_key.revoked", tenant_id=principal.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                     details={"api_key_id": str(key.id), "name": key.name})
