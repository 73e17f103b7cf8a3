"""A real HTTP webhook receiver on a free loopback port, verifying every request with `standardwebhooks`.

``script`` is what it answers, one entry per request in turn (then ``default``): a status code,
``("hang", seconds)`` to sit on the request, or ``("redirect", url)``. Every request is kept with its
headers, body and which of ``secrets`` verified it.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.fixtures import keep_handler_errors


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified_by: list[str]

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    script: list[Any] = field(default_factory=list)
    default: Any = 200
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    errors: list[BaseException] = field(default_factory=list)  # what handlers raised (a TLS handshake refused)
    tls: ssl.SSLContext | None = None  # serve https with this context
    host: str = "127.0.0.1"  # the host name URLs name (resolved elsewhere, e.g. by a test DNS server)

    @property
    def url(self) -> str:
        assert self.server is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.server.server_address[1]}/hooks/mailer"

    def next_action(self) -> Any:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def record(self, headers: dict[str, str], body: bytes) -> None:
        verified = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified.append(secret)
            except WebhookVerificationError:
                pass
        with self.lock:
            self.requests.append(Received(headers, body, verified))

    def ok(self) -> list[Received]:
        """Requests that every current secret verified (in arrival order)."""
        return [r for r in self.requests if r.verified_by]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.record({k.lower(): v for k, v in self.headers.items()}, body)
                action = receiver.next_action()
                if isinstance(action, tuple) and action[0] == "hang":
                    time.sleep(action[1])
                    action = 200
                location = None
                if isinstance(action, tuple) and action[0] == "redirect":
                    action, location = 302, action[1]
                try:
                    self.send_response(action)
                    if location:
                        self.send_header("Location", location)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): what the hang was for

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.errors = keep_handler_errors(self.server)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
