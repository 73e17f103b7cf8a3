"""Group commit for submission: concurrent sessions hand their messages as received to one writer thread,
which prepares (parse, header and sender checks, DKIM) and stores all that are waiting in one transaction
(notifications/submission_service.store_submitted) and enqueues their jobs. Preparing here rather than in
the session's thread pool saves a hop per message and loads each tenant once per group.

N sessions' DATA become one commit instead of N (each an fsync on PostgreSQL), while a lone message still
goes at once (the writer never waits for company). A session answers 250 only after its message is committed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from mailer.extensions import db
from mailer.mail.submitted import Submission
from mailer.notifications.submission_service import store_submitted
from mailer.security.types import Principal
from mailer.submission.limits import QuotaRooms

log = logging.getLogger(__name__)
MAX_BATCH = 64


@dataclass
class _Pending:
    principal: Principal
    submission: Submission
    done: Future[dict[str, Any] | Exception] = field(default_factory=Future)


class SubmissionWriter:
    def __init__(self, app: Flask, rooms: QuotaRooms) -> None:
        self.app = app
        self.rooms = rooms
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="submission-writer", daemon=True)
        self._thread.start()

    def submit(self, principal: Principal, submission: Submission) -> Future[dict[str, Any] | Exception]:
        """Resolves, once committed, to the 202 body or the submission's own refusal; raises if the commit failed."""
        pending = _Pending(principal, submission)
        self._queue.put(pending)
        return pending.done

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        def answer(results: list[dict[str, Any] | Exception], rooms: Mapping[Any, int | None]) -> None:
            # As soon as the commit is done: the sessions answer while their jobs are being enqueued.
            self.rooms.committed(rooms)
            for item, result in zip(batch, results, strict=True):
                item.done.set_result(result)

        try:
            with self.app.app_context():
                try:
                    store_submitted([(item.principal, item.submission) for item in batch], on_commit=answer)
                finally:
                    db.session.remove()
        except Exception as exc:  # nothing of the group is stored: every session answers 451 and the client retries
            log.exception("could not store %d submitted message(s)", len(batch))
            self.rooms.forget()
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(exc)
