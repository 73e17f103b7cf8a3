"""Redis and the RQ queues: critical ▸ default ▸ bulk. Jobs carry ids only (JSON serializer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

QUEUE_NAMES = ("critical", "default", "bulk")


def get_redis() -> Redis:
    return current_app.extensions["redis"]


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection or get_redis(), serializer=JSONSerializer)


def enqueue(queue: str, func: Callable[..., Any] | str, *args: Any, **options: Any) -> Any:
    """Enqueue a job by function; arguments must be JSON values (ids, never objects).

    The job's meta carries the current request id, so the worker's log lines can be followed
    back to the request that caused them.
    """
    options["meta"] = job_meta(options.get("meta"))
    return get_queue(queue).enqueue(func, *args, **options)


def job_meta(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Meta for a new job: the current request id and tenant (for following logs), plus ``extra``."""
    from mailer.observability.logs import current_context

    context = {k: v for k, v in current_context().items() if k in ("request_id", "tenant_id")}
    return {**context, **(extra or {})}
