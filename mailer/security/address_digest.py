"""The keyed hash an erased address is replaced by (API.md §11).

``HMAC-SHA256(key, lower(address))`` under a key derived from each ``SECRETS_KEY`` entry, written in
the shape of an address on the reserved ``.invalid`` domain so that every column and parser that
holds an address keeps working. The newest key writes; every listed key is tried when matching
(``address_digests``), so a suppression stored as a digest still matches after a key rotation.
Without the key, a digest cannot be checked against a guessed address.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Any

DOMAIN = "erased.invalid"
_CONTEXT = b"mailer address digest v1:"
# The lookbehind starts a match only at the start of a run: a long run without "@" is scanned once, not once
# per position (O(n²), N1).
_ADDRESS = re.compile(r"(?<![^\s@<>\"',;:()\[\]])[^\s@<>\"',;:()\[\]]+@[^\s@<>\"',;:()\[\]]+\.[^\s@<>\"',;:()\[\]]+")


def _digest(key: str, address: str) -> str:
    mac = hmac.new(_CONTEXT + key.encode("ascii"), address.strip().lower().encode("utf-8"), hashlib.sha256)
    return f"{mac.hexdigest()[:40]}@{DOMAIN}"


def address_digest(keys: Sequence[str], address: str) -> str:
    """The digest that replaces ``address`` (under the newest key)."""
    return _digest(keys[0], address)


def address_digests(keys: Sequence[str], address: str) -> list[str]:
    """Every digest ``address`` may have been stored as (one per configured key, newest first)."""
    return [_digest(key, address) for key in keys]


def is_digest(value: str) -> bool:
    return value.lower().endswith("@" + DOMAIN)


def mask_addresses(value: Any, keys: Sequence[str]) -> Any:
    """``value`` (JSON-like) with every address in its strings replaced by its digest (for audit details)."""
    if isinstance(value, str):
        return _ADDRESS.sub(lambda m: m.group(0) if is_digest(m.group(0)) else address_digest(keys, m.group(0)), value)
    if isinstance(value, dict):
        return {key: mask_addresses(item, keys) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_addresses(item, keys) for item in value]
    return value
