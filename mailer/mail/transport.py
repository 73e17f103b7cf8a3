"""Where and how long: the SMTP server a delivery uses, and the time bounds derived from it.

Shared by the request path (a job's timeout, set when it is enqueued) and the worker (the
server it connects to), so neither imports the other.
"""

from __future__ import annotations

from mailer.config import Config
from mailer.relays.routing import tenant_relay_server
from mailer.smtp.handler import SmtpSender
from mailer.smtp.settings import Encryption, SmtpServer


def smtp_server(config: Config, owner: str, *, has_relay: bool = True) -> SmtpServer:
    """The tenant's own relay when it has one (never a fallback to ours), else the operator's. ``has_relay``
    false: the caller read in its transaction that the tenant has none (no look-up)."""
    tenant_relay = tenant_relay_server(config, owner) if owner and has_relay else None
    if tenant_relay is not None:
        return tenant_relay
    return SmtpServer(
        host=config.SMTP_HOST,
        port=config.SMTP_PORT,
        username=config.SMTP_USERNAME or None,
        password=config.SMTP_PASSWORD or None,
        encryption=Encryption(config.SMTP_ENCRYPTION),
        timeout=config.SMTP_TIMEOUT_SECONDS,
        verify_tls=config.SMTP_VERIFY_TLS,
        ca_file=config.SMTP_CA_FILE or None,
        owner=owner,
        local_hostname=config.SMTP_HELO_NAME or None,
    )


def max_send_seconds(config: Config, n_mails: int) -> float:
    """Upper bound of the SMTP sender's time for ``n_mails``; job timeouts are set above it."""
    return SmtpSender.max_duration(smtp_server(config, ""), n_mails)


def job_timeout(config: Config) -> int:
    """Longer than the SMTP sender's whole deadline for a full batch, plus the bookkeeping."""
    return int(max_send_seconds(config, config.DELIVERY_BATCH_SIZE)) + 60
