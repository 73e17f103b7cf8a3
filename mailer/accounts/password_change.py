"""A signed-in person changes their own password (the console's account page)."""

from __future__ import annotations

from mailer.audit import record_audit
from mailer.errors import InvalidCredentialsError
from mailer.extensions import atomic
from mailer.models import User
from mailer.security.passwords import hash_password, verify_password
from mailer.security.sessions import revoke_user_sessions


def change_password(user: User, current: str, new: str) -> None:
    """The current password proves it is the owner; every session and token of the user ends (committed)."""
    if not verify_password(user.password_hash, current):
        raise InvalidCredentialsError()
    user.password_hash = hash_password(new)
    user.token_version += 1
    revoke_user_sessions(user.id)
    with atomic():
        record_audit("password.changed", tenant_id=user.tenant_id, actor_id=user.id, details={"user_id": str(user.id)})
