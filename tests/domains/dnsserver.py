"""A real authoritative DNS server for tests (dnslib, UDP on a free loopback port).

Tests publish records into it (``publish``/``withdraw``); names that hold nothing answer NXDOMAIN,
names holding other types answer NOERROR with no answer, as a real zone does.
"""

from __future__ import annotations

import socket
import threading
from collections import defaultdict
from typing import Any

from dnslib import CNAME, QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.fixtures import keep_handler_errors


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Zone(BaseResolver):
    def __init__(self) -> None:
        self.records: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.queries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((name, qtype))
            held = list(self.records.get(name, ()))
        if not held:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rtype, value in held:
            if rtype != qtype:
                continue
            if rtype == "TXT":
                raw = value.encode()
                chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)]  # a long key, split as providers do
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
            elif rtype == "CNAME":
                reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(value), ttl=60))
        return reply


class DnsServer:
    def __init__(self) -> None:
        self.zone = _Zone()
        self.port = free_udp_port()
        self._server = DNSServer(self.zone, port=self.port, address="127.0.0.1",
                                 logger=DNSLogger(logf=lambda _line: None))
        self.errors = keep_handler_errors(self._server.server)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> DnsServer:
        self._server.start_thread()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._server.server.server_close()

    def publish(self, rtype: str, name: str, value: str) -> None:
        with self.zone.lock:
            self.zone.records[name.rstrip(".").lower()].append((rtype, value))

    def withdraw(self, name: str) -> None:
        with self.zone.lock:
            self.zone.records.pop(name.rstrip(".").lower(), None)

    @property
    def queries(self) -> list[tuple[str, str]]:
        with self.zone.lock:
            return list(self.zone.queries)
