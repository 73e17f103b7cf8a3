"""The caller behind a request, established from the bearer token alone."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request

from mailer.errors import ForbiddenError, UnauthorizedError
from mailer.extensions import db
from mailer.models import Tenant, User
from mailer.security.revocation import is_revoked
from mailer.security.tokens import TokenError, decode_token

F = TypeVar("F", bound=Callable[..., Any])

# Resolves an API key to a principal, or None; installed by the admin package.
ApiKeyResolver = Callable[[str], "Principal | None"]
_api_key_resolvers: list[ApiKeyResolver] = []
API_KEY_PREFIX = "mk_"


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" or "api_key"
    id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    jti: str | None = None
    expires_at: datetime | None = None


def register_api_key_resolver(resolver: ApiKeyResolver) -> None:
    if resolver not in _api_key_resolvers:
        _api_key_resolvers.append(resolver)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(token: str) -> Principal:
    """Turn a bearer token into a principal, or raise UnauthorizedError."""
    if token.startswith(API_KEY_PREFIX):
        for resolve in _api_key_resolvers:
            principal = resolve(token)
            if principal is not None:
                return principal
        raise UnauthorizedError("Invalid API key.")
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
    # The role is the user's current one, not the one frozen into the token.
    return Principal("user", user.id, user.tenant_id, user.role, claims.jti, claims.expires_at)


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        token = bearer_token()
        if token is None:
            raise UnauthorizedError("A bearer token is required.")
        principal = g.principal = authenticate(token)
    return principal


def require_role(*roles: str) -> Callable[[F], F]:
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
