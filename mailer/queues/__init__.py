"""Redis and the RQ queues: critical ▸ default ▸ bulk, and the one ``enqueue`` everything uses.

The bottom of the RQ boundary (with ``job_scope``, the app a job runs in): everything that enqueues
imports this package; the job entry points that call the services live above them all (mailer.worker.jobs).

Jobs are written with RQ's default serializer, so a bare ``rq worker`` reads them, and they
carry ids only (plain str/int): never addresses, secrets or objects. What protects workers is a
Redis that only they and the web app can reach (RQ runs whatever a job names), not a serializer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from redis import Redis
from redis.client import Pipeline
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from mailer.logs import current_context

QUEUE_NAMES = ("critical", "default", "bulk")


def get_redis() -> Redis:
    """This app's Redis client (made in mailer.extensions.init_redis)."""
    return current_app.extensions["redis"]


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection or get_redis())


def enqueue(queue: str, func: str, *args: str | int | list[str], at: datetime | None = None,
            connection: Redis | None = None, **options: Any) -> Job:
    """Enqueue ``func`` (a job entry point's dotted path) with id arguments; at ``at`` when in the future.

    The job's meta carries the current request id and tenant, so the worker's log lines can be
    followed back to the request that caused them. Raises RedisError when Redis is unreachable.
    """
    options["meta"] = job_meta(options.get("meta"))
    rq_queue = get_queue(queue, connection)
    # One pipeline, one round trip: without one, RQ sends the queue's registration on its own first.
    with rq_queue.connection.pipeline() as pipe:
        if at is not None and at > datetime.now(UTC):
            job = rq_queue.enqueue_at(at, func, *args, pipeline=pipe, **options)
        else:
            job = rq_queue.enqueue(func, *args, pipeline=pipe, **options)
        pipe.execute()
    return job


def enqueue_many(queue: str, func: str, jobs: list[tuple[str, list[str]]], connection: Redis | None = None,
                 **options: Any) -> None:
    """Enqueue one job per (job id, id list) of ``jobs``, due now, in one Redis pipeline (a broadcast's
    thousand jobs cost one round trip, not a few thousand). Raises RedisError when Redis is unreachable."""
    rq_queue = get_queue(queue, connection)
    meta = job_meta(options.pop("meta", None))
    with rq_queue.connection.pipeline() as pipe:
        rq_queue.enqueue_many([Queue.prepare_data(func, [ids], job_id=job_id, meta=dict(meta), **options)
                               for job_id, ids in jobs], pipeline=pipe)
        pipe.execute()


def job_meta(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Meta for a new job: the current request id and tenant (for following logs), plus ``extra``."""
    context = {k: v for k, v in current_context().items() if k in ("request_id", "tenant_id")}
    return {**context, **(extra or {})}


def remove_waiting(pipe: Pipeline, job_ids: Sequence[str]) -> int:
    """Queue on ``pipe`` (the caller's round trip) the removal of these jobs, whose work someone already took, from
    every queue and schedule where they still wait; a job that already started is left alone (it finds nothing to
    claim). The number of replies that adds, for delete_removed."""
    for job_id in job_ids:
        for name in QUEUE_NAMES:
            pipe.lrem(f"rq:queue:{name}", 0, job_id)
            pipe.zrem(ScheduledJobRegistry.key_template.format(name), job_id)
    return len(job_ids) * 2 * len(QUEUE_NAMES)


def delete_removed(redis: Redis, job_ids: Sequence[str], replies: Sequence[Any]) -> int:
    """Delete the jobs that remove_waiting(…, job_ids) took off a queue (its ``replies``); how many."""
    per_job = 2 * len(QUEUE_NAMES)
    gone = [job_id for index, job_id in enumerate(job_ids) if any(replies[index * per_job:(index + 1) * per_job])]
    if gone:
        redis.delete(*(Job.key_for(job_id) for job_id in gone))
    return len(gone)
