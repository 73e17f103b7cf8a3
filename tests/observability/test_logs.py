"""Structured logs: one JSON line per event, one request id from the API through the job to SMTP."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from mailer.logs import build_handler, mask_email, scrub
from mailer.queues import get_queue
from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant, login


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every log line of the test, as the production JSON handler writes it."""
    stream = io.StringIO()
    handler = build_handler(stream, "json")
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def events(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_request_id_from_the_request_through_the_job_to_each_smtp_attempt(
    app, client, redis, smtp_server, worker, json_lines
):
    """The client's X-Request-ID rides in job.meta into the worker and onto every attempt line."""
    ids = create_tenant(app)
    token = login(client, "acme", "admin@acme.test")
    response = client.post(
        "/v1/messages", headers={**bearer(token), "X-Request-ID": "trace-7f3a"},
        json={"to": ["ann.smith@example.com", "bob@example.org"], "subject": "Hi", "text": "secret body words"},
    )
    assert response.status_code == 202
    message_id = response.get_json()["id"]
    [job] = get_queue("default", redis).get_jobs()
    assert job.meta["request_id"] == "trace-7f3a"
    with app.app_context():
        from mailer.extensions import db
        from mailer.models import Recipient

        recipient_ids = {str(r.id) for r in db.session.query(Recipient).all()}
    assert set(job.args[0]) == recipient_ids and len(recipient_ids) == 2  # ids only

    worker()

    lines = events(json_lines)
    request_line = next(e for e in lines if e["event"] == "request" and e["path"] == "/v1/messages")
    assert request_line["request_id"] == "trace-7f3a"
    assert request_line["tenant_id"] == ids["tenant_id"] and request_line["status"] == 202
    attempts = [e for e in lines if e["event"] == "smtp attempt"]
    assert len(attempts) == 2
    for attempt in attempts:
        assert attempt["request_id"] == "trace-7f3a"
        assert attempt["job_id"] == job.id
        assert attempt["tenant_id"] == ids["tenant_id"] and attempt["message_id"] == message_id
        assert attempt["recipient_id"] and attempt["outcome"] == "sent" and attempt["smtp_code"] == 250
    assert sorted(a["to"] for a in attempts) == ["a***@example.com", "b***@example.org"]

    everything = json_lines.getvalue()
    for secret in ("ann.smith@example.com", "bob@example.org", "admin@acme.test", token, ADMIN_PASSWORD,
                   "secret body words"):
        assert secret not in everything


def test_every_line_is_one_json_object_with_context(app, client, json_lines):
    client.get("/healthz", headers={"X-Request-ID": "probe-1"})
    [line] = [e for e in events(json_lines) if e.get("path") == "/healthz"]
    assert line["request_id"] == "probe-1" and line["level"] == "info" and line["ts"].endswith("Z")


def test_secrets_and_addresses_are_scrubbed_from_any_line(json_lines):
    log = logging.getLogger("mailer.test")
    log.info("user %s sent Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln with mk_live_abcdef123",
             "carol@example.net", extra={"password": "hunter2hunter2", "reset_token": "abc", "to": "dan@example.com"})
    [line] = events(json_lines)
    assert line["event"] == "user c***@example.net sent Bearer [jwt] with mk_[redacted]"
    assert line["password"] == "[redacted]" and line["reset_token"] == "[redacted]"
    assert line["to"] == "d***@example.com"


def test_mask_email():
    assert mask_email("ann@example.com") == "a***@example.com"
    assert mask_email("not an address") == "***"
    assert scrub("550 <x.y@mail.example.com> unknown") == "550 <x***@mail.example.com> unknown"


def test_a_bare_workers_attempt_lines_carry_the_request_id(app, client, redis, json_lines):
    """A plain RQ SimpleWorker (no Mailer class): the job scope sets the request id once, every line has it."""
    from rq import SimpleWorker

    create_tenant(app)
    token = login(client, "acme", "admin@acme.test")
    client.post("/v1/messages", headers={**bearer(token), "X-Request-ID": "trace-ours"},
                json={"to": ["ann@example.com", "bob@example.org"], "subject": "Hi", "text": "x"})
    [job] = get_queue("default", redis).get_jobs()
    with app.app_context():
        SimpleWorker([get_queue(q, redis) for q in ("critical", "default", "bulk")], connection=redis).work(burst=True)
    attempts = [e for e in events(json_lines) if e["event"] == "smtp attempt"]
    assert len(attempts) == 2
    assert {(a["request_id"], a["job_id"], a["outcome"]) for a in attempts} == {("trace-ours", job.id, "sent")}
