"""The top of the RQ boundary: job entry points (jobs.py), the optional faster worker class (fast.py),
and the periodic sweep's clock (clock.py). Its bottom, which every enqueuer imports, is mailer.queues.

``mailer.worker.MailerWorker`` stays importable for ``rq worker --worker-class``; it is loaded
lazily so that a bare worker's job path (``mailer.worker.jobs``) never imports RQ's worker
machinery twice or the Flask app before it needs it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MailerSimpleWorker", "MailerWorker"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mailer.worker import fast  # noqa: PLC0415 - lazily: the job path never loads the worker class

        return getattr(fast, name)
    raise AttributeError(f"module 'mailer.worker' has no attribute {name!r}")
