"""DKIM keys: a fresh 2048-bit RSA key per selector, its DNS TXT value, and selectors."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS = 2048


@dataclass(frozen=True)
class NewKey:
    selector: str
    public_key: str  # base64 DER SubjectPublicKeyInfo: the p= tag
    private_pem: str = field(repr=False)


def new_selector() -> str:
    """Unique enough per domain, sortable by month, and saying nothing about the key."""
    return f"m{datetime.now(UTC):%Y%m}{secrets.token_hex(3)}"


def new_dkim_key() -> NewKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode("ascii")
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return NewKey(new_selector(), base64.b64encode(public_der).decode("ascii"), private_pem)


def dkim_txt_value(public_key: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_key}"


def dkim_record_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def parse_tags(txt: str) -> dict[str, str]:
    """A DKIM tag list (RFC 6376 §3.2) as a dict; whitespace inside values removed, as verifiers do."""
    tags: dict[str, str] = {}
    for part in txt.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = "".join(value.split())
    return tags


def matches_public_key(txt: str, public_key: str) -> bool:
    tags = parse_tags(txt)
    return tags.get("v", "DKIM1") == "DKIM1" and tags.get("k", "rsa") == "rsa" and tags.get("p") == public_key
