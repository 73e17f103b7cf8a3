"""Secrets at rest (API.md §7, §10): Fernet tokens under ``SECRETS_KEY``.

``SECRETS_KEY`` lists keys newest first. The newest encrypts; every listed key decrypts, so an operator
rotates by putting a new key in front, running ``flask --app wsgi secrets rotate`` (re-encrypts every stored
secret under the newest key) and then dropping the old key. A token is opaque base64 text, safe for a
``Text`` column. Nothing here logs or echoes a plaintext or a key.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretUnreadableError(RuntimeError):
    """A stored secret was sealed under a key that SECRETS_KEY no longer lists (or was tampered with)."""


class SecretBox:
    """Seals and opens secrets with the configured keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one Fernet key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise SecretUnreadableError("a stored secret cannot be decrypted with SECRETS_KEY") from exc

    def reseal(self, token: str) -> str:
        """The same secret under the newest key (for rotation)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError) as exc:
            raise SecretUnreadableError("a stored secret cannot be decrypted with SECRETS_KEY") from exc


@functools.cache
def secret_box(keys: tuple[str, ...]) -> SecretBox:
    """The process's box for these keys (``config.SECRETS_KEY``); building Fernet objects once."""
    return SecretBox(keys)
