"""How to reach one SMTP server."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Encryption(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    SSL = "ssl"


@dataclass(frozen=True)
class SmtpServer:
    """Connection settings for one relay.

    ``owner`` (usually the tenant id) is part of the pool key, so connections are never
    shared across tenants, and neither across credentials.
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

    @property
    def pool_key(self) -> tuple[str, str, int, str | None, Encryption]:
        return (self.owner, self.host, self.port, self.username, self.encryption)
