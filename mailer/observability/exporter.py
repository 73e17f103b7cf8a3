"""`GET /metrics` in the Prometheus text format, for operators only.

Everything is read at scrape time: message and recipient gauges and the oldest due recipient
from the database, queue depths and the counters of every process from Redis (see
mailer.observability.metrics). With ``METRICS_TOKEN`` set the scraper must send it as a bearer token;
without it only direct loopback requests (no proxy headers) are answered.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from mailer.errors import NotFoundError, UnauthorizedError
from mailer.extensions import db
from mailer.models import WAITING, Message, Recipient, Tenant
from mailer.observability import metrics
from mailer.observability.feedback import feedback_metrics
from mailer.openapi.registry import documented
from mailer.queues import QUEUE_NAMES, get_queue, get_redis

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)
PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


class MailerCollector(Collector):
    """Collects at scrape time inside the request's app context."""

    def collect(self) -> Iterator[Metric]:
        yield from _database_metrics()
        yield from _redis_metrics()


def _database_metrics() -> Iterator[Metric]:
    try:
        messages = db.session.execute(
            select(Tenant.slug, Message.status, func.count()).join(Tenant, Tenant.id == Message.tenant_id)
            .group_by(Tenant.slug, Message.status)
        ).all()
        recipients = db.session.execute(
            select(Tenant.slug, Recipient.status, func.count()).join(Tenant, Tenant.id == Recipient.tenant_id)
            .group_by(Tenant.slug, Recipient.status)
        ).all()
        oldest = oldest_due_recipient_age(datetime.now(UTC))
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("metrics: database unavailable")
        yield GaugeMetricFamily("mailer_metrics_database_up", "Whether the database answered the scrape.", 0)
        return
    yield GaugeMetricFamily("mailer_metrics_database_up", "Whether the database answered the scrape.", 1)
    for name, text, rows in (
        ("mailer_messages", "Messages by tenant and status.", messages),
        ("mailer_recipients", "Recipients by tenant and status.", recipients),
    ):
        family = GaugeMetricFamily(name, text, labels=["tenant", "status"])
        for slug, status, count in rows:
            family.add_metric([slug, status], count)
        yield family
    yield GaugeMetricFamily(
        "mailer_oldest_due_recipient_age_seconds",
        "How long the longest-waiting due recipient has been due (0 when none is).", oldest,
    )


def oldest_due_recipient_age(now: datetime) -> float:
    """Seconds since the earliest due time of a queued or deferred recipient (0 if none is due)."""
    due_since = func.coalesce(Recipient.next_attempt_at, Recipient.created_at)
    waiting = and_(
        Recipient.status.in_(WAITING),
        or_(Recipient.next_attempt_at.is_(None), Recipient.next_attempt_at <= now),
    )
    earliest = db.session.scalar(select(func.min(due_since)).where(waiting))
    if earliest is None:
        return 0.0
    if isinstance(earliest, str):  # SQLite hands back the raw text for an aggregate
        earliest = datetime.fromisoformat(earliest)
    if earliest.tzinfo is None:
        earliest = earliest.replace(tzinfo=UTC)
    return max(0.0, (now - earliest).total_seconds())


def _redis_metrics() -> Iterator[Metric]:
    redis = get_redis()
    try:
        depths = {name: get_queue(name, redis).count for name in QUEUE_NAMES}
        pipe = redis.pipeline(transaction=False)
        for key in (metrics.ATTEMPTS, metrics.LATENCY, metrics.POOL, metrics.RATE_LIMITED):
            pipe.hgetall(key)
        attempts, latency, pool, limited = (_decode(h) for h in pipe.execute())
    except RedisError:
        log.warning("metrics: Redis unavailable")
        yield GaugeMetricFamily("mailer_metrics_redis_up", "Whether Redis answered the scrape.", 0)
        return
    yield GaugeMetricFamily("mailer_metrics_redis_up", "Whether Redis answered the scrape.", 1)

    queue = GaugeMetricFamily("mailer_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"])
    for name, depth in depths.items():
        queue.add_metric([name], depth)
    yield queue

    family = CounterMetricFamily("mailer_smtp_attempts", "SMTP attempts per recipient by outcome and reply class.",
                                 labels=["outcome", "reply_class"])
    for field, value in sorted(attempts.items()):
        outcome, _, reply = field.partition("|")
        family.add_metric([outcome, reply], float(value))
    yield family

    yield _latency_histogram(latency)

    connections = CounterMetricFamily("mailer_smtp_pool_connections", "SMTP pool connections by event.",
                                      labels=["event"])
    for event in metrics.POOL_EVENTS:
        connections.add_metric([event], float(pool.get(event, 0)))
    yield connections

    rejected = CounterMetricFamily("mailer_rate_limited", "Requests refused by a rate limit or quota.",
                                   labels=["scope"])
    for scope, value in sorted(limited.items()):
        rejected.add_metric([scope], float(value))
    yield rejected
    yield from feedback_metrics(redis)


def _latency_histogram(latency: dict[str, str]) -> Metric:
    cumulative, buckets = 0.0, []
    for bound in (*(str(b) for b in metrics.LATENCY_BUCKETS), "+Inf"):
        cumulative += float(latency.get(bound, 0))
        buckets.append((bound, cumulative))
    return HistogramMetricFamily(
        "mailer_smtp_latency_seconds", "Duration of the SMTP transaction that carried each recipient attempt.",
        buckets=buckets, sum_value=float(latency.get("sum", 0)),
    )


def _decode(mapping: dict[bytes, bytes]) -> dict[str, str]:
    return {key.decode(): value.decode() for key, value in mapping.items()}


def _authorize() -> None:
    token = current_app.config["MAILER"].METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            raise UnauthorizedError("A valid metrics token is required.")
        return
    config = current_app.config["MAILER"]
    # Outside debug and tests a token is required (Prometheus: `authorization: {credentials: …}`): "loopback
    # without proxy headers" also matches a local proxy that adds none, which would publish tenants' volumes (L7).
    if not (config.DEBUG or config.TESTING) or not _is_direct_loopback():
        raise NotFoundError()


def _is_direct_loopback() -> bool:
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
    # Behind a local reverse proxy every request looks like loopback: proxied requests are refused.
    return loopback and not any(header in request.headers for header in PROXY_HEADERS)


@bp.get("/metrics")
@documented("Prometheus metrics (operators only)", auth=False, errors=(401, 404), content_type="text/plain",
            tags=("operations",), description="Bearer METRICS_TOKEN; without one, 404 (direct loopback only in debug).")
def metrics_view() -> Response:
    _authorize()
    registry = current_app.extensions["metrics_registry"]
    return Response(generate_latest(registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask) -> None:
    """The collector /metrics (this module's blueprint) reads, and the count of 429 answers."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MailerCollector())
    app.extensions["metrics_registry"] = registry

    @app.after_request
    def _count_rate_limited(response: Response) -> Response:
        if response.status_code == 429:
            metrics.observe_rate_limited(request.endpoint or "unknown")
        return response

