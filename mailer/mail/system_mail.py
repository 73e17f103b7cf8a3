"""Auth mail (verification, reset, notices): rendered, composed and queued like any other message,
on the `critical` queue so that bulk mail never delays it.

The tenant's template of the same name overrides the built-in one; if the tenant's copy cannot
be rendered, the built-in one is used, because a user must still get their link. An override
gets a short render budget, and one that failed is skipped for a while, so that a bad override
cannot hold up the critical queue that every tenant's account mail shares.

A mail with a link (verification, reset, account exists) is never stored whole: its token would
be in clear in `messages.raw_mime`. Such a message is checked when it is created (rendered and
built with a placeholder token of the real length) and stored without a wire form; each delivery
attempt issues a fresh token (voiding the previous one) and builds the mail in memory.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import select

from mailer.config import Config
from mailer.errors import MAPPED_ERRORS
from mailer.extensions import db
from mailer.i18n import rendered_in
from mailer.mail.account_links import LINKS, action_url, link_context
from mailer.mail.compose import ComposedMessage, address, compose
from mailer.mail.personalize import RecipientRenderError
from mailer.mail.templates import (
    Rendered,
    TemplateRenderError,
    TemplateSource,
    find_template,
    load_builtin,
    reader_locale,
    render,
    tenant_context,
)
from mailer.models import ActorType, Message, MessageKind, MessageStatus, Recipient, Tenant, User
from mailer.models.message import queue_priority
from mailer.security.action_tokens import TOKEN_BYTES, issue_action_token
from mailer.smtp.mime import Address
from mailer.smtp.validation import MessageValidationError

__all__ = ["action_url", "build_system_message", "mail_context", "preview_context", "render_account_mail"]

log = logging.getLogger(__name__)
SYSTEM_QUEUE = "critical"
OVERRIDE_RENDER_SECONDS = 0.5
FAILED_OVERRIDE_SKIP_SECONDS = 600.0
PLACEHOLDER_TOKEN = "x" * ((TOKEN_BYTES * 4 + 2) // 3)  # as long as a real token, so size checks see the real size
_failed_overrides: dict[tuple[uuid.UUID, str, TemplateSource], float] = {}


NAME_IN_UNVERIFIED_MAIL = 50
# Anything a mail client may turn into a link, or that reads as an address or a domain.
_LINKISH = re.compile(r"://|www\.|@|[\w-]\.[a-z]{2,}|\.[\w-]+/", re.IGNORECASE)


def shown_name(user: User) -> str:
    """The name account mail may show. Before the address is verified the name is whatever a stranger typed
    at sign-up, mailed to an address they need not own (L6): then at most NAME_IN_UNVERIFIED_MAIL characters,
    and nothing at all if it holds anything link-like, so it cannot carry a phishing text or link."""
    name = user.name or ""
    if user.email_verified_at is not None:
        return name
    if _LINKISH.search(name):
        return ""
    return name[:NAME_IN_UNVERIFIED_MAIL].strip()


def mail_context(tenant: Tenant, user: User, **extra: Any) -> dict[str, Any]:
    return {**tenant_context(tenant), "user": {"email": user.email, "name": shown_name(user)}, **extra}


def preview_context(config: Config, tenant: Tenant, name: str, user: dict[str, str], locale: str) -> dict[str, Any]:
    """What the auth mail template `name` is given when sent, with a placeholder token; {} for other names."""
    if name == MessageKind.PASSWORD_CHANGED:
        return {"user": user, "locale": locale}
    if name not in LINKS:
        return {}
    return {"user": user, "locale": locale, **link_context(config, tenant, name, "preview")}


def _render(tenant: Tenant, name: str, context: dict[str, Any], locale: str) -> Rendered:
    """The tenant's template (its `locale` variant first) else the built-in one, rendered in ``locale``."""
    with rendered_in(locale):
        return _render_source(tenant, name, context, locale)


def _render_source(tenant: Tenant, name: str, context: dict[str, Any], locale: str) -> Rendered:
    source, builtin = find_template(tenant.id, name, locale), load_builtin(name)
    if builtin is None or source == builtin:
        return render(source, context)
    key = (tenant.id, name, source)
    if _failed_overrides.get(key, 0.0) > time.monotonic():
        return render(builtin, context)
    try:
        return render(source, context, seconds=OVERRIDE_RENDER_SECONDS)
    except TemplateRenderError as exc:
        if len(_failed_overrides) > 1000:
            _failed_overrides.clear()
        _failed_overrides[key] = time.monotonic() + FAILED_OVERRIDE_SKIP_SECONDS
        log.warning("tenant template failed, using the built-in one",
                    extra={"template": name, "tenant_id": str(tenant.id), "part": exc.part, "line": exc.line})
        return render(builtin, context)


def _recipient(user: User) -> Address:
    try:
        return address(user.email, shown_name(user), field="to")
    except MessageValidationError:
        return address(user.email, "", field="to")


def _compose(config: Config, tenant: Tenant, user: User, kind: MessageKind, context: dict[str, Any],
             message_id: str | None = None) -> ComposedMessage:
    locale = reader_locale(config, tenant, user.locale)
    rendered = _render(tenant, kind, {**context, "locale": locale}, locale)
    return compose(config, tenant, to=[_recipient(user)], subject=rendered.subject, text=rendered.text,
                   html=rendered.html, message_id=message_id)


def build_system_message(
    config: Config, tenant: Tenant, user: User, kind: MessageKind, context: dict[str, Any]
) -> Message:
    """A queued Message (kind, queue critical, creator "system") with the user as its one recipient.

    For a mail with a link, ``context`` has no link: the check uses a placeholder token and the
    message is stored without its wire form (see the module docstring).
    """
    with_link = kind in LINKS
    if with_link:
        context = {**context, **link_context(config, tenant, kind, PLACEHOLDER_TOKEN)}
    composed = _compose(config, tenant, user, kind, context)
    message = Message(
        tenant_id=tenant.id,
        kind=kind,
        created_by=None,
        creator_type=ActorType.SYSTEM,
        subject=composed.subject,
        sender=composed.sender,
        message_id_header=composed.message_id,
        raw_mime=None if with_link else composed.wire,
        queue=SYSTEM_QUEUE,
        status=MessageStatus.QUEUED,
        tags=[],
        meta={},
    )
    message.recipients = [
        Recipient(tenant_id=tenant.id, position=i, email=r.email, name=r.name, priority=queue_priority(SYSTEM_QUEUE))
        for i, r in enumerate(composed.recipients)
    ]
    return message


def render_account_mail(message: Message, recipient: Recipient) -> tuple[bytes, str]:
    """This attempt's mail: a fresh token (added to the session, committed before sending) in a new build."""
    config: Config = current_app.config["MAILER"]
    tenant = db.session.get(Tenant, message.tenant_id)
    user = db.session.scalars(
        select(User).where(User.tenant_id == message.tenant_id, User.email == recipient.email)
    ).first()
    if tenant is None or user is None or not user.is_active:
        raise RecipientRenderError("the account no longer exists or is disabled")
    kind = message.kind
    if kind is MessageKind.VERIFICATION and user.email_verified:
        raise RecipientRenderError("the address is already verified")
    link = LINKS[kind]
    token = issue_action_token(user, link.purpose, link.lifetime(config))
    context = mail_context(tenant, user, **link_context(config, tenant, kind, token))
    try:
        composed = _compose(config, tenant, user, kind, context, message_id=message.message_id_header)
    except MAPPED_ERRORS as exc:
        raise RecipientRenderError(str(exc)) from None
    return composed.wire, message.message_id_header

