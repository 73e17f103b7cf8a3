"""How to reach one SMTP server."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

# Keys the password fingerprint in pool keys, so a key in a log or a repr says nothing
# about the password, even to someone who guesses it offline.
_FINGERPRINT_KEY = secrets.token_bytes(16)

DEADLINE_FACTOR = 4


class Encryption(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    SSL = "ssl"


@dataclass(frozen=True)
class SmtpServer:
    """Connection settings for one relay.

    ``owner`` (usually the tenant id) is part of the pool key, so connections are never
    shared across tenants, and neither across credentials nor TLS settings.

    ``timeout`` bounds each socket operation; ``deadline`` (default
    ``DEADLINE_FACTOR * timeout``) bounds the wall-clock time of one attempt to deliver
    one message, connecting included, so a server trickling bytes cannot hold a worker.
    """

    host: str = "localhost"
    port: int = 1025
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    encryption: Encryption = Encryption.NONE
    timeout: float = 15.0
    verify_tls: bool = True
    ca_file: str | None = None
    owner: str = ""
    deadline: float | None = None
    local_hostname: str | None = None
    # False for a host a tenant chose: connect only to public addresses (smtp/addresses.py).
    allow_private: bool = True
    # Set when the server must not be contacted (its settings cannot be used): every mail is deferred with it.
    unusable: str | None = None

    @property
    def attempt_deadline(self) -> float:
        """Seconds one message's attempt may take at most, wall clock."""
        return self.deadline if self.deadline is not None else DEADLINE_FACTOR * self.timeout

    @property
    def pool_key(self) -> tuple[object, ...]:
        """(owner, host, port, username, encryption, password fingerprint, verify_tls, ca_file, guards)."""
        return (
            self.owner,
            self.host,
            self.port,
            self.username,
            self.encryption,
            self._password_fingerprint(),
            self.verify_tls,
            self.ca_file,
            self.allow_private,
            self.unusable,
        )

    def _password_fingerprint(self) -> str | None:
        if self.password is None:
            return None
        return hmac.new(_FINGERPRINT_KEY, self.password.encode(), hashlib.sha256).hexdigest()[:16]
