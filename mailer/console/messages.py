"""/console/messages: the message log (the §11 search, keyset pages) and one message with what happened."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from flask import Response, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from mailer.console import explain, guard, paging
from mailer.console.forms import FIELD_HINTS, FormErrors, parse_form
from mailer.console.routes import bp
from mailer.extensions import db
from mailer.mail import retry
from mailer.mail.suppressions import entries_blocking
from mailer.models import (
    UNDELIVERED,
    WAITING,
    DeliveryEvent,
    Message,
    MessageKind,
    MessageStatus,
    Recipient,
    RecipientStatus,
    Role,
)
from mailer.notifications import reading, search
from mailer.notifications.responses import MessageListQuery
from mailer.smtp.results import ErrorCode

FILTERS = ("email", "subject", "status", "kind", "tag", "since", "until")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _query_args() -> dict[str, str]:
    """The search form's fields as the API's query takes them: a day's `until` is the end of that day."""
    args = {name: request.args.get(name, "").strip() for name in FILTERS}
    if _DAY.match(args["since"]):
        args["since"] += "T00:00:00+00:00"
    if _DAY.match(args["until"]):
        day = datetime.fromisoformat(args["until"]).replace(tzinfo=UTC) + timedelta(days=1)
        args["until"] = day.isoformat()
    return args


def _first_recipients(rows: list[Message]) -> dict[Any, tuple[str, int]]:
    """Per message on the page: its first recipient and how many it has (one grouped query for the page)."""
    if not rows:
        return {}
    found = db.session.execute(
        select(Recipient.message_id, func.min(Recipient.email), func.count())
        .where(Recipient.message_id.in_([m.id for m in rows])).group_by(Recipient.message_id)
    ).all()
    return {message_id: (email, count) for message_id, email, count in found}


@bp.get("/messages")
@guard.signed_in
def messages() -> Any:
    form = {name: request.args.get(name, "") for name in FILTERS}
    try:
        filters = parse_form(MessageListQuery, FILTERS, source=_query_args())
    except FormErrors as exc:
        # The one check across fields is the date range's (MessageListQuery: since not after until).
        errors = {("since" if name == "form" else name): hint for name, hint in exc.fields.items()}
        return _log_page(form, None, {}, {n: FIELD_HINTS.get(n, h) for n, h in errors.items()}), 422
    query = search.filtered(reading.visible_messages(g.principal), g.principal.tenant_id, filters)
    found = paging.page(query, older=request.args.get("older"), newer=request.args.get("newer"))
    return _log_page(form, found, _first_recipients(found.rows), {})


def _log_page(form: dict[str, str], found: paging.Page | None, firsts: dict[Any, tuple[str, int]],
              errors: dict[str, Any]) -> str:
    kept = {name: value for name, value in form.items() if value}
    return render_template(
        "console/messages.html", form=form, page=found, firsts=firsts, errors=errors, kept=kept,
        statuses=list(MessageStatus), kinds=list(MessageKind),
        labels=explain.labels(),
    )


def _parts(raw: bytes | None) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """The stored copy's HTML, text and headers (None when the message is rendered per recipient)."""
    if not raw:
        return None, None, []
    parsed: EmailMessage = message_from_bytes(raw, policy=policy.default)  # type: ignore[assignment]
    html_part = parsed.get_body(("html",))
    text_part = parsed.get_body(("plain",))
    html = html_part.get_content() if html_part is not None else None
    text = text_part.get_content() if text_part is not None else None
    return html, text, [(name, str(value)) for name, value in parsed.items()]


def _recipient_view(message: Message, recipient: Recipient, events: list[DeliveryEvent]) -> dict[str, Any]:
    suppressions = entries_blocking(message.tenant_id, recipient.email, message.kind) \
        if recipient.error_code == ErrorCode.SUPPRESSED else []
    return {
        "row": recipient,
        "status_meaning": explain.STATUS_MEANING.get(recipient.status),
        "error_meaning": explain.ERROR_MEANING.get(recipient.error_code or ""),
        "reply_meaning": explain.reply_meaning(recipient.smtp_code, recipient.enhanced_code),
        "retry_at": recipient.next_attempt_at if recipient.status in WAITING else None,
        "final": recipient.status in UNDELIVERED,
        "suppressions": [explain.SUPPRESSION_REASONS.get(s.reason, s.reason) for s in suppressions],
        "events": [{"row": e, "outcome": explain.OUTCOMES.get(e.outcome, e.outcome),
                    "meaning": explain.reply_meaning(e.smtp_code, e.enhanced_code)} for e in events],
    }


@bp.get("/messages/<message_id>")
@guard.signed_in
def message(message_id: str) -> Any:
    """GET /v1/messages/{id} and …/recipients/{id} together: the same lookup, so the same 404s."""
    shown = reading.owned_message(g.principal, message_id)
    recipients = reading.shown_recipients(shown)
    events: dict[Any, list[DeliveryEvent]] = {r.id: [] for r in recipients}
    if recipients:
        for event in db.session.scalars(select(DeliveryEvent).where(DeliveryEvent.recipient_id.in_(list(events)))
                                        .order_by(DeliveryEvent.at, DeliveryEvent.id)):
            events[event.recipient_id].append(event)
    html, text, headers = _parts(shown.raw_mime)
    counts = reading.recipient_counts(shown)
    return render_template(
        "console/message.html", message=shown, counts=counts, total=sum(counts.values()),
        recipients=[_recipient_view(shown, r, events[r.id]) for r in recipients],
        has_html=html is not None, text=text, headers=headers, labels=explain.labels(),
        retried=request.args.get("retried"),
        can_retry=g.principal.role == Role.ADMIN and counts.get(RecipientStatus.FAILED, 0) > 0,
    )


@bp.get("/messages/<message_id>/html")
@guard.signed_in
def message_html(message_id: str) -> Response:
    """The message's HTML alone, for the sandboxed frame: its own CSP lets nothing run or load."""
    shown = reading.owned_message(g.principal, message_id)
    html, _, _ = _parts(shown.raw_mime)
    g.framed_html = True
    return Response(html or "", mimetype="text/html")


@bp.post("/messages/<message_id>/retry")
@guard.admin_only
def message_retry(message_id: str) -> Any:
    """POST /v1/messages/{id}/retry: the same service, audited there."""
    shown = reading.owned_message(g.principal, message_id)
    requeued = retry.requeue_failed(g.principal, shown)
    return redirect(url_for("console.message", message_id=shown.id, retried=requeued))
