"""Every model, imported so that metadata (and Alembic) sees them all."""

from mailer.models.api_key import ApiKey
from mailer.models.audit import AuditEvent
from mailer.models.broadcast import BroadcastContent
from mailer.models.message import (
    DeliveryEvent,
    Message,
    MessageKind,
    MessageStatus,
    Recipient,
    RecipientStatus,
)
from mailer.models.template import Template
from mailer.models.tenant import Tenant
from mailer.models.user import Role, User

__all__ = [
    "ApiKey",
    "AuditEvent",
    "BroadcastContent",
    "DeliveryEvent",
    "Message",
    "MessageKind",
    "MessageStatus",
    "Recipient",
    "RecipientStatus",
    "Role",
    "Template",
    "Tenant",
    "User",
]
