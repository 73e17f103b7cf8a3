"""A worker SIGKILLed between a status change and the webhook's POST loses no event (API.md §9)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import FERNET_KEY
from tests.fixtures import SmtpSink, seed, wait_for
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import FAST, deliveries, subscribe
from tests.workers import WorkerProcesses

WORKER_ENV = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_DELAYS": "1,1", "WEBHOOK_TIMEOUT_SECONDS": "2"}


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (RQ's work horse runs in a process group of its own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _stop(workers: WorkerProcesses) -> None:
    """Stop the workers and their work horses (which ``stop_all`` alone would leave running)."""
    for proc in workers.procs:
        for pid in _children(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    workers.stop_all()


@pytest.mark.slow
def test_killed_worker_loses_no_event(app_factory: Callable[..., Flask], receiver: Receiver,
                                      smtp_server: SmtpSink) -> None:
    """Worker A records `sent` and starts the POST; it is SIGKILLed mid-request. A bare worker B and a web process,
    started after, deliver the same event (same webhook-id), signed, once the lease has run out."""
    app = app_factory(**{**FAST, "WEBHOOK_TIMEOUT_SECONDS": 2.0}, SECRETS_KEY=(FERNET_KEY,), SWEEP_INTERVAL_SECONDS=1)
    client = app.test_client()
    acme = seed(app, client, "acme")
    hook = subscribe(client, acme, receiver, events=["message.sent"])
    receiver.script = [("hang", 30)]
    response = client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "Hi", "text": "Hello"},
                           headers=acme.admin)
    assert response.status_code == 202
    workers = WorkerProcesses(app)
    try:
        first = workers.start(**WORKER_ENV)
        wait_for(lambda: len(receiver.requests) == 1, timeout=60)
        horses = _children(first.pid)
        assert horses, "the worker should be running the dispatcher in a work horse"
        for pid in horses:
            os.kill(pid, signal.SIGKILL)
        workers.kill(first)
        first.wait(timeout=10)
        assert len(smtp_server.messages) == 1
        workers.start(**WORKER_ENV)
        workers.start_web(**WORKER_ENV)  # the fleet as deployed: its web process keeps the sweep going
        wait_for(lambda: len(receiver.requests) >= 2, timeout=90, interval=0.2)
        wait_for(lambda: deliveries(client, acme, hook["id"])[0]["status"] == "succeeded", timeout=30, interval=0.2)
    finally:
        _stop(workers)
    cut, delivered = receiver.requests[0], receiver.requests[1]
    assert delivered.webhook_id == cut.webhook_id and delivered.verified_by
    assert delivered.json["type"] == "message.sent"
    assert delivered.json["data"]["message_id"] == response.get_json()["id"]
    [delivery] = deliveries(client, acme, hook["id"])
    assert delivery["status"] == "succeeded" and delivery["event_id"] == cut.webhook_id
    assert delivery["attempts"] == 1  # the cut attempt was never recorded: its run died with it


@pytest.mark.slow
def test_a_retry_runs_on_time_through_the_rq_scheduler(app_factory: Callable[..., Flask], receiver: Receiver,
                                                       smtp_server: SmtpSink) -> None:
    """A real `rq worker --with-scheduler` subprocess: a 500 is retried after WEBHOOK_RETRY_DELAYS' first step
    (1 s), long before the next sweep (60 s), because the run schedules itself for the retry."""
    app = app_factory(**FAST, SECRETS_KEY=(FERNET_KEY,), SWEEP_INTERVAL_SECONDS=60)
    client = app.test_client()
    acme = seed(app, client, "acme")
    hook = subscribe(client, acme, receiver, events=["webhook.test"])
    receiver.script = [500]
    workers = WorkerProcesses(app)
    try:
        workers.start(**WORKER_ENV)
        assert client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin).status_code == 202
        wait_for(lambda: len(receiver.requests) >= 2, timeout=60, interval=0.1)
        wait_for(lambda: deliveries(client, acme, hook["id"])[0]["status"] == "succeeded", timeout=30, interval=0.2)
    finally:
        _stop(workers)
    first, second = receiver.requests[:2]
    assert first.webhook_id == second.webhook_id and second.verified_by
    [delivery] = deliveries(client, acme, hook["id"])
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 2
