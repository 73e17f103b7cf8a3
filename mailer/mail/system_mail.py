"""Auth mail (verification, reset, notices): rendered, composed and queued like any other message,
on the `critical` queue so that bulk mail never delays it.

The tenant's template of the same name overrides the built-in one; if the tenant's copy cannot
be rendered, the built-in one is used, because a user must still get their link.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from mailer.config import Config
from mailer.mail.compose import address, compose
from mailer.mail.templates import Rendered, TemplateRenderError, find_template, load_builtin, render, tenant_context
from mailer.models import Message, MessageKind, MessageStatus, Recipient, Tenant, User
from mailer.smtp.mime import Address
from mailer.smtp.validation import MessageValidationError

log = logging.getLogger(__name__)
SYSTEM_QUEUE = "critical"


def action_url(tenant: Tenant, config: Config, path: str, token: str) -> str:
    """A link into the tenant's front end, built from configuration only (never the request's Host)."""
    base = (tenant.frontend_url or config.PUBLIC_BASE_URL).rstrip("/")
    return f"{base}/{path}?{urlencode({'token': token})}"


def mail_context(tenant: Tenant, user: User, **extra: Any) -> dict[str, Any]:
    return {**tenant_context(tenant), "user": {"email": user.email, "name": user.name}, **extra}


def preview_context(config: Config, tenant: Tenant, name: str, user: dict[str, str]) -> dict[str, Any]:
    """What the auth mail template `name` is given when sent, with a placeholder token; {} for other names."""
    reset = {"reset_url": action_url(tenant, config, "reset-password", "preview"),
             "expires_in_minutes": config.RESET_TOKEN_SECONDS // 60}
    extras: dict[str, dict[str, Any]] = {
        MessageKind.VERIFICATION.value: {"verification_url": action_url(tenant, config, "verify-email", "preview"),
                                         "expires_in_hours": config.VERIFICATION_TOKEN_SECONDS // 3600},
        MessageKind.PASSWORD_RESET.value: reset,
        MessageKind.ACCOUNT_EXISTS.value: reset,
        MessageKind.PASSWORD_CHANGED.value: {},
    }
    if name not in extras:
        return {}
    return {"user": user, **extras[name]}


def _render(tenant: Tenant, name: str, context: dict[str, Any]) -> Rendered:
    try:
        return render(find_template(tenant.id, name), context)
    except TemplateRenderError as exc:
        builtin = load_builtin(name)
        if builtin is None:
            raise
        log.warning("tenant template failed, using the built-in one",
                    extra={"template": name, "tenant_id": str(tenant.id), "part": exc.part, "line": exc.line})
        return render(builtin, context)


def _recipient(user: User) -> Address:
    try:
        return address(user.email, user.name, field="to")
    except MessageValidationError:
        return address(user.email, "", field="to")


def build_system_message(
    config: Config, tenant: Tenant, user: User, kind: MessageKind, context: dict[str, Any]
) -> Message:
    """A queued Message (kind, queue critical, creator "system") with the user as its one recipient."""
    rendered = _render(tenant, kind.value, context)
    composed = compose(config, tenant, to=[_recipient(user)], subject=rendered.subject,
                       text=rendered.text, html=rendered.html)
    message = Message(
        tenant_id=tenant.id,
        kind=kind.value,
        created_by=None,
        creator_type="system",
        subject=composed.subject,
        sender=composed.sender,
        message_id_header=composed.message_id,
        raw_mime=composed.wire,
        queue=SYSTEM_QUEUE,
        status=MessageStatus.QUEUED.value,
        tags=[],
        meta={},
    )
    message.recipients = [
        Recipient(tenant_id=tenant.id, position=i, email=r.email, name=r.name)
        for i, r in enumerate(composed.recipients)
    ]
    return message
