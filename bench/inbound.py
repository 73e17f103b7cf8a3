"""Bounce storm: how many reports per second the inbound receiver takes, and how fast workers process them.

    .venv/bin/python bench/inbound.py [--reports 2000] [--clients 8]

1. baseline — an aiosmtpd server that answers 250 to every mail and keeps nothing (the ceiling of
              SMTP itself on this machine), fed the same storm.
2. receiver — Mailer's receiver (token check at RCPT, raw report committed, job enqueued by id).
3. process  — a worker (MailerSimpleWorker, in this process) parsing, matching and applying them all.

Every report is a Postfix-style RFC 3464 DSN (~2.5 KB) to a distinct recipient's VERP address.
Clients are separate processes, each on one connection. The database is a temp SQLite file; the
Redis database BENCH_REDIS_URL (default redis://127.0.0.1:6379/10) is FLUSHED before and after.
The last line printed is one JSON object. A benchmark, not a test: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import smtplib
import socket
import sys
import tempfile
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aiosmtpd.controller import Controller
from flask import Flask
from redis import Redis
from sqlalchemy import insert, select

from mailer import create_app
from tests.feedback.samples import postfix_dsn

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
BOUNCES = "bounces.bench.test"
SECRETS_KEY = "kGmQyPtK0lDN6xJ0a2Y4Zk1vJc8f1VcYq5oPz5jX0mU="


class Discard:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(port: int, jobs: list[tuple[str, bytes]], done: Any) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo("mx.example.net")
        for rcpt, raw in jobs:
            client.sendmail("", [rcpt], raw)
    done.put(len(jobs))


def storm(port: int, jobs: list[tuple[str, bytes]], clients: int) -> float:
    """Reports/s for every job sent by ``clients`` processes at once."""
    context = mp.get_context("fork")
    done = context.Queue()
    shares = [jobs[i::clients] for i in range(clients)]
    procs = [context.Process(target=_client, args=(port, share, done)) for share in shares]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    sent = sum(done.get(timeout=600) for _ in procs)
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    assert sent == len(jobs)
    return len(jobs) / elapsed


def build_app(directory: str) -> Flask:
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{os.path.join(directory, 'bench.db')}",
                      "REDIS_URL": REDIS_URL, "JWT_SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                      "SECRETS_KEY": (SECRETS_KEY,), "BOUNCE_DOMAIN": BOUNCES, "LOG_FORMAT": "text"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    result = app.test_cli_runner().invoke(args=["tenants", "create", "acme", "--name", "Acme", "--admin-email",
                                                "admin@acme.test", "--admin-password", "bench password 1"])
    assert result.exit_code == 0, result.output
    return app


def make_reports(app: Flask, n: int) -> list[tuple[str, bytes]]:
    """n sent recipients (one message each) and, for each, a DSN to its VERP address."""
    from mailer.extensions import db
    from mailer.mail.recipient_tokens import TokenKind, token_address
    from mailer.models import Message, Recipient, Tenant

    jobs = []
    with app.app_context():
        tenant_id = db.session.scalars(select(Tenant.id)).one()
        messages, recipients = [], []
        for index in range(n):
            mid, rid = uuid.uuid4(), uuid.uuid4()
            header = f"<{mid.hex}@acme.test>"
            messages.append({"id": mid, "tenant_id": tenant_id, "kind": "custom", "creator_type": "user",
                             "subject": "s", "sender": "news@acme.test", "message_id_header": header,
                             "queue": "default", "status": "sent", "tags": [], "metadata": {}})
            recipients.append({"id": rid, "message_id": mid, "tenant_id": tenant_id, "position": 0,
                               "email": f"gone{index}@example.com", "name": "", "status": "sent", "attempts": 1,
                               "smtp_message_id": header})
            verp = token_address(app.config["MAILER"], TokenKind.BOUNCE, rid)
            jobs.append((verp, postfix_dsn(to=verp, verp=verp, recipient=f"gone{index}@example.com",
                                           original_message_id=header,
                                           report_id=f"<{uuid.uuid4().hex}@mx.example.net>")))
        db.session.execute(insert(Message.__table__), messages)
        db.session.execute(insert(Recipient.__table__), recipients)
        db.session.commit()
    return jobs


def process_all(app: Flask, redis: Redis) -> tuple[float, dict[str, int]]:
    from mailer.extensions import db
    from mailer.models import InboundReport
    from mailer.queues import get_queue
    from mailer.worker import MailerSimpleWorker

    worker = MailerSimpleWorker([get_queue("bulk", redis)], connection=redis, app=app)
    started = time.perf_counter()
    worker.work(burst=True)
    elapsed = time.perf_counter() - started
    with app.app_context():
        counts: dict[str, int] = {}
        for status in db.session.scalars(select(InboundReport.status)):
            counts[status] = counts.get(status, 0) + 1
    return sum(counts.values()) / elapsed, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    try:
        with tempfile.TemporaryDirectory() as directory:
            app = build_app(directory)
            jobs = make_reports(app, args.reports)
            size = sum(len(raw) for _, raw in jobs) // len(jobs)

            port = _free_port()
            baseline_server = Controller(Discard(), hostname="127.0.0.1", port=port)
            baseline_server.start()
            try:
                baseline = storm(port, jobs, args.clients)
            finally:
                baseline_server.stop()
            print(f"baseline (aiosmtpd, discard):  {baseline:8.1f} reports/s", flush=True)

            from mailer.feedback import limits
            from mailer.feedback.receiver import make_controller

            # The storm stands for many MTAs but comes from one loopback address: lift the per-client bound.
            limits.REPORTS_PER_CLIENT_PER_HOUR = max(limits.REPORTS_PER_CLIENT_PER_HOUR, args.reports)
            port = _free_port()
            server = make_controller(app, "127.0.0.1", port)
            server.start()
            try:
                received = storm(port, jobs, args.clients)
            finally:
                server.stop()
            print(f"receiver (store + enqueue):    {received:8.1f} reports/s", flush=True)

            processed, counts = process_all(app, redis)
            print(f"processing (1 worker):         {processed:8.1f} reports/s  {counts}", flush=True)
            print(f"receiver/baseline {received / baseline:.2f}x; {args.reports} reports of ~{size} bytes, "
                  f"{args.clients} clients", flush=True)
            print(json.dumps({"reports": args.reports, "clients": args.clients, "report_bytes": size,
                              "baseline_per_s": round(baseline, 1), "receiver_per_s": round(received, 1),
                              "receiver_ratio": round(received / baseline, 3),
                              "processed_per_s": round(processed, 1), "statuses": counts}))
    finally:
        redis.flushdb()


if __name__ == "__main__":
    main()
