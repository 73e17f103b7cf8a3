"""Every model, imported so that metadata (and Alembic) sees them all."""

from mailer.models.api_key import ApiKey
from mailer.models.audit import AuditEvent
from mailer.models.auth_request import AuthRequest, AuthRequestKind, AuthRequestStatus
from mailer.models.broadcast import BroadcastContent
from mailer.models.delivery_stat import DeliveryStat, StatScope
from mailer.models.erasure import Erasure, ErasureStatus
from mailer.models.idempotency import IdempotencyKey
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
from mailer.models.token import ActionPurpose, ActionToken, RefreshToken
from mailer.models.user import Role, User

__all__ = [
    "ActionPurpose",
    "ActionToken",
    "ApiKey",
    "AuditEvent",
    "AuthRequest",
    "AuthRequestKind",
    "AuthRequestStatus",
    "BroadcastContent",
    "DeliveryEvent",
    "DeliveryStat",
    "Erasure",
    "ErasureStatus",
    "IdempotencyKey",
    "Message",
    "MessageKind",
    "MessageStatus",
    "Recipient",
    "RecipientStatus",
    "RefreshToken",
    "Role",
    "StatScope",
    "Template",
    "Tenant",
    "User",
]
