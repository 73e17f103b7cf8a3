"""Batch sending: each item goes through the single-message rules, all accepted ones commit together.

Per item, in the order POST /v1/messages applies them: the rate limit (spent for the whole batch at
once, ``batch.rate``), validation and composition (``notifications.service.prepare_message``) — all
items first, outside any lock — then, in one transaction, the steps of a single send
(``notifications.service.stage_message``: the rows, then the daily quota and the audit event), each item
in a savepoint of its own when a daily quota could refuse it: an item refused there is undone alone, and
the items accepted before it stay. One transaction for the whole batch (with the Idempotency-Key's stored
answer), then, after its commit, one enqueue step.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from flask import current_app

from mailer.batch.rate import spend_message_rate
from mailer.errors import MAPPED_ERRORS, RateLimitedError, as_mailer_error, problem_body
from mailer.extensions import atomic, db, savepoint
from mailer.http.json import validate_value
from mailer.mail.outbox import StagedJob, enqueue
from mailer.models import Tenant
from mailer.notifications.idempotency import KeyedRequest, remember
from mailer.notifications.schemas import MessageRequest
from mailer.notifications.service import may_refuse, prepare_message, stage_message
from mailer.security.types import Principal


def send_batch(principal: Principal, items: list[Any], keyed: KeyedRequest | None = None) -> dict[str, Any]:
    """Accept what can be accepted; the 200 body with one entry per item, in order.

    With ``keyed`` the body is stored in the same transaction; a concurrent duplicate makes the
    commit raise IntegrityError (the caller replays).
    """
    config = current_app.config["MAILER"]
    tenant = db.session.get(Tenant, principal.tenant_id)
    results: list[dict[str, Any]] = [{} for _ in items]
    jobs: list[StagedJob] = []
    within_rate = spend_message_rate(len(items))
    # Every item is validated and composed first; the tenant's row lock (taken by the quota check, after the
    # first item's inserts) is then held only for the inserts, not while later items render and build (N9).
    ready: dict[int, Any] = {}
    for index, item in enumerate(items):
        try:
            if index >= within_rate:
                raise RateLimitedError("Over the per-message rate limit; this message was not accepted.")
            ready[index] = prepare_message(config, tenant, validate_value(MessageRequest, item))
        except MAPPED_ERRORS as raised:
            results[index] = _refused(index, raised)
    guard = savepoint if may_refuse(config, principal) else nullcontext
    with atomic():
        for index, prepared in ready.items():
            try:
                with guard():
                    message, staged = stage_message(config, principal, tenant, prepared)
            except MAPPED_ERRORS as raised:
                results[index] = _refused(index, raised)
                continue
            jobs.extend(staged)
            results[index] = {"index": index, "status": 202, "id": str(message.id),
                              "recipients": [{"email": r.email, "status": r.status} for r in message.recipients]}
        body = {"items": results}
        if keyed is not None:
            remember(tenant.id, keyed, None, 200, body)
        enqueue(jobs)
    return body


def _refused(index: int, raised: Exception) -> dict[str, Any]:
    exc = as_mailer_error(raised)
    return {"index": index, "status": exc.status,
            "error": problem_body(exc.status, exc.code, exc.title, exc.detail, exc.errors)}
