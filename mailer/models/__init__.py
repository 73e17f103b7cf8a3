"""Every model, imported so that metadata (and Alembic) sees them all."""

from mailer.models.api_key import ApiKey
from mailer.models.audit import AuditEvent
from mailer.models.auth_request import AuthRequest, AuthRequestKind, AuthRequestStatus
from mailer.models.broadcast import BroadcastContent
from mailer.models.domain import DkimKey, RecordStatus, SendingDomain
from mailer.models.idempotency import IdempotencyKey
from mailer.models.message import (
    DeliveryEvent,
    Message,
    MessageKind,
    MessageStatus,
    Recipient,
    RecipientStatus,
)
from mailer.models.relay import TenantRelay
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
    "DkimKey",
    "IdempotencyKey",
    "Message",
    "MessageKind",
    "MessageStatus",
    "Recipient",
    "RecipientStatus",
    "RecordStatus",
    "RefreshToken",
    "Role",
    "SendingDomain",
    "Template",
    "Tenant",
    "TenantRelay",
    "User",
]
