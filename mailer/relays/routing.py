"""The SMTP server a tenant's mail goes through when the tenant has its own relay (no Flask request state).

No fallback: a tenant relay that cannot be used (its password unreadable, its host private without
RELAY_ALLOW_PRIVATE) is still *the* server; the SMTP client then defers the mail with the reason.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import bindparam, select

from mailer.config import Config
from mailer.extensions import db
from mailer.models import TenantRelay
from mailer.security.sealed import open_value
from mailer.security.secret_box import SecretUnreadableError
from mailer.smtp.settings import Encryption, SmtpServer

log = logging.getLogger(__name__)
# Built once: a claim looks its tenant's relay up, and building the statement cost more than running it.
_RELAY_OF = select(TenantRelay).where(TenantRelay.tenant_id == bindparam("tenant_id", type_=TenantRelay.tenant_id.type))
UNREADABLE = "the tenant relay's password cannot be decrypted with SECRETS_KEY"


def relay_server(config: Config, relay: TenantRelay) -> SmtpServer:
    password, unusable = None, None
    if relay.password_sealed:
        try:
            password = open_value(config, TenantRelay.password_sealed, relay.tenant_id, relay.password_sealed)
        except SecretUnreadableError:
            log.error(UNREADABLE, extra={"tenant_id": str(relay.tenant_id)})
            unusable = UNREADABLE
    return SmtpServer(
        host=relay.host, port=relay.port, username=relay.username, password=password,
        encryption=Encryption(relay.encryption), timeout=config.SMTP_TIMEOUT_SECONDS, verify_tls=relay.verify_tls,
        ca_file=config.SMTP_CA_FILE or None, owner=str(relay.tenant_id), local_hostname=config.SMTP_HELO_NAME or None,
        allow_private=config.RELAY_ALLOW_PRIVATE, unusable=unusable,
    )


def tenant_relay_server(config: Config, owner: str) -> SmtpServer | None:
    """The tenant's relay for ``owner`` (a tenant id), or None when it uses the operator's."""
    try:
        tenant_id = uuid.UUID(owner)
    except ValueError:
        return None
    relay = db.session.scalars(_RELAY_OF, {"tenant_id": tenant_id}).first()
    return relay_server(config, relay) if relay is not None else None
