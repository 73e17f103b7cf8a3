"""The caller behind a request, established from the bearer token alone."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request

from mailer.errors import ForbiddenError, UnauthorizedError
from mailer.extensions import db
from mailer.models import ActorType, Role, Tenant, User
from mailer.security.api_keys import resolve_api_key
from mailer.security.revocation import is_revoked
from mailer.security.tokens import TokenError, decode_token
from mailer.security.types import API_KEY_PREFIX, Principal

__all__ = ["API_KEY_PREFIX", "Principal", "authenticate", "bearer_token", "current_principal", "require_role"]

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(token: str) -> Principal:
    """Turn a bearer token into a principal, or raise UnauthorizedError."""
    if token.startswith(API_KEY_PREFIX):
        principal = resolve_api_key(token)
        if principal is None:
            raise UnauthorizedError("Invalid API key.")
        return principal
    try:
        claims = decode_token(current_app.config["MAILER"], token, typ="access")
    except TokenError:
        raise UnauthorizedError("The access token is invalid or expired.") from None
    user = db.session.get(User, claims.user_id)
    if (
        user is None
        or user.tenant_id != claims.tenant_id
        or not user.is_active
        or user.token_version != claims.version
        or not user.email_verified
        or not db.session.get(Tenant, user.tenant_id).is_active
        or is_revoked(claims.jti)
    ):
        raise UnauthorizedError("The access token is invalid or expired.")
    g.caller_tenant = user.tenant  # held for the request (see api_keys.resolve_api_key)
    # The role is the user's current one, not the one frozen into the token.
    return Principal(ActorType.USER, user.id, user.tenant_id, user.role, claims.jti, claims.expires_at)


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        token = bearer_token()
        if token is None:
            raise UnauthorizedError("A bearer token is required.")
        principal = g.principal = authenticate(token)
    return principal


def require_role(*roles: Role) -> Callable[[F], F]:
    """Route decorator: authenticate, then allow only the given roles (403 otherwise)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal.role not in roles:
                raise ForbiddenError()
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
