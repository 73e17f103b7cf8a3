"""Secrets at rest (API.md §7, §10): Fernet tokens under ``SECRETS_KEY``, each bound to where it is stored.

``SECRETS_KEY`` lists keys newest first. The newest encrypts; every listed key decrypts, so an operator
rotates by putting a new key in front, running ``flask --app wsgi secrets rotate`` (re-encrypts every stored
secret under the newest key) and then dropping the old key. Only encryption rotates: the HMAC keys that
must keep verifying (audit chain, address digests, feedback tokens) are ``security.stable_keys``.

Fernet has no associated data, so the place a value belongs to (``context``: table, column and row, see
``security.sealed``) is sealed inside it, in front of the plaintext, and checked on open: a database writer
who copies tenant A's sealed DKIM key into tenant B's relay password gets an unreadable value, not A's key
sent to B's relay (review N11). Values sealed before binding existed (no marker) still open until the
rotate walk has rewritten every one of them bound (``allow_unbound``, security.sealed). A token is
opaque base64 text, safe for a ``Text`` column. Nothing here logs or echoes a plaintext or a key.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# NUL cannot begin a value we seal (PEM, whsec_, addresses; JSON bodies refuse NUL), so it marks a bound one.
_MARK = "\x00bound\x00"


class SecretUnreadableError(RuntimeError):
    """A stored secret was sealed under a key that SECRETS_KEY no longer lists, was tampered with, or belongs
    to another table, column or row."""


class SecretBox:
    """Seals and opens secrets with the configured keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one Fernet key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, plaintext: str, *, context: str) -> str:
        bound = f"{_MARK}{context}\x00{plaintext}"
        return self._fernet.encrypt(bound.encode("utf-8")).decode("ascii")

    def open(self, token: str, *, context: str, allow_unbound: bool = True) -> str:
        plaintext, bound = self._open(token, context)
        if not bound and not allow_unbound:
            raise SecretUnreadableError("a stored secret is not bound to its place (every value was bound)")
        return plaintext

    def reseal(self, token: str, *, context: str) -> str:
        """The same secret under the newest key, bound to ``context`` (for rotation)."""
        plaintext, _ = self._open(token, context)
        return self.seal(plaintext, context=context)

    def is_bound(self, token: str, *, context: str) -> bool:
        return self._open(token, context)[1]

    def _open(self, token: str, context: str) -> tuple[str, bool]:
        try:
            text = self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise SecretUnreadableError("a stored secret cannot be decrypted with SECRETS_KEY") from exc
        if not text.startswith(_MARK):
            return text, False  # sealed before values were bound (the rotate walk binds it)
        sealed_for, separator, plaintext = text[len(_MARK):].partition("\x00")
        if not separator or sealed_for != context:
            raise SecretUnreadableError("a stored secret was sealed for another place (moved or copied)")
        return plaintext, True


@functools.cache
def secret_box(keys: tuple[str, ...]) -> SecretBox:
    """The process's box for these keys (``config.SECRETS_KEY``); building Fernet objects once."""
    return SecretBox(keys)
