"""The keyed hash an erased address is replaced by (API.md §11).

``HMAC-SHA256(key, lower(address))`` under the stable digest key (``security.stable_keys``: it never
changes with a SECRETS_KEY rotation, so a suppression stored as a digest keeps matching after the old key
is dropped), written in the shape of an address on the reserved ``.invalid`` domain so that every column
and parser that holds an address keeps working. Matching also tries the digests made before the keyring
existed under each still-listed key (``address_digests``). Without the key, a digest cannot be checked
against a guessed address.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from mailer.config import Config
from mailer.security.stable_keys import digest_keys

DOMAIN = "erased.invalid"
# The lookbehind starts a match only at the start of a run: a long run without "@" is scanned once, not once
# per position (O(n²), N1).
_ADDRESS = re.compile(r"(?<![^\s@<>\"',;:()\[\]])[^\s@<>\"',;:()\[\]]+@[^\s@<>\"',;:()\[\]]+\.[^\s@<>\"',;:()\[\]]+")


def _digest(key: bytes, address: str) -> str:
    mac = hmac.new(key, address.strip().lower().encode("utf-8"), hashlib.sha256)
    return f"{mac.hexdigest()[:40]}@{DOMAIN}"


def address_digest(config: Config, address: str) -> str:
    """The digest that replaces ``address``."""
    return _digest(digest_keys(config)[0], address)


def address_digests(config: Config, address: str) -> list[str]:
    """Every digest ``address`` may have been stored as (the stable key's first)."""
    return [_digest(key, address) for key in digest_keys(config)]


def is_digest(value: str) -> bool:
    return value.lower().endswith("@" + DOMAIN)


def mask_addresses(value: Any, config: Config) -> Any:
    """``value`` (JSON-like) with every address in its strings replaced by its digest (for audit details)."""
    if isinstance(value, str):
        return _ADDRESS.sub(lambda m: m.group(0) if is_digest(m.group(0)) else address_digest(config, m.group(0)),
                            value)
    if isinstance(value, dict):
        return {key: mask_addresses(item, config) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_addresses(item, config) for item in value]
    return value
