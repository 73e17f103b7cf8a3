"""Access and refresh JWTs (PyJWT, algorithm pinned, every claim required)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from mailer.config import Config

REQUIRED_CLAIMS = ["iss", "aud", "sub", "tid", "role", "typ", "jti", "iat", "nbf", "exp", "ver"]
MAX_TOKEN_LENGTH = 4096
# We issue tokens with exactly these header parameters. Anything else (jku, jwk, x5u, x5c, kid,
# crit, ...) marks a token we did not issue; it is refused without ever being acted upon.
ALLOWED_HEADER_PARAMETERS = frozenset({"alg", "typ"})


class TokenError(Exception):
    """The token is not one we issued, or no longer valid. Never carries the token."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    typ: str
    jti: str
    version: int
    expires_at: datetime
    family: str | None = None


def issue_token(
    config: Config,
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    role: str,
    version: int,
    typ: str = "access",
    family: str | None = None,
) -> tuple[str, TokenClaims]:
    now = datetime.now(UTC)
    lifetime = config.ACCESS_TOKEN_SECONDS if typ == "access" else config.REFRESH_TOKEN_SECONDS
    expires = now + timedelta(seconds=lifetime)
    jti = uuid.uuid4().hex
    payload: dict[str, Any] = {
        "iss": config.JWT_ISSUER,
        "aud": config.JWT_AUDIENCE,
        "sub": str(user_id),
        "tid": str(tenant_id),
        "role": role,
        "typ": typ,
        "jti": jti,
        "iat": now,
        "nbf": now,
        "exp": expires,
        "ver": version,
    }
    if family:
        payload["fam"] = family
    token = jwt.encode(payload, config.JWT_SECRET_KEY, algorithm=config.JWT_ALGORITHM)
    claims = TokenClaims(user_id, tenant_id, role, typ, jti, version, expires, family)
    return token, claims


def decode_token(config: Config, token: str, *, typ: str) -> TokenClaims:
    """Verify signature, pinned algorithm, issuer, audience, lifetime and type.

    Header parameters such as jku/jwk/x5u/x5c/kid are never acted upon (the key is ours and
    configured); a token carrying any of them is refused.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("token too long")
    try:
        header = jwt.get_unverified_header(token)
        if not set(header) <= ALLOWED_HEADER_PARAMETERS or header.get("typ", "JWT") != "JWT":
            raise TokenError("unexpected header parameters")
        payload = jwt.decode(
            token,
            config.JWT_SECRET_KEY,
            algorithms=[config.JWT_ALGORITHM],
            audience=config.JWT_AUDIENCE,
            issuer=config.JWT_ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
        if payload["typ"] != typ:
            raise TokenError("wrong token type")
        return TokenClaims(
            user_id=uuid.UUID(str(payload["sub"])),
            tenant_id=uuid.UUID(str(payload["tid"])),
            role=str(payload["role"]),
            typ=str(payload["typ"]),
            jti=str(payload["jti"]),
            version=int(payload["ver"]),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            family=payload.get("fam"),
        )
    except TokenError:
        raise
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise TokenError(type(exc).__name__) from None
