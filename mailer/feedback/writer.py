"""Group commit for the receiver: concurrent SMTP sessions hand their reports to one writer thread, which
commits all that are waiting in one transaction and enqueues their jobs in one Redis round trip.

Under a bounce storm this turns N commits (each an fsync) into a few, while a lone report still goes
out at once (the writer never waits for company). A session is answered 250 only after its report
is committed.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from flask import Flask

from mailer.feedback.inbox import enqueue_processing, store_reports
from mailer.mail.recipient_tokens import TokenAddress

log = logging.getLogger(__name__)
MAX_BATCH = 200


@dataclass
class _Pending:
    targets: list[TokenAddress]
    raw: bytes
    done: Future[int] = field(default_factory=Future)


class ReportWriter:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="feedback-report-writer", daemon=True)
        self._thread.start()

    def submit(self, targets: list[TokenAddress], raw: bytes) -> Future[int]:
        """A future that resolves to the number of reports stored once they are committed (or raises)."""
        pending = _Pending(targets, raw)
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
        try:
            with self.app.app_context():
                ids = store_reports([t for item in batch for t in item.targets],
                                    [item.raw for item in batch for _ in item.targets])
                enqueue_processing(ids)
        except Exception as exc:  # every session of the batch answers 451 and the sender retries
            log.exception("could not store %d inbound report(s)", len(batch))
            for item in batch:
                item.done.set_exception(exc)
            return
        for item in batch:
            item.done.set_result(len(item.targets))
