"""Webhook fixtures: an app allowed to reach loopback receivers, fast retries, two seeded tenants,
real receivers, and the dispatcher run in this process (the job's own body)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from tests.admin.conftest import Seeded, acme_seeded, globex_seeded, seed  # noqa: F401 - fixtures, on this app
from tests.webhooks.receiver import Receiver

FAST = {"WEBHOOK_ALLOW_PRIVATE": True, "WEBHOOK_RETRY_DELAYS": (1, 1), "WEBHOOK_TIMEOUT_SECONDS": 1.0}


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory(**FAST)


@pytest.fixture
def acme(acme_seeded: Seeded) -> Seeded:  # noqa: F811
    return acme_seeded


@pytest.fixture
def globex(globex_seeded: Seeded) -> Seeded:  # noqa: F811
    return globex_seeded


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def subscribe(client: FlaskClient, tenant: Seeded, receiver: Receiver, events: list[str] | None = None,
              **extra: Any) -> dict[str, Any]:
    """Creates an endpoint for ``receiver`` and teaches the receiver its secret."""
    body = {"url": receiver.url, "events": events or ["message.sent", "message.failed", "message.deferred"],
            **extra}
    response = client.post("/v1/webhooks", json=body, headers=tenant.admin)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    receiver.secrets.append(created["secret"])
    return created


def dispatch(app: Flask, redis: Redis, **options: Any) -> Any:
    """One dispatcher run, exactly as the RQ job runs it (never yielding: no mail worker here)."""
    from mailer.extensions import db
    from mailer.webhooks.dispatcher import run

    options.setdefault("should_yield", lambda: False)
    with app.app_context():
        report = run(db.session, redis, app.config["MAILER"], **options)
        db.session.remove()
        return report


def dispatch_until(app: Flask, redis: Redis, predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Run the dispatcher again and again (as its scheduled wake-ups would) until ``predicate()``."""
    deadline = time.monotonic() + timeout
    while True:
        dispatch(app, redis)
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(0.1)


def deliveries(client: FlaskClient, tenant: Seeded, webhook_id: str, **query: Any) -> list[dict[str, Any]]:
    response = client.get(f"/v1/webhooks/{webhook_id}/deliveries", query_string=query, headers=tenant.admin)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


@pytest.fixture
def client_factory(app_factory: Callable[..., Flask]) -> Callable[..., tuple[Flask, FlaskClient, Seeded]]:
    """An app with other settings (e.g. the guard on), its client and a seeded tenant."""

    def build(**overrides: Any) -> tuple[Flask, FlaskClient, Seeded]:
        built = app_factory(**{**FAST, **overrides})
        client = built.test_client()
        return built, client, seed(built, client, "initech")

    return build


class DnsServer:
    """A real DNS server (dnslib) on a free loopback UDP port answering A records from ``records``."""

    def __init__(self) -> None:
        from dnslib import QTYPE, RR, A
        from dnslib.server import BaseResolver, DNSServer

        self.records: dict[str, str] = {}
        records = self.records

        class Resolver(BaseResolver):  # type: ignore[misc]
            def resolve(self, request: Any, handler: Any) -> Any:
                reply = request.reply()
                name = str(request.q.qname).rstrip(".").lower()
                if name not in records:
                    reply.header.rcode = 3  # NXDOMAIN
                elif request.q.qtype == QTYPE.A:
                    reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(records[name]), ttl=1))
                return reply

        from tests.fixtures import free_port

        self.port = free_port()
        self.server = DNSServer(Resolver(), port=self.port, address="127.0.0.1", logger=_QuietLogger())
        self.server.start_thread()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()


class _QuietLogger:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    yield server
    server.stop()
