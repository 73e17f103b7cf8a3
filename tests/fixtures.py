"""Test helpers shared by every package: one free_port, one recording SMTP handler, one drain, and the
seeded tenants, users and API keys (seed, add_users, make_api_key, send).

Fixtures live in tests/conftest.py; this module holds the classes and functions they (and tests) use.
"""

from __future__ import annotations

import asyncio
import socket
import socketserver
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from mailer.queues import QUEUE_NAMES, get_queue
from mailer.worker import MailerSimpleWorker
from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant, login

HOST = "127.0.0.1"
FAST = {"SMTP_RETRY_DELAYS": (1, 1, 1), "SMTP_MAX_ATTEMPTS": 4, "DELIVERY_LEASE_SECONDS": 2,
        "SWEEP_INTERVAL_SECONDS": 2, "SMTP_TIMEOUT_SECONDS": 2.0}



def keep_handler_errors(server: socketserver.BaseServer) -> list[BaseException]:
    """Keep a threaded test server's handler exceptions in a list instead of printing them.

    socketserver prints them with a traceback from the handler's thread, and on CPython 3.11 formatting
    a traceback parses source (the carets) with `ast`: an ast parse in one thread while another compiles
    an AST (werkzeug compiles each URL rule of an app being made) can fail that other thread with
    "AST constructor recursion depth mismatch" (CPython gh-106905). A DNS reply racing its server's stop
    did that to a test in CI.
    """
    errors: list[BaseException] = []

    def keep(_request: Any, _client_address: Any) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            errors.append(error)

    server.handle_error = keep  # type: ignore[method-assign]
    return errors


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=default_policy)  # type: ignore[return-value]


@dataclass
class RecordingHandler:
    """Accepts everything and records each message; `rcpt_replies` refuses chosen recipients."""

    messages: list[ReceivedMail] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 OK queued"


@dataclass
class SmtpSink:
    host: str
    port: int
    handler: RecordingHandler

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages


@dataclass
class ScriptedHandler(RecordingHandler):
    """RecordingHandler plus: a delay before each DATA reply, and scripted RCPT replies in turn."""

    delay: float = 0.0
    rcpt_script: dict[str, list[str]] = field(default_factory=dict)
    sessions: dict[int, str] = field(default_factory=dict)  # id(session) -> the EHLO name it gave
    quits: set[int] = field(default_factory=set)  # sessions that ended with QUIT
    arrivals: dict[str, float] = field(default_factory=dict)  # first DATA time (epoch) per recipient

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        self.sessions[id(session)] = hostname
        return responses

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits.add(id(session))
        return "221 Bye"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        script = self.rcpt_script.get(address)
        if script:
            reply = script.pop(0)
            if not reply.startswith("250"):
                return reply
            envelope.rcpt_tos.append(address)
            return reply
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = await super().handle_DATA(server, session, envelope)
        for rcpt in envelope.rcpt_tos:
            self.arrivals.setdefault(rcpt, time.time())
        return reply

    def count(self, address: str) -> int:
        return sum(address in m.rcpt_tos for m in self.messages)


class Sink(SmtpSink):
    handler: ScriptedHandler

    def __init__(self, port: int | None = None) -> None:
        super().__init__("127.0.0.1", port or free_port(), ScriptedHandler())
        self.controller: Controller | None = None

    def start(self) -> Sink:
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def drain(app: Flask, redis: Redis, queues: tuple[str, ...] = QUEUE_NAMES, *, scheduled: bool = True) -> None:
    """Run every job now due (scheduled ones too, unless told not to) with a real MailerSimpleWorker, here."""
    worker = MailerSimpleWorker([get_queue(q, redis) for q in queues], connection=redis, app=app)
    worker.work(burst=True, with_scheduler=scheduled)


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


class Drainer:
    """Runs every queued job to completion (not the scheduled ones) with drain()."""

    def __init__(self, app: Flask, redis: Redis) -> None:
        self.app, self.redis = app, redis

    def __call__(self, queues: tuple[str, ...] = QUEUE_NAMES) -> None:
        drain(self.app, self.redis, queues, scheduled=False)


_HASH: dict[str, str] = {}


def password_hash() -> str:
    """One argon2 hash of ADMIN_PASSWORD per session: seeding hundreds of users stays fast."""
    if "h" not in _HASH:
        from mailer.security.passwords import hash_password

        _HASH["h"] = hash_password(ADMIN_PASSWORD)
    return _HASH["h"]


def add_users(app: Flask, tenant_id: str, emails: list[str], *, role: str = "user", verified: bool = True,
              active: bool = True, names: list[str] | None = None) -> list[str]:
    """Inserts users straight into the database; returns their ids."""
    from mailer.extensions import db
    from mailer.models import User

    ids = []
    with app.app_context():
        for index, email in enumerate(emails):
            user = User(
                id=uuid.uuid4(), tenant_id=uuid.UUID(tenant_id), email=email.lower(),
                name=names[index] if names else "", password_hash=password_hash(), role=role, is_active=active,
                email_verified_at=datetime.now(UTC) if verified else None,
            )
            db.session.add(user)
            ids.append(str(user.id))
        db.session.commit()
    return ids


@dataclass
class Seeded:
    slug: str
    tenant_id: str
    admin_id: str
    admin_email: str
    admin: dict[str, Any]  # bearer headers of the admin
    user_id: str = ""
    user_email: str = ""
    user: dict[str, Any] = field(default_factory=dict)  # bearer headers of a plain user


def seed(app: Flask, client: FlaskClient, slug: str) -> Seeded:
    ids = create_tenant(app, slug, f"admin@{slug}.test", mail_from=f"news@{slug}.test")
    admin_email, user_email = f"admin@{slug}.test", f"user@{slug}.test"
    [user_id] = add_users(app, ids["tenant_id"], [user_email], names=["Uma User"])
    return Seeded(
        slug, ids["tenant_id"], ids["admin_id"], admin_email, bearer(login(client, slug, admin_email)),
        user_id, user_email, bearer(login(client, slug, user_email)),
    )


def make_api_key(client: FlaskClient, admin: dict[str, Any], name: str = "ci") -> dict[str, Any]:
    response = client.post("/v1/api-keys", json={"name": name}, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def send(client: FlaskClient, headers: dict[str, Any], to: list[str] | None = None, **extra: Any) -> Any:
    body = {"to": to or ["ann@example.com"], "subject": "Hi", "text": "Hello", **extra}
    return client.post("/v1/messages", json=body, headers=headers)


def mail_to(smtp_server: SmtpSink, address: str) -> EmailMessage:
    """The one mail ``address`` received."""
    found = [m for m in smtp_server.messages if m.rcpt_tos == [address]]
    assert len(found) == 1, (address, len(found))
    return found[0].message
