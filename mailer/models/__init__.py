"""Every model, imported so that metadata (and Alembic) sees them all."""

from mailer.models.api_key import ApiKey
from mailer.models.audit import AuditEvent
from mailer.models.auth_request import AuthRequest, AuthRequestKind, AuthRequestStatus
from mailer.models.broadcast import BroadcastContent
from mailer.models.console_session import ConsoleSession
from mailer.models.delivery_stat import DeliveryStat, StatScope
from mailer.models.domain import DkimKey, RecordStatus, SendingDomain
from mailer.models.erasure import Erasure, ErasureStatus
from mailer.models.feedback import (
    FeedbackOutcome,
    FeedbackRecord,
    InboundReport,
    ReportStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
)
from mailer.models.idempotency import IdempotencyKey
from mailer.models.keyring import HmacKeyring
from mailer.models.message import (
    MESSAGE_FINISHED,
    UNDELIVERED,
    UNFINISHED,
    WAITING,
    DeliveryEvent,
    Message,
    MessageKind,
    MessageStatus,
    Recipient,
    RecipientStatus,
)
from mailer.models.relay import TenantRelay
from mailer.models.template import Template, TemplateVariant
from mailer.models.tenant import Tenant
from mailer.models.token import ActionPurpose, ActionToken, RefreshToken
from mailer.models.user import ActorType, PersonRole, Role, User
from mailer.models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "MESSAGE_FINISHED",
    "UNDELIVERED",
    "UNFINISHED",
    "WAITING",
    "ActionPurpose",
    "ActionToken",
    "ActorType",
    "ApiKey",
    "AuditEvent",
    "AuthRequest",
    "AuthRequestKind",
    "AuthRequestStatus",
    "BroadcastContent",
    "ConsoleSession",
    "DeliveryEvent",
    "DeliveryStat",
    "DeliveryStatus",
    "DkimKey",
    "Erasure",
    "ErasureStatus",
    "FeedbackOutcome",
    "FeedbackRecord",
    "HmacKeyring",
    "IdempotencyKey",
    "InboundReport",
    "Message",
    "MessageKind",
    "MessageStatus",
    "PersonRole",
    "Recipient",
    "RecipientStatus",
    "RecordStatus",
    "RefreshToken",
    "ReportStatus",
    "Role",
    "SendingDomain",
    "StatScope",
    "Suppression",
    "SuppressionReason",
    "SuppressionScope",
    "Template",
    "TemplateVariant",
    "Tenant",
    "TenantRelay",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
