"""API.md §4, sentence by sentence, through the HTTP API and a real worker."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailer.config import Config
from mailer.mail.recording import retry_delay
from tests.conftest import FERNET_KEY
from tests.fixtures import drain, free_port
from tests.helpers import bearer, login

RECIPIENT_KEYS = {"id", "email", "status", "error_code", "attempts", "smtp_code", "smtp_response", "message_id",
                  "last_error", "sent_at", "next_attempt_at"}


def _send(app: Any, **body: Any) -> tuple[Any, str, str]:
    client = app.test_client()
    token = login(client, "acme", "admin@acme.test")
    created = client.post("/v1/messages", headers=bearer(token), json={"subject": "Hi", "text": "x", **body})
    assert created.status_code == 202, created.get_json()
    return client, token, created.get_json()["id"]


def _message(client: Any, token: str, message_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/messages/{message_id}", headers=bearer(token))
    assert response.status_code == 200
    return response.get_json()


def _detail(client: Any, token: str, message_id: str, recipient_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/messages/{message_id}/recipients/{recipient_id}", headers=bearer(token))
    assert response.status_code == 200
    return response.get_json()


def test_recipient_endpoint_is_the_recipient_with_its_events(fast_app, redis, sink):
    """GET /v1/messages/{id}/recipients/{recipient_id} → the recipient with "events": [{at, outcome, ...}]."""
    sink.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    client, token, message_id = _send(fast_app, to=["gone@example.com"])
    drain(fast_app, redis)
    [recipient] = _message(client, token, message_id)["recipients"]
    detail = _detail(client, token, message_id, recipient["id"])
    assert set(detail) == RECIPIENT_KEYS | {"events"}
    assert [set(e) for e in detail["events"]] == [{"at", "outcome", "smtp_code", "enhanced_code", "response"}]
    [event] = detail["events"]
    assert (event["outcome"], event["smtp_code"], event["enhanced_code"]) == ("failed", 550, "5.1.1")
    assert "no such user" in event["response"] and event["at"].endswith("Z")


def test_every_recipient_refused_permanently_makes_the_message_failed(fast_app, redis, sink):
    """A 5xx to a recipient fails it at once with the server's code, enhanced code and text."""
    for address in ("a@example.com", "b@example.com"):
        sink.handler.rcpt_replies[address] = "550 5.1.1 no such user"
    client, token, message_id = _send(fast_app, to=["a@example.com", "b@example.com"])
    drain(fast_app, redis)
    body = _message(client, token, message_id)
    assert body["status"] == "failed"
    assert body["counts"] == {"queued": 0, "sending": 0, "sent": 0, "deferred": 0, "failed": 2, "bounced": 0}
    for recipient in body["recipients"]:
        assert (recipient["status"], recipient["error_code"], recipient["attempts"], recipient["smtp_code"]) == (
            "failed", "recipient_rejected", 1, 550)
        assert "5.1.1 no such user" in recipient["smtp_response"]
        assert recipient["next_attempt_at"] is None and recipient["sent_at"] is None


def test_a_5xx_to_the_message_is_content_rejected(fast_app, redis, sink):
    """Permanent — a 5xx reply ... to its message — fails that recipient at once (content_rejected)."""
    sink.handler.data_reply = "554 5.7.1 message refused as spam"
    client, token, message_id = _send(fast_app, to=["a@example.com"])
    drain(fast_app, redis)
    body = _message(client, token, message_id)
    [recipient] = body["recipients"]
    assert body["status"] == "failed"
    assert (recipient["status"], recipient["error_code"], recipient["smtp_code"]) == ("failed", "content_rejected", 554)
    [event] = _detail(client, token, message_id, recipient["id"])["events"]
    assert (event["outcome"], event["enhanced_code"]) == ("failed", "5.7.1")


def test_a_5xx_to_the_sender_is_sender_rejected_for_every_recipient(fast_app, redis, sink):
    async def refuse_sender(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "553 5.7.1 sender not allowed"

    sink.handler.handle_MAIL = refuse_sender  # type: ignore[attr-defined]
    client, token, message_id = _send(fast_app, to=["a@example.com", "b@example.com"])
    drain(fast_app, redis)
    body = _message(client, token, message_id)
    assert body["status"] == "failed"
    assert {(r["error_code"], r["smtp_code"]) for r in body["recipients"]} == {("sender_rejected", 553)}


def test_a_partly_refused_message_is_partially_failed(fast_app, redis, sink):
    sink.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    client, token, message_id = _send(fast_app, to=["ann@example.com", "gone@example.com"])
    drain(fast_app, redis)
    body = _message(client, token, message_id)
    assert body["status"] == "partially_failed"
    assert {r["email"]: r["status"] for r in body["recipients"]} == {"ann@example.com": "sent",
                                                                     "gone@example.com": "failed"}


def test_a_4xx_that_names_a_wait_is_honoured(fast_app, redis, sink):
    """A 4xx reply that names a wait is honoured (here an hour, though the fast app's backoff is 1 s)."""
    sink.handler.rcpt_replies["slow@example.com"] = "450 4.2.0 greylisted, try again in 60 minutes"
    client, token, message_id = _send(fast_app, to=["slow@example.com"])
    before = datetime.now(UTC)
    drain(fast_app, redis)
    [recipient] = _message(client, token, message_id)["recipients"]
    assert (recipient["status"], recipient["error_code"], recipient["smtp_code"]) == ("deferred", None, 450)
    next_attempt = datetime.fromisoformat(recipient["next_attempt_at"].replace("Z", "+00:00"))
    assert before + timedelta(minutes=59) <= next_attempt <= datetime.now(UTC) + timedelta(minutes=61)


@pytest.fixture
def refusing_server() -> Iterator[int]:
    """A server whose greeting is 554 (it refuses service as a whole)."""
    port = free_port()
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"554 5.3.2 no service here\r\n")
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join()
    listener.close()


def test_a_554_greeting_defers_everyone_and_fails_no_one(app_factory, redis, refusing_server):
    """A fault of the server as a whole (greeting 421/554) defers every recipient, never fails one."""
    from tests.fixtures import FAST
    from tests.helpers import create_tenant

    app = app_factory(**FAST, SMTP_PORT=refusing_server)
    create_tenant(app)
    client, token, message_id = _send(app, to=["a@example.com", "b@example.com"])
    drain(app, redis, ("default",))
    body = _message(client, token, message_id)
    assert body["status"] == "sending"
    assert body["counts"]["deferred"] == 2 and body["counts"]["failed"] == 0
    for recipient in body["recipients"]:
        assert (recipient["status"], recipient["error_code"], recipient["smtp_code"]) == ("deferred", None, 554)
        assert recipient["next_attempt_at"] is not None
        [event] = _detail(client, token, message_id, recipient["id"])["events"]
        assert event["outcome"] == "deferred"


def test_default_backoff_is_the_contracts_schedule_with_jitter():
    """Default 30 s, 2 m, 10 m, 30 m, 1 h, 2 h, 4 h, 8 h; SMTP_MAX_ATTEMPTS = 8."""
    config = Config(JWT_SECRET_KEY="k" * 32, SECRETS_KEY=(FERNET_KEY,))
    assert config.SMTP_RETRY_DELAYS == (30, 120, 600, 1800, 3600, 7200, 14400, 28800)
    assert config.SMTP_MAX_ATTEMPTS == 8
    for attempts, base in enumerate(config.SMTP_RETRY_DELAYS, start=1):
        assert base <= retry_delay(config, attempts, None) <= base * 1.1
    assert retry_delay(config, 3, 90.0) == 90.0
    assert retry_delay(config, 1, 100 * 3600.0) == 24 * 3600  # a server asking for days waits one day


def test_redis_down_broadcast_and_retry_still_succeed_and_a_sweep_delivers(app_factory, sink, redis):
    """If Redis is down the request still succeeds and a sweeper enqueues the work once Redis is back."""
    from tests.fixtures import FAST
    from tests.helpers import create_tenant
    from tests.rows import statuses

    # Not a hard-bounce code: a 5.1.1 would suppress the address (§8) and the retry below would not send.
    sink.handler.rcpt_replies["admin@acme.test"] = "550 5.2.2 mailbox full"
    down = app_factory(**FAST, SMTP_PORT=sink.port, REDIS_URL="redis://127.0.0.1:1/0")
    create_tenant(down)
    client = down.test_client()
    token = login(client, "acme", "admin@acme.test")
    broadcast = client.post("/v1/broadcasts", headers=bearer(token), json={"subject": "s", "text": "t"})
    assert broadcast.status_code == 202, broadcast.get_json()

    up = app_factory(**FAST, SMTP_PORT=sink.port)
    assert up.test_cli_runner().invoke(args=["sweep"]).exit_code == 0
    drain(up, redis)
    assert statuses(up) == {"failed": 1}

    del sink.handler.rcpt_replies["admin@acme.test"]
    retried = client.post(f"/v1/messages/{broadcast.get_json()['id']}/retry", headers=bearer(token))
    assert retried.status_code in (200, 202), retried.get_json()
    assert up.test_cli_runner().invoke(args=["sweep"]).exit_code == 0
    drain(up, redis)
    assert statuses(up) == {"sent": 1}


def test_after_452_too_many_recipients_the_rest_go_in_a_new_transaction(fast_app, redis, sink):
    """452 to the third RCPT: the first two go in one transaction, the rest in another; each once."""
    sink.handler.rcpt_script["c@example.com"] = ["452 4.5.3 too many recipients", "250 OK"]
    to = ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    client, token, message_id = _send(fast_app, to=to)
    drain(fast_app, redis)
    body = _message(client, token, message_id)
    assert body["status"] == "sent", body
    assert [sorted(m.rcpt_tos) for m in sink.messages] == [to[:2], to[2:]]
    assert all(r["attempts"] == 1 for r in body["recipients"])


def test_a_relay_that_requires_auth_defers_everyone_and_fails_no_one(fast_app, redis, sink):
    """530 "authentication required" at MAIL is the server's fault as a whole (like AUTH 535): defer, never fail."""
    async def require_auth(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "530 5.7.0 Authentication required"

    sink.handler.handle_MAIL = require_auth  # type: ignore[attr-defined]
    client, token, message_id = _send(fast_app, to=["a@example.com", "b@example.com"])
    drain(fast_app, redis)
    body = _message(client, token, message_id)
    assert body["counts"]["failed"] == 0 and body["counts"]["deferred"] == 2
    assert {(r["status"], r["error_code"], r["smtp_code"]) for r in body["recipients"]} == {("deferred", None, 530)}


@pytest.mark.parametrize("encryption", ["starttls", "ssl"])
def test_smtp_encryption_setting_is_honoured_without_plaintext_fallback(app_factory, redis, sink, encryption):
    """SMTP_ENCRYPTION=starttls|ssl against a plaintext-only server: every recipient deferred, nothing sent."""
    from tests.fixtures import FAST
    from tests.helpers import create_tenant

    app = app_factory(**FAST, SMTP_PORT=sink.port, SMTP_ENCRYPTION=encryption)
    create_tenant(app)
    client, token, message_id = _send(app, to=["a@example.com"])
    drain(app, redis, ("default",))
    [recipient] = _message(client, token, message_id)["recipients"]
    assert (recipient["status"], recipient["error_code"]) == ("deferred", None)
    assert sink.messages == []


def test_queues_critical_for_account_mail_default_for_messages_bulk_for_broadcasts(fast_app, redis):
    from mailer.queues import QUEUE_NAMES, get_queue

    assert QUEUE_NAMES == ("critical", "default", "bulk")
    client, token, _ = _send(fast_app, to=["a@example.com"])
    assert client.post("/v1/broadcasts", headers=bearer(token), json={"subject": "s", "text": "t"}).status_code == 202
    client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": "admin@acme.test"})
    counts = {name: get_queue(name, redis).count for name in QUEUE_NAMES}
    assert counts == {"critical": 1, "default": 1, "bulk": 1}
