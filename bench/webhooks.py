"""Webhook delivery benchmark: `python bench/webhooks.py [--n 10000] [--database-url URL]`.

A broadcast of N recipients is recorded as sent through the real pipeline hook
(``mail.recording.record_attempts`` → ``webhooks.emit``), which writes N `message.sent` events
(+ `broadcast.finished` from the roll-up) in the same transactions. Then:

1. raw        — one client, one keep-alive connection, POSTing the N already-built bodies in turn
                to the same receiver: the baseline measured in this run.
2. dispatcher — the dispatcher job's own body (``webhooks.dispatcher.run``, as `rq worker` runs it),
                claiming, signing with standardwebhooks, POSTing over its bounded pools and recording
                every attempt, until the receiver has every event.

The receiver is a ThreadingHTTPServer in its own process; it verifies the first signatures with
standardwebhooks and counts requests and its most concurrent connections. The database is a temp
SQLite file unless --database-url is given (its schema is reset!). Redis --redis-url (default db 11)
is FLUSHED. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
JWT_KEY = "bench-secret-key-that-is-long-enough-0123456789"
SECRETS_KEY = "B6Iq4bYl0zjNnqZ3cMHfu3d8r5LxQ8y1cN6qGm2T0kA="  # a fixed Fernet key: benchmarks run outside debug
TARGET_EVENTS_PER_S = 500


# --- the receiver, in its own process --------------------------------------------------------

def _receiver_main(port: int, secret: str, count: Any, verified: Any, peak: Any, ready: Any) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from standardwebhooks.webhooks import Webhook

    hook = Webhook(secret)
    lock = threading.Lock()
    open_connections = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with lock:
                open_connections[0] += 1
                peak.value = max(peak.value, open_connections[0])

        def finish(self) -> None:
            super().finish()
            with lock:
                open_connections[0] -= 1

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with count.get_lock():
                count.value += 1
                check = count.value <= 50 and "webhook-signature" in self.headers
            if check:
                hook.verify(body, {k: v for k, v in self.headers.items()})
                with verified.get_lock():
                    verified.value += 1
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    ready.set()
    server.serve_forever()


class ReceiverProcess:
    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.count, self.verified, self.peak = mp.Value("q", 0), mp.Value("q", 0), mp.Value("q", 0)
        ready = mp.Event()
        self.proc = mp.Process(target=_receiver_main,
                               args=(port, secret, self.count, self.verified, self.peak, ready), daemon=True)
        self.proc.start()
        ready.wait(10)

    def reset(self) -> None:
        self.count.value, self.verified.value, self.peak.value = 0, 0, 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(5)


# --- setup ----------------------------------------------------------------------------------------

def _app(url: str, redis_url: str) -> Any:
    os.environ.update(DATABASE_URL=url, REDIS_URL=redis_url, JWT_SECRET_KEY=JWT_KEY, SECRETS_KEY=SECRETS_KEY,
                      WEBHOOK_ALLOW_PRIVATE="true", LOG_FORMAT="text", RATELIMIT_ENABLED="false")
    from mailer import create_app

    return create_app()


def _prepare(app: Any, redis_url: str, n: int, receiver_url: str, secret: str) -> dict[str, Any]:
    """Schema, a tenant, a broadcast of n recorded as sent without any endpoint (the baseline), then an
    endpoint for every event and a second broadcast of n recorded as sent: its events are the benchmark's."""
    from flask_migrate import upgrade
    from redis import Redis
    from sqlalchemy import text

    from mailer.extensions import db
    from mailer.models import WebhookDelivery, WebhookEndpoint
    from mailer.security.secret_box import secret_box
    from mailer.webhooks.events import EventType

    Redis.from_url(redis_url).flushdb()
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
    result = app.test_cli_runner().invoke(args=["tenants", "create", "acme", "--name", "Acme", "--admin-email",
                                                "admin@acme.test", "--admin-password", "correct horse battery"])
    tenant_id = uuid.UUID(json.loads(result.stdout)["tenant_id"])
    with app.app_context():
        without = _record_broadcast(tenant_id, n)
        db.session.add(WebhookEndpoint(tenant_id=tenant_id, url=receiver_url, events=[e.value for e in EventType],
                                       secret_sealed=secret_box(app.config["MAILER"].SECRETS_KEY).seal(secret)))
        db.session.commit()
        recorded = _record_broadcast(tenant_id, n)
        total = db.session.query(WebhookDelivery).count()
    Redis.from_url(redis_url).flushdb()  # the nudges: the benchmark runs the dispatcher itself
    return {"events": total, "record_s": recorded, "record_without_webhooks_s": without}


def _record_broadcast(tenant_id: uuid.UUID, n: int) -> float:
    """A broadcast of n claimed recipients, recorded as sent in chunks of 500 then rolled up: seconds taken."""
    from flask import current_app
    from sqlalchemy import insert

    from mailer.extensions import db
    from mailer.mail.recording import Attempt, record_attempts, roll_up
    from mailer.models import Message, Recipient
    from mailer.smtp.results import Outcome, RecipientResult

    config = current_app.config["MAILER"]
    message = Message(tenant_id=tenant_id, kind="broadcast", subject="News", sender="news@acme.test",
                      message_id_header=f"<{uuid.uuid4().hex}@acme.test>", raw_mime=None, queue="bulk",
                      tags=["bench"], meta={"campaign": "december"}, status="sending")
    db.session.add(message)
    db.session.flush()
    ids = [uuid.uuid4() for _ in range(n)]
    db.session.execute(insert(Recipient), [
        {"id": rid, "message_id": message.id, "tenant_id": tenant_id, "position": i, "email": f"user{i}@example.com",
         "name": "", "status": "sending", "claim_token": "bench"}
        for i, rid in enumerate(ids)
    ])
    db.session.commit()
    started = time.perf_counter()
    for start in range(0, n, 500):
        chunk = [Attempt(rid, tenant_id, 0, RecipientResult(f"user{start + i}@example.com", Outcome.SENT,
                                                            smtp_code=250, response="2.0.0 OK queued"))
                 for i, rid in enumerate(ids[start:start + 500])]
        record_attempts(chunk, "bench", config)
        db.session.commit()
    roll_up([message.id])
    db.session.commit()
    return time.perf_counter() - started


def _bodies(app: Any) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.models import WebhookEvent
    from mailer.webhooks.events import event_body

    with app.app_context():
        rows = db.session.execute(select(WebhookEvent.id, WebhookEvent.type, WebhookEvent.created_at,
                                         WebhookEvent.data)).all()
        return [(str(r.id), event_body(r.type, r.created_at, r.data)) for r in rows]


# --- the two runs -------------------------------------------------------------------------------

def run_raw(receiver: ReceiverProcess, bodies: list[tuple[str, str]]) -> float:
    """One client, one keep-alive connection, unsigned: the ceiling for this receiver."""
    receiver.reset()
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    started = time.perf_counter()
    for event_id, body in bodies:
        conn.request("POST", "/hook", body=body.encode(), headers={"Content-Type": "application/json",
                                                                    "webhook-id": event_id})
        response = conn.getresponse()
        response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return len(bodies) / elapsed


def run_dispatcher(app: Any, redis_url: str, receiver: ReceiverProcess, n: int) -> tuple[float, int]:
    from redis import Redis

    from mailer.extensions import db
    from mailer.webhooks.dispatcher import run

    receiver.reset()
    redis = Redis.from_url(redis_url)
    runs = 0
    started = time.perf_counter()
    with app.app_context():
        while receiver.count.value < n and runs < 100:
            run(db.session, redis, app.config["MAILER"])
            runs += 1
    elapsed = time.perf_counter() - started
    return receiver.count.value / elapsed, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="broadcast recipients (events)")
    parser.add_argument("--database-url", default="", help="default: a temp SQLite file")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    args = parser.parse_args()

    from mailer.webhooks.bounds import CONNECTIONS_PER_ENDPOINT
    from mailer.webhooks.signing import new_secret

    tmp = tempfile.mkdtemp(prefix="mailer-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    port = _free_port()
    secret = new_secret()
    receiver = ReceiverProcess(port, secret)
    try:
        app = _app(url, args.redis_url)
        prepared = _prepare(app, args.redis_url, args.n, f"http://127.0.0.1:{port}/hook", secret)
        events = prepared["events"]
        print(f"recording {args.n} results: {prepared['record_without_webhooks_s']:.2f}s without an endpoint, "
              f"{prepared['record_s']:.2f}s with one ({events} events written in the same transactions)", flush=True)
        raw = run_raw(receiver, _bodies(app))
        print(f"raw POSTs, one keep-alive client: {raw:8.1f} events/s", flush=True)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        dispatched, runs = run_dispatcher(app, args.redis_url, receiver, events)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        delivered, verified, peak = receiver.count.value, receiver.verified.value, receiver.peak.value
        print(f"dispatcher (signed, logged):       {dispatched:8.1f} events/s  ({delivered}/{events} delivered in "
              f"{runs} run(s), {verified} signatures verified, at most {peak} connections "
              f"(bound {CONNECTIONS_PER_ENDPOINT}), peak RSS +{(rss_after - rss_before) / 1024:.0f} MiB)", flush=True)
    finally:
        receiver.stop()
    print(f"ratio vs raw {dispatched / raw:.2f}x; {dispatched:.0f} events/s (target >= {TARGET_EVENTS_PER_S})")
    print(json.dumps({
        "dispatcher_events_per_s": round(dispatched, 1), "raw_posts_per_s": round(raw, 1),
        "ratio_vs_raw": round(dispatched / raw, 3), "events": events, "delivered": delivered,
        "signatures_verified": verified, "peak_connections": peak, "connection_bound": CONNECTIONS_PER_ENDPOINT,
        "record_with_events_s": round(prepared["record_s"], 2),
        "record_without_webhooks_s": round(prepared["record_without_webhooks_s"], 2),
        "target_events_per_s": TARGET_EVENTS_PER_S,
    }))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
