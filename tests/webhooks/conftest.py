"""Webhook fixtures: an app allowed to reach loopback receivers, fast retries, two seeded tenants,
real receivers (the dispatcher run in this process and the other helpers are in rig.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures import Seeded, seed
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import FAST


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory(**FAST)


@pytest.fixture
def acme(acme_seeded: Seeded) -> Seeded:
    return acme_seeded


@pytest.fixture
def globex(globex_seeded: Seeded) -> Seeded:
    return globex_seeded


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


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
