"""Signed, opaque tokens naming one recipient row: the VERP return path and the unsubscribe link.

A token is base32 (lower case, no padding: local parts survive MTAs that fold case) of the
recipient's 16-byte id and an 80-bit HMAC-SHA256 tag over a purpose byte and that id. It holds
no address, and checking it needs no lookup table: only the key.

The key is the stable token key (``security.stable_keys``), not one derived from the Fernet keys in use
nor ``JWT_SECRET_KEY``: a bounce or an unsubscribe click arriving weeks after a SECRETS_KEY rotation
(the old key dropped) or a session-key change still verifies. Tokens made before the keyring existed
verify while the SECRETS_KEY they were made under stays listed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from enum import StrEnum

from mailer.config import Config
from mailer.security.stable_keys import stable_keys, token_keys

_TAG_BYTES = 10
TOKEN_LENGTH = 42  # base32 of 16 + 10 bytes, unpadded


class TokenKind(StrEnum):
    BOUNCE = "b"  # b-<token>@BOUNCE_DOMAIN: the envelope sender of one recipient's copy
    UNSUBSCRIBE = "u"  # u-<token>@BOUNCE_DOMAIN and /unsubscribe/<token>


@dataclass(frozen=True)
class TokenAddress:
    kind: TokenKind
    recipient_id: uuid.UUID


def _tag(key: bytes, kind: TokenKind, recipient_id: uuid.UUID) -> bytes:
    return hmac.new(key, kind.encode() + recipient_id.bytes, hashlib.sha256).digest()[:_TAG_BYTES]


def make_token(config: Config, kind: TokenKind, recipient_id: uuid.UUID) -> str:
    # The current key alone (token_keys' first): the legacy keys are only for reading (one per copy and kind).
    raw = recipient_id.bytes + _tag(stable_keys(config).token, kind, recipient_id)
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
    if any(hmac.compare_digest(tag, _tag(key, kind, recipient_id)) for key in token_keys(config)):
        return recipient_id
    return None


def token_address(config: Config, kind: TokenKind, recipient_id: uuid.UUID) -> str:
    """``<kind>-<token>@BOUNCE_DOMAIN``; only meaningful when BOUNCE_DOMAIN is set."""
    return f"{kind}-{make_token(config, kind, recipient_id)}@{config.BOUNCE_DOMAIN}"


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


def unsubscribe_headers(config: Config, recipient_id: uuid.UUID) -> tuple[tuple[str, str], ...]:
    """List-Unsubscribe (https, plus mailto with BOUNCE_DOMAIN) and List-Unsubscribe-Post for one copy."""
    return unsubscribe_link(config, recipient_id)[1]


def unsubscribe_link(config: Config, recipient_id: uuid.UUID) -> tuple[str, tuple[tuple[str, str], ...]]:
    """One copy's unsubscribe page URL (the link in its footer) and its List-Unsubscribe headers."""
    token = make_token(config, TokenKind.UNSUBSCRIBE, recipient_id)
    url = f"{config.PUBLIC_BASE_URL.rstrip('/')}/unsubscribe/{token}"
    targets = [f"<{url}>"]
    if config.BOUNCE_DOMAIN:
        targets.append(f"<mailto:{token_address(config, TokenKind.UNSUBSCRIBE, recipient_id)}>")
    return url, (("List-Unsubscribe", ", ".join(targets)), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
