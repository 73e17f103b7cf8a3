"""Signed, opaque tokens naming one recipient row: the VERP return path and the unsubscribe link.

A token is base32 (lower case, no padding: local parts survive MTAs that fold case) of the
recipient's 16-byte id and an 80-bit HMAC-SHA256 tag over a purpose byte and that id. It holds
no address, and checking it needs no lookup table: only the key.

The key is derived from ``SECRETS_KEY`` (HMAC of each Fernet key with a label), not from
``JWT_SECRET_KEY``: SECRETS_KEY is a newest-first list made for rotation, so a bounce arriving
days after a key rotation still verifies under the older key while it stays listed, and rotating
the session key (to log everyone out) does not orphan the bounces of mail already sent.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from enum import StrEnum

from mailer.config import Config

_TAG_BYTES = 10
_LABEL = b"mailer feedback token v1"
TOKEN_LENGTH = 42  # base32 of 16 + 10 bytes, unpadded


class TokenKind(StrEnum):
    BOUNCE = "b"  # b-<token>@BOUNCE_DOMAIN: the envelope sender of one recipient's copy
    UNSUBSCRIBE = "u"  # u-<token>@BOUNCE_DOMAIN and /unsubscribe/<token>


@dataclass(frozen=True)
class TokenAddress:
    kind: TokenKind
    recipient_id: uuid.UUID


@functools.cache
def _keys(secrets_key: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(hmac.new(key.encode("ascii"), _LABEL, hashlib.sha256).digest() for key in secrets_key)


def _tag(key: bytes, kind: TokenKind, recipient_id: uuid.UUID) -> bytes:
    return hmac.new(key, kind.value.encode() + recipient_id.bytes, hashlib.sha256).digest()[:_TAG_BYTES]


def make_token(config: Config, kind: TokenKind, recipient_id: uuid.UUID) -> str:
    raw = recipient_id.bytes + _tag(_keys(config.SECRETS_KEY)[0], kind, recipient_id)
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def read_token(config: Config, kind: TokenKind, token: str) -> uuid.UUID | None:
    """The recipient id a genuine token of this kind names, else None (forged, truncated, other kind)."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
    except (binascii.Error, ValueError):
        return None
    if base64.b32encode(raw).decode("ascii").rstrip("=").lower() != token.lower():
        return None  # unused low bits of the last character set: not a token we made, however it decodes
    recipient_id, tag = uuid.UUID(bytes=raw[:16]), raw[16:]
    if any(hmac.compare_digest(tag, _tag(key, kind, recipient_id)) for key in _keys(config.SECRETS_KEY)):
        return recipient_id
    return None


def token_address(config: Config, kind: TokenKind, recipient_id: uuid.UUID) -> str:
    """``<kind>-<token>@BOUNCE_DOMAIN``; only meaningful when BOUNCE_DOMAIN is set."""
    return f"{kind.value}-{make_token(config, kind, recipient_id)}@{config.BOUNCE_DOMAIN}"


def read_address(config: Config, address: str) -> TokenAddress | None:
    """What a ``b-``/``u-`` address on BOUNCE_DOMAIN names, if its token is genuine."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    if not config.BOUNCE_DOMAIN or domain.lower() != config.BOUNCE_DOMAIN.lower():
        return None
    prefix, dash, token = local.partition("-")
    if not dash or prefix.lower() not in ("b", "u"):
        return None
    kind = TokenKind(prefix.lower())
    recipient_id = read_token(config, kind, token.lower())
    return TokenAddress(kind, recipient_id) if recipient_id else None


def envelope_sender(config: Config, sender: str, recipient_id: uuid.UUID) -> str:
    """The return path of one recipient's copy: its VERP address with BOUNCE_DOMAIN, else the From address."""
    return token_address(config, TokenKind.BOUNCE, recipient_id) if config.BOUNCE_DOMAIN else sender
