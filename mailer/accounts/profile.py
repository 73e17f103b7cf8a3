"""A signed-in person's own account: name and language (PATCH /v1/auth/me, §14) and password change."""

from __future__ import annotations

from mailer.audit import record_audit
from mailer.errors import InvalidCredentialsError, ValidationError
from mailer.extensions import db
from mailer.i18n import SUPPORTED_LOCALES
from mailer.models import User
from mailer.security.passwords import hash_password, verify_password
from mailer.security.sessions import revoke_user_sessions


def update_profile(user: User, *, name: str | None = None, locale: str | None = None) -> User:
    """Change the name and/or language; ``locale`` must be one of §14's (422 otherwise). Audited, committed."""
    if locale is not None and locale not in SUPPORTED_LOCALES:
        raise ValidationError(errors=[{"field": "locale", "message": f"one of {', '.join(SUPPORTED_LOCALES)}"}])
    before = {"name": user.name, "locale": user.locale}
    if name is not None:
        user.name = name
    if locale is not None:
        user.locale = locale
    after = {"name": user.name, "locale": user.locale}
    if after != before:
        record_audit("user.changed", tenant_id=user.tenant_id, actor_id=user.id,
                     details={"user_id": str(user.id), "before": before, "after": after})
    db.session.commit()
    return user


def change_password(user: User, current: str, new: str) -> None:
    """The current password proves it is the owner; every session and token of the user ends (committed)."""
    if not verify_password(user.password_hash, current):
        raise InvalidCredentialsError()
    user.password_hash = hash_password(new)
    user.token_version += 1
    revoke_user_sessions(user.id)
    record_audit("password.changed", tenant_id=user.tenant_id, actor_id=user.id, details={"user_id": str(user.id)})
    db.session.commit()
