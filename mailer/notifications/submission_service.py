"""Sending rules for SMTP submission (API.md §13): the same steps as POST /v1/messages.

The door (mailer/submission) authenticates and reads the envelope; this module applies the rules the API
applies — the sender domain of §10, the daily quota of §5, tags and metadata of §3, Idempotency-Key — and
stores the kept message with service.store_draft (quota, rows, suppressions, audit, outbox, enqueue).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from flask import current_app
from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Row, bindparam, select

from mailer.config import Config
from mailer.domains.policy import domain_statuses_as_of, may_send_as
from mailer.errors import IdempotencyConflictError, QuotaExceededError, ValidationError
from mailer.extensions import atomic, db
from mailer.mail.outbox import StagedJob, enqueue
from mailer.mail.quota import check_room, room_left
from mailer.mail.submitted import KeptMessage, SenderRefusedError, Submission, keep_message
from mailer.models import Tenant
from mailer.notifications.idempotency import KeyedRequest, find_replay, keyed_message, remember
from mailer.notifications.schemas import Metadata, Tag
from mailer.notifications.serializers import accepted_json
from mailer.notifications.service import Draft, stage_messages
from mailer.security.types import Principal
from mailer.smtp.validation import MessageValidationError

# What submission reads of a tenant (keep_message, may_send_as, its quota counter), built once: the ORM's
# Session.get of the whole row cost ~10 % of the writer's CPU, once per group.
_TENANT = select(Tenant.id, Tenant.mail_from, Tenant.domains_version, Tenant.quota_day, Tenant.quota_used
                 ).where(Tenant.id == bindparam("tenant"))
_TAGS: TypeAdapter[list[str]] = TypeAdapter(Annotated[list[Tag], Field(max_length=10)])
_METADATA: TypeAdapter[dict[str, str]] = TypeAdapter(Metadata)
# A submission's own refusals: raised before anything of it is written, so the others of its group go on.
REFUSALS = (MessageValidationError, ValidationError, SenderRefusedError, QuotaExceededError,
            IdempotencyConflictError)


def _config() -> Config:
    return current_app.config["MAILER"]


def _tenant(principal: Principal) -> Row[Any] | None:
    return db.session.execute(_TENANT, {"tenant": principal.tenant_id}).one_or_none()


def may_submit_as(principal: Principal, address: str) -> bool:
    """Whether the envelope sender is on a domain the caller's tenant may send as (§10's rule)."""
    tenant = _tenant(principal)
    return may_send_as(_config(), tenant, address, domain_statuses_as_of(tenant.id, tenant.domains_version))


def check_recipient_room(principal: Principal, count: int) -> None:
    """QuotaExceededError (with Retry-After) unless `count` recipients still fit in today's quota."""
    check_room(_config(), principal.tenant_id, count)


def quota_room(principal: Principal) -> int | None:
    """How many recipients the caller's tenant may still send today (None: no quota); a read, nothing held."""
    return room_left(_config(), principal.tenant_id)


@dataclass(frozen=True)
class PreparedSubmission:
    """A submission checked and kept (nothing stored): what _store_prepared needs."""

    principal: Principal
    kept: KeptMessage
    tags: list[str]
    metadata: dict[str, str]
    keyed: KeyedRequest | None


def _prepared(config: Config, tenant: Row[Any], principal: Principal, submission: Submission) -> PreparedSubmission:
    kept = keep_message(config, tenant, submission, domain_statuses_as_of(tenant.id, tenant.domains_version))
    keyed = keyed_message(principal, kept.idempotency_key, submission.raw) if kept.idempotency_key else None
    return PreparedSubmission(principal, kept, _checked(_TAGS, kept.tags, "X-Mailer-Tag"),
                              _checked(_METADATA, kept.metadata, "X-Mailer-Metadata"), keyed)


OnCommit = Callable[[list[dict[str, Any] | Exception], Mapping[Any, int | None]], None]


def store_submitted(items: Sequence[tuple[Principal, Submission]], on_commit: OnCommit | None = None,
                    ) -> list[dict[str, Any] | Exception]:
    """Submissions as the sessions handed them over, prepared and stored together (the writer's group): each
    tenant is loaded once for the group. A submission refused while prepared gets its refusal (one of
    REFUSALS) and is stored nowhere; the others are stored together by _store_prepared. A failed read or
    commit raises for them all. ``on_commit`` sees the results and each tenant's quota room left (None: no
    quota) as soon as the commit is done."""
    config = _config()
    tenants: dict[Any, Row[Any] | None] = {}
    results: list[dict[str, Any] | Exception | None] = [None] * len(items)
    kept: list[tuple[int, PreparedSubmission]] = []
    for index, (principal, submission) in enumerate(items):
        if principal.tenant_id not in tenants:
            tenants[principal.tenant_id] = _tenant(principal)
        try:
            kept.append((index, _prepared(config, tenants[principal.tenant_id], principal, submission)))
        except REFUSALS as refused:
            results[index] = refused

    def merged(stored: list[dict[str, Any] | Exception]) -> list[dict[str, Any] | Exception]:
        for (index, _), result in zip(kept, stored, strict=True):
            results[index] = result
        return [result for result in results if result is not None]

    stored = _store_prepared([item for _, item in kept], tenants,
                             on_commit=None if on_commit is None else
                             lambda done, rooms: on_commit(merged(done), rooms))
    return merged(stored)


def _store_prepared(items: Sequence[PreparedSubmission], tenants: Mapping[Any, Row[Any] | None],
                    on_commit: OnCommit | None = None) -> list[dict[str, Any] | Exception]:
    """Prepared submissions that arrived together, stored in one transaction (group commit): each gets its
    202 body or its own refusal (one of REFUSALS, nothing of it written). ``tenants``: the rows store_submitted
    has just loaded in this session, whose quota counters are read from them instead of again. ``on_commit``
    sees the results and the rooms left as soon as the commit is done; the jobs are enqueued after it. A
    failed commit raises for them all.
    """
    config = _config()
    group = _Group(config, tenants)
    with atomic() as unit:
        for index, item in enumerate(items):
            group.add(index, item)
        group.stage()
        results = [group.results[index] for index in range(len(items))]
        if on_commit is not None:
            unit.after_commit(partial(on_commit, results, group.rooms))
        enqueue(group.jobs)
    return results


class _Group:
    """The submissions of one transaction: checked one by one, staged together per caller (one tenant-row
    read and write for each caller's messages, service.stage_messages)."""

    def __init__(self, config: Config, tenants: Mapping[Any, Row[Any] | None]) -> None:
        self.config = config
        self.tenants = tenants
        self.results: dict[int, dict[str, Any] | Exception] = {}
        self.jobs: list[StagedJob] = []
        self.rooms: dict[Any, int | None] = {}  # each tenant's quota left, read once and counted down here
        self.waiting: dict[Principal, list[tuple[int, PreparedSubmission]]] = {}
        self.keys: set[tuple[Any, str]] = set()

    def add(self, index: int, item: PreparedSubmission) -> None:
        tenant_id = item.principal.tenant_id
        if tenant_id not in self.rooms:
            tenant = self.tenants.get(tenant_id)
            counter = None if tenant is None else (tenant.quota_day, tenant.quota_used)
            self.rooms[tenant_id] = room_left(self.config, tenant_id, counter)
        if item.keyed is not None and (tenant_id, item.keyed.key) in self.keys:
            self.stage()  # the same key twice in one group: the second is answered with the first's reply
        try:
            # A key used with another message refuses this one only, not the group it arrived with.
            if item.keyed is not None and (replayed := find_replay(tenant_id, item.keyed)):
                self.results[index] = replayed[0]
                return
            self.rooms[tenant_id] = _take_room(self.config, tenant_id, self.rooms[tenant_id], item)
        except REFUSALS as refused:
            self.results[index] = refused
            return
        if item.keyed is not None:
            self.keys.add((tenant_id, item.keyed.key))
        self.waiting.setdefault(item.principal, []).append((index, item))

    def stage(self) -> None:
        for principal, entries in self.waiting.items():
            drafts = [Draft(item.kept.composed, None, item.tags, item.metadata) for _, item in entries]
            staged = stage_messages(self.config, principal, principal.tenant_id, drafts)
            for (index, item), (message, jobs) in zip(entries, staged, strict=True):
                accepted = accepted_json(message)
                if item.keyed is not None:
                    remember(principal.tenant_id, item.keyed, message.id, 202, accepted)
                self.results[index] = accepted
                self.jobs.extend(jobs)
        self.waiting, self.keys = {}, set()


def _take_room(config: Config, tenant_id: Any, left: int | None, item: PreparedSubmission) -> int | None:
    """The quota left once this item is counted; QuotaExceededError (nothing of it written) when it does not fit.

    stage_messages counts the quota after its inserts, so it is checked first here; a concurrent process's
    commit in between makes stage_messages refuse, and the group's commit fails instead (451, retried).
    """
    count = len(item.kept.composed.recipients)
    if left is None:
        return None
    if count > left:
        check_room(config, tenant_id, count)  # raises, with the headers saying when to try again
    return left - count


def _checked(adapter: TypeAdapter[Any], value: Any, field: str) -> Any:
    try:
        return adapter.validate_python(value)
    except PydanticValidationError as exc:
        raise ValidationError(errors=[{"field": field, "message": exc.errors()[0]["msg"]}]) from None
