"""The dispatcher's scheduler: claim due deliveries, POST them in lanes per endpoint, write each result.

Lanes: an endpoint's deliveries are split over at most CONNECTIONS_PER_ENDPOINT lanes, each POSTing
in turn on the endpoint's pool; lanes run on the run's thread pool. A lane stops ROUND_SECONDS after
it started, when the run yields to mail, or when its endpoint fails (timeout, connection error, 429,
5xx — the endpoint then backs off and its untried deliveries wait) or answers 410 (it is disabled).

Tenants never delay each other (API.md §9): a tenant holds at most TENANT_LANES of the THREADS lanes
in flight, so however many of its endpoints hang, the others' lanes start at once; claims run whenever
a lane is free (not once a round ends), leaving out endpoints already in flight and tenants at their
cap; and an endpoint's results are written as soon as its lanes are done, not when the slowest
endpoint of its claim is. Each POST is bounded as a whole by WEBHOOK_TIMEOUT_SECONDS (transport).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from mailer.config import Config
from mailer.models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from mailer.security.sealed import open_value
from mailer.security.secret_box import SecretUnreadableError
from mailer.webhooks.bounds import CONNECTIONS_PER_ENDPOINT, ROUND_SECONDS, ROUND_SIZE, TENANT_LANES, lease_seconds
from mailer.webhooks.claims import claim_due
from mailer.webhooks.events import event_body
from mailer.webhooks.guard import UnsafeUrlError, check_url
from mailer.webhooks.signing import signed_headers
from mailer.webhooks.transport import Pools, PostResult, post

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
_MAX_TEXT = 500
EXPIRED = "not attempted: the endpoint kept failing for longer than the whole retry schedule"
UNREADABLE = "not sent: the endpoint's signing secret cannot be decrypted with SECRETS_KEY"


@dataclass
class _Item:
    delivery_id: uuid.UUID
    webhook_id: str
    body: str
    schedule_attempts: int  # attempts already made in the current schedule
    created_at: datetime
    replayed: bool
    result: PostResult | None = None
    attempted_at: datetime | None = None


@dataclass
class _Group:
    """One endpoint's share of a round."""

    endpoint_id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    secrets: list[str]
    token: str  # of the claim that leased its deliveries
    items: list[_Item] = field(default_factory=list)
    tripped: threading.Event = field(default_factory=threading.Event)
    gone: bool = False
    lanes_left: int = 0


@dataclass
class RoundOutcome:
    claimed: int = 0
    attempted: int = 0
    succeeded: int = 0
    yielded: bool = False


class Scheduler:
    """The lanes of one dispatcher run, across tenants: ``fill`` starts what free threads can take,
    ``collect`` writes the results of endpoints whose lanes are done, ``abandon`` lets go (a yield)."""

    def __init__(self, session: Session, config: Config, pools: Pools, executor: ThreadPoolExecutor,
                 threads: int) -> None:
        self.session, self.config, self.pools, self.executor = session, config, pools, executor
        self.threads = self.free = threads
        self.lanes: dict[Future[None], _Group] = {}
        self.tenant_lanes: Counter[uuid.UUID] = Counter()
        self.stop = threading.Event()
        self.outcome = RoundOutcome()

    def fill(self) -> int:
        """Claim and start what the free lanes can take now; how many deliveries were claimed."""
        if self.free <= 0:
            return 0
        now = datetime.now(UTC)
        busy = {group.endpoint_id for group in self.lanes.values()}
        full = {tenant for tenant, lanes in self.tenant_lanes.items() if lanes >= TENANT_LANES}
        # Claimed rows that find no free lane are released at once: claim about what the free lanes can take.
        limit = max(1, ROUND_SIZE * self.free // self.threads)
        token, ids = claim_due(self.session, now, limit, lease_seconds(self.config),
                               exclude_endpoints=busy, exclude_tenants=full)
        self.outcome.claimed += len(ids)
        if not ids:
            return 0
        idle: list[_Group] = []
        for group in _fair_order(_load(self.session, self.config, ids, now, token)):
            room = min(CONNECTIONS_PER_ENDPOINT, len(group.items), self.free,
                       TENANT_LANES - self.tenant_lanes[group.tenant_id])
            if room <= 0:
                idle.append(group)  # released below: claimed again once a lane is free
                continue
            self.free -= room
            self.tenant_lanes[group.tenant_id] += room
            group.lanes_left = room
            deadline = time.monotonic() + ROUND_SECONDS
            for lane in range(room):
                future = self.executor.submit(_lane, group, group.items[lane::room], self.config, self.pools,
                                              self.stop, deadline)
                self.lanes[future] = group
        if idle:
            self._write(idle)
        return len(ids)

    def collect(self, timeout: float) -> None:
        """Wait up to ``timeout`` for a lane to end; write the results of every endpoint now done."""
        if not self.lanes:
            return
        done, _ = wait(list(self.lanes), timeout=timeout, return_when=FIRST_COMPLETED)
        finished = []
        for future in done:
            group = self.lanes.pop(future)
            future.result()  # a bug in a lane is a bug: let the job fail loudly
            self.free += 1
            self.tenant_lanes[group.tenant_id] -= 1
            group.lanes_left -= 1
            if not group.lanes_left:
                finished.append(group)
        if finished:
            self._write(finished)

    def abandon(self) -> None:
        """Stop every lane and write what finished; POSTs still in flight keep their leases (tried again later)."""
        self.stop.set()
        groups = list({id(g): g for g in self.lanes.values()}.values())
        self.lanes.clear()
        if groups:
            self._write(groups)

    def _write(self, groups: list[_Group]) -> None:
        by_token: dict[str, list[_Group]] = defaultdict(list)
        for group in groups:
            by_token[group.token].append(group)
        for token, claimed in by_token.items():
            _record(self.session, self.config, token, claimed)
        items = [item for group in groups for item in group.items if item.result is not None]
        self.outcome.attempted += len(items)
        self.outcome.succeeded += sum(item.result.succeeded for item in items if item.result is not None)


def _fair_order(groups: list[_Group]) -> list[_Group]:
    """Every tenant's first endpoint, then every tenant's second, …: free lanes go round the tenants."""
    per_tenant: dict[uuid.UUID, list[_Group]] = defaultdict(list)
    for group in groups:
        per_tenant[group.tenant_id].append(group)
    ordered = []
    for rank in range(max((len(g) for g in per_tenant.values()), default=0)):
        ordered.extend(g[rank] for g in per_tenant.values() if rank < len(g))
    return ordered


def _load(session: Session, config: Config, ids: list[uuid.UUID], now: datetime, token: str) -> list[_Group]:
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.attempts,
               WebhookDelivery.replayed_after, WebhookDelivery.created_at.label("delivery_created_at"),
               WebhookEvent.id.label("event_id"), WebhookEvent.type,
               WebhookEvent.created_at, WebhookEvent.data)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(ids))
    ).all()
    endpoints = {e.id: e for e in session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.id.in_({row.endpoint_id for row in rows}))
    )}
    groups: dict[uuid.UUID, _Group] = {}
    for row in rows:
        group = groups.get(row.endpoint_id)
        if group is None:
            endpoint = endpoints[row.endpoint_id]
            group = groups[row.endpoint_id] = _Group(endpoint.id, endpoint.tenant_id, endpoint.url,
                                                     _secrets(config, endpoint, now), token)
        body = event_body(row.type, row.created_at, row.data)
        group.items.append(_Item(row.id, str(row.event_id), body, row.attempts - row.replayed_after,
                                 row.delivery_created_at, row.replayed_after > 0))
    session.commit()
    return list(groups.values())


def _secrets(config: Config, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The endpoint's signing secrets; none when its current one cannot be opened, which fails this endpoint's
    deliveries only (review N7): one unreadable row never stops other tenants' webhooks."""
    sealed = [(WebhookEndpoint.secret_sealed, endpoint.secret_sealed)]
    if endpoint.previous_secret_sealed and (endpoint.previous_secret_expires_at or now) > now:
        sealed.append((WebhookEndpoint.previous_secret_sealed, endpoint.previous_secret_sealed))
    secrets: list[str] = []
    for column, token in sealed:
        try:
            secrets.append(open_value(config, column, endpoint.id, token))
        except SecretUnreadableError:
            log.error(UNREADABLE, extra={"endpoint_id": str(endpoint.id), "column": column.key})
            if not secrets:
                return []
    return secrets


def _lane(group: _Group, items: list[_Item], config: Config, pools: Pools, stop: threading.Event,
          deadline: float) -> None:
    """POST these items in turn, until the lane's time is up, the run yields, or the endpoint fails."""
    target = None
    for item in items:
        if stop.is_set() or group.tripped.is_set() or group.gone or time.monotonic() > deadline:
            return
        item.attempted_at = datetime.now(UTC)
        if not group.secrets:
            item.result = PostResult(None, 0, UNREADABLE)
            group.tripped.set()
            return
        if target is None:
            try:
                target = check_url(group.url, config)  # again at delivery: DNS may have changed
            except UnsafeUrlError as exc:
                item.result = PostResult(None, 0, f"refused: {exc}")
                group.tripped.set()
                return
        headers = signed_headers(group.secrets, item.webhook_id, item.attempted_at, item.body)
        item.result = post(pools, target, headers, item.body.encode("utf-8"), config.WEBHOOK_TIMEOUT_SECONDS)
        code = item.result.status_code
        if code == 410:
            group.gone = True
        elif code is None or code == 429 or code >= 500:
            group.tripped.set()


def _delay(config: Config, attempts: int) -> float:
    delays = config.WEBHOOK_RETRY_DELAYS
    base = delays[min(max(attempts, 1), len(delays)) - 1]
    return base + random.uniform(0, base * 0.1)


def _record(session: Session, config: Config, token: str, groups: list[_Group]) -> None:
    """Write every attempt, move each delivery on, release what was not tried, back off endpoints."""
    now = datetime.now(UTC)
    known = {row.id: row for row in session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.tenant_id, WebhookEndpoint.failure_streak)
        .where(WebhookEndpoint.id.in_([g.endpoint_id for g in groups]))
    )}
    blocked = {
        g.endpoint_id: now + timedelta(seconds=_delay(config, known[g.endpoint_id].failure_streak + 1))
        for g in groups if g.tripped.is_set()
    }
    writes = _Writes()
    for group in groups:
        for item in group.items:
            if item.result is None and item.attempted_at is not None:
                continue  # abandoned in flight (a yield): its lease runs out, then it is tried again
            if item.result is None:
                writes.hold(item, blocked.get(group.endpoint_id), now, config)
            else:
                writes.attempted(item, item.result, known[group.endpoint_id].tenant_id, now, config)
    writes.execute(session, token)
    _write_endpoints(session, groups, blocked, {k: row.failure_streak for k, row in known.items()})
    session.commit()


@dataclass
class _Writes:
    """The statements one round's results turn into (each an executemany)."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    released: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    expired: list[dict[str, Any]] = field(default_factory=list)

    def attempted(self, item: _Item, result: PostResult, tenant_id: uuid.UUID, now: datetime, config: Config) -> None:
        error = (result.error or "")[:_MAX_TEXT] or None
        self.attempts.append({"id": uuid.uuid4(), "delivery_id": item.delivery_id, "tenant_id": tenant_id,
                              "at": item.attempted_at, "status_code": result.status_code,
                              "latency_ms": result.latency_ms, "error": error})
        made = item.schedule_attempts + 1
        status, next_at, finished = DeliveryStatus.PENDING, None, None
        if result.succeeded:
            status, finished = DeliveryStatus.SUCCEEDED, now
        elif result.status_code == 410 or made > len(config.WEBHOOK_RETRY_DELAYS):
            status, finished = DeliveryStatus.FAILED, now
        else:
            next_at = now + timedelta(seconds=_delay(config, made))
        self.updates.append({"b_id": item.delivery_id, "b_status": status, "b_code": result.status_code,
                             "b_error": error, "b_next": next_at, "b_finished": finished})

    def hold(self, item: _Item, blocked_until: datetime | None, now: datetime, config: Config) -> None:
        """Not tried this round: due again at once (the round ended), or after its endpoint's backoff —
        unless the endpoint has failed for longer than a whole retry schedule: then it is `failed`."""
        if blocked_until is None:
            self.released.append({"b_id": item.delivery_id})
        elif not item.replayed and now - item.created_at > timedelta(seconds=sum(config.WEBHOOK_RETRY_DELAYS)):
            self.expired.append({"b_id": item.delivery_id, "b_finished": now})
        else:
            self.held.append({"b_id": item.delivery_id, "b_next": blocked_until})

    def execute(self, session: Session, token: str) -> None:
        table = WebhookDelivery.__table__
        mine = update(table).where(table.c.id == bindparam("b_id"), table.c.claim_token == token)
        free = {"lease_until": None, "claim_token": None}
        if self.updates:
            session.execute(mine.values(
                status=bindparam("b_status"), attempts=table.c.attempts + 1, last_status_code=bindparam("b_code"),
                last_error=bindparam("b_error"), next_attempt_at=bindparam("b_next"),
                finished_at=bindparam("b_finished"), **free,
            ), self.updates)
        if self.attempts:
            session.execute(insert(WebhookAttempt), self.attempts)
        if self.held:
            session.execute(mine.values(next_attempt_at=bindparam("b_next"), **free), self.held)
        if self.released:
            session.execute(mine.values(**free), self.released)
        if self.expired:
            session.execute(mine.values(status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=EXPIRED,
                                        finished_at=bindparam("b_finished"), **free), self.expired)


def _write_endpoints(session: Session, groups: list[_Group], blocked: dict[uuid.UUID, datetime],
                     streaks: dict[uuid.UUID, int]) -> None:
    for group in groups:
        changes: dict[str, Any] = {}
        if group.gone:
            changes.update(enabled=False, disabled_reason="the endpoint answered 410 Gone")
            log.info("webhook endpoint disabled after 410", extra={"endpoint_id": str(group.endpoint_id)})
        if group.endpoint_id in blocked:
            changes.update(failure_streak=streaks[group.endpoint_id] + 1, blocked_until=blocked[group.endpoint_id])
        elif streaks[group.endpoint_id] and any(i.result is not None and i.result.succeeded for i in group.items):
            changes.update(failure_streak=0, blocked_until=None)
        if changes:
            session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == group.endpoint_id).values(**changes)
                            .execution_options(synchronize_session=False))

