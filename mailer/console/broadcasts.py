"""/console/broadcasts: broadcasts and their progress, and "New broadcast" with a preview of one recipient's
copy — POST /v1/broadcasts's service (broadcast_service), its checks, audit and hourly limit (rate_limits.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from mailer.console import guard
from mailer.console.admin_common import HINTS, json_object, page_of, problems, refusal
from mailer.console.forms import FormErrors, parse_form
from mailer.console.routes import bp
from mailer.errors import MailerError, ValidationError
from mailer.extensions import db
from mailer.mail.account_links import ACCOUNT_TEMPLATES
from mailer.mail.templates import TemplateRenderError
from mailer.models import (
    MESSAGE_FINISHED,
    UNDELIVERED,
    Message,
    MessageKind,
    Recipient,
    RecipientStatus,
    Role,
)
from mailer.notifications import broadcast_service, template_service
from mailer.notifications.schemas import BroadcastRequest
from mailer.notifications.visibility import readable_by
from mailer.security.scope import get_owned, tenant_select
from mailer.smtp.validation import MessageValidationError

COUNTED = tuple(RecipientStatus)


def status_labels() -> dict[str, str]:
    return {"scheduled": _("Scheduled"), "queued": _("Queued"), "sending": _("Sending"), "sent": _("Sent"),
            "partially_failed": _("Partly failed"), "failed": _("Failed"), "deferred": _("Deferred"),
            "bounced": _("Bounced")}


def _counts(message_ids: list[Any]) -> dict[Any, dict[str, int]]:
    """Recipients by status for each of the broadcasts (one grouped query)."""
    counts: dict[Any, dict[str, int]] = {key: dict.fromkeys(COUNTED, 0) for key in message_ids}
    if message_ids:
        for message_id, status, count in db.session.execute(
            select(Recipient.message_id, Recipient.status, func.count())
            .where(Recipient.message_id.in_(message_ids)).group_by(Recipient.message_id, Recipient.status)
        ):
            counts[message_id][status] = count
    return counts


def _owned(message_id: str) -> Message:
    """The API's lookup of a message (its visibility rule), and only a broadcast: else the 404 page."""
    return get_owned(Message, message_id, *readable_by(g.principal), Message.kind == MessageKind.BROADCAST)


@bp.get("/broadcasts")
@guard.admin_only
def broadcasts() -> Any:
    query = (tenant_select(Message).where(*readable_by(g.principal), Message.kind == MessageKind.BROADCAST)
             .order_by(Message.created_at.desc(), Message.id))
    rows, page, more = page_of(query)
    # Counted for the running ones only: a finished broadcast's status says how it ended, and counting
    # fifty finished broadcasts of 100 000 recipients each would hold the page for seconds.
    running = _counts([m.id for m in rows if m.status not in MESSAGE_FINISHED])
    return render_template("console/broadcasts.html", broadcasts=rows, counts=running,
                           page=page, more=more, labels=status_labels())


def _form() -> dict[str, Any]:
    form = {name: request.form.get(name, "") for name in ("template", "subject", "html", "text", "data", "send_at")}
    form["roles"] = request.form.getlist("roles")
    form["verified_only"] = bool(request.form.get("verified_only"))
    return form


def _send_at(value: str) -> str:
    """A datetime-local field, read as UTC (the page says so)."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None).isoformat() + "+00:00"
    except ValueError:
        raise FormErrors({"send_at": HINTS["send_at"]}) from None


def _body(form: dict[str, Any]) -> BroadcastRequest:
    """The form as POST /v1/broadcasts's body."""
    if not form["roles"]:
        raise FormErrors({"roles": HINTS["roles"]})
    source = {
        "template": form["template"], "subject": form["subject"], "html": form["html"], "text": form["text"],
        "data": json_object(form["data"]), "send_at": _send_at(form["send_at"]),
        "audience": {"roles": form["roles"], "verified_only": form["verified_only"]},
    }
    if form["template"]:  # a template, or the parts: the parts' fields are left out (as a JSON client would)
        source.update(subject="", html="", text="")
    return parse_form(BroadcastRequest, ("template", "subject", "html", "text", "data", "send_at", "audience"),
                      source=source)


def _new(status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("form", {"roles": [Role.USER, Role.ADMIN], "verified_only": True})
    context.setdefault("errors", {})
    names = [view.name for view in template_service.list_templates(g.principal) if view.name not in ACCOUNT_TEMPLATES]
    return render_template("console/broadcast_new.html", template_names=names, **context), status


@bp.get("/broadcasts/new")
@guard.admin_only
def broadcasts_new() -> Any:
    return _new()


@bp.post("/broadcasts/new")
@guard.admin_only
def broadcasts_preview() -> Any:
    """The first audience member's copy, rendered as a worker would; nothing is stored or sent."""
    form = _form()
    try:
        email, rendered = broadcast_service.preview_broadcast(g.principal, _body(form))
    except (FormErrors, ValidationError, MessageValidationError, TemplateRenderError) as exc:
        return _new(422, form=form, errors=problems(exc))
    return _new(form=form, preview=rendered, preview_for=email)


@bp.post("/broadcasts")
@guard.admin_only
def broadcasts_send() -> Any:
    form = _form()
    try:
        message, _count = broadcast_service.start_broadcast(g.principal, _body(form))  # audited there
    except (FormErrors, ValidationError, MessageValidationError, TemplateRenderError) as exc:
        return _new(422, form=form, errors=problems(exc))
    except MailerError as exc:  # the daily quota
        return _new(exc.status, form=form, failure=refusal(exc))
    return redirect(url_for("console.broadcasts_one", message_id=message.id), 303)


def _progress(message: Message) -> dict[str, Any]:
    counts = _counts([message.id])[message.id]
    total = sum(counts.values())
    done = sum(counts[s] for s in (RecipientStatus.SENT, *UNDELIVERED))
    return {"status": message.status, "status_label": status_labels().get(message.status, message.status),
            "counts": counts, "total": total, "done": done}


@bp.get("/broadcasts/<message_id>")
@guard.admin_only
def broadcasts_one(message_id: str) -> Any:
    message = _owned(message_id)
    return render_template("console/broadcast.html", message=message, progress=_progress(message),
                           labels=status_labels(), running=message.status not in MESSAGE_FINISHED)


@bp.get("/broadcasts/<message_id>/progress")
@guard.admin_only
def broadcasts_progress(message_id: str) -> Any:
    """The counts the page shows, for its script to refresh them while the broadcast runs."""
    return jsonify(_progress(_owned(message_id)))
