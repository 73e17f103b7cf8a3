"""End-to-end delivery: `python bench/pipeline.py [--n 5000] [--sink smtp-sink|aiosmtpd] [--database-url URL]`.

Three ways to put N one-recipient mails into the same local SMTP sink (its own process;
Postfix's C ``smtp-sink`` by default, or aiosmtpd, which saturates a core near 1.5 k msg/s):

1. raw        — smtplib on one persistent connection, one process: the ceiling.
2. pipeline   — Mailer: a backlog of N messages committed first (chunks of 500, untimed), then
                ``requeue`` for all (the clock starts here), delivered by 2 bare
                ``rq worker --with-scheduler critical default bulk`` subprocesses (the README's
                command; ``--worker-class mailer.worker.MailerWorker`` tries the Procfile's) with
                leases, results committed a window at a time and pooled connections.
                Password-reset-like critical mails are committed and enqueued during the run and
                their latency (commit → arrival at the sink) measured.
3. naive      — one RQ job per message, each opening a new SMTP connection, 2 bare ``rq worker``
                subprocesses; --naive-n messages.

``--arrival api`` measures real transactional traffic instead: N messages POSTed one at a time
to /v1/messages by --clients concurrent clients through ``gunicorn -w --web-workers`` while 2
workers run, end to end (first POST to last arrival at the sink), with the p50 and p99 latency
from POST to the sink and the reset (critical mail) p99 during the run; once with bare ``rq
worker``s and once with the Procfile's ``MailerWorker`` (--api-workers), against raw smtplib on
one persistent connection. (bench/api.py measures the HTTP ingest path on its own.)

``--arrival claims`` runs the delivery loop's one-message claims in the benchmark's process, no workers:
--n messages committed first (untimed), then ``claim_due_for_owner`` (one row) + ``deliver_claim`` for each,
the process CPU (and statements) per claim over the last N after --warm-up claims.
``--arrival trickle`` commits N messages one at a time at --rate per second in the benchmark's
process (what the service does after a POST: commit, then a job or a nudge) while 2 workers run: the
workers' CPU per message at a fixed arrival rate, without the web competing for the cores.

Every mode reports the CPU per message of each process group over the timed run (bench/cpu.py):
web (gunicorn), workers (with their work horses), the PostgreSQL backends of the database, Redis
and the sink. BENCH_PROFILE_DIR=DIR records py-spy stacks of the workers and their work horses.

Every process gets bench/common.py's ``bench_env`` (all of Config set; a developer's .env changes
nothing). The database is a temp SQLite file unless --database-url is given (its schema is reset!).
Redis --redis-url (default db 13) is FLUSHED. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import (  # noqa: E402
    JWT_KEY,
    SECRETS_KEY,
    SENDER,
    app_settings,
    bench_env,
    percentile,
    reset_schema,
    start_gunicorn,
    start_workers,
    stop_processes,
    wait_for,
    wait_for_workers,
)
from bench.common import http as request  # noqa: E402
from bench.cpu import CpuMeter, per_message_ms  # noqa: E402
from bench.sinks import AiosmtpdSink, Sink, free_port, open_sink, smtp_sink_binary  # noqa: E402

__all__ = ["JWT_KEY", "SECRETS_KEY", "SinkProcess", "run_pipeline"]

SinkProcess = AiosmtpdSink  # bench/signing.py's sink
_free_port = free_port
_wait = wait_for


def _wire(address: str, index: int) -> tuple[bytes, str]:
    mid = f"<{uuid.uuid4().hex}@acme.test>"
    body = f"Hello, this is message number {index}.\r\n" * 8
    return (f"From: Acme <{SENDER}>\r\nTo: {address}\r\nSubject: Bench {index}\r\nMessage-ID: {mid}\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode(), mid


# --- 1. raw smtplib, one persistent connection --------------------------------------------------

def run_raw(sink: Sink, n: int) -> float:
    start_count = sink.received
    wires = [_wire(f"raw{i}@example.com", i)[0] for i in range(n)]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for i, wire in enumerate(wires):
            smtp.sendmail(SENDER, [f"raw{i}@example.com"], wire)
    _wait(lambda: sink.received - start_count >= n, 60, "raw mails")
    return n / (time.perf_counter() - started)


# --- 3. naive: one RQ job and one new SMTP connection per message --------------------------------

def naive_send(host: str, port: int, index: int) -> None:
    """The naive job: open a connection, send one message, quit."""
    with smtplib.SMTP(host, port) as smtp:
        smtp.sendmail(SENDER, [f"naive{index}@example.com"], _wire(f"naive{index}@example.com", index)[0])


def run_naive(sink: Sink, n: int, redis_url: str, env: dict[str, str]) -> float:
    from redis import Redis
    from rq import Queue

    redis = Redis.from_url(redis_url)
    redis.flushdb()
    procs = start_workers(2, redis_url, env, None, ("naive",))
    try:
        wait_for_workers(redis, 2)
        queue = Queue("naive", connection=redis)
        start_count = sink.received
        started = time.perf_counter()
        for i in range(n):
            queue.enqueue("bench.pipeline.naive_send", "127.0.0.1", sink.port, i)
        _wait(lambda: sink.received - start_count >= n, 600, "naive mails")
        return n / (time.perf_counter() - started)
    finally:
        stop_processes(procs)


# --- 2. the Mailer pipeline ----------------------------------------------------------------------

def _prepare_database(url: str, redis_url: str, env: dict[str, str] | None = None) -> Any:
    """Reset the schema, migrate, create tenant acme; the benchmark's own app (configured by ``env``)."""
    from mailer import create_app

    reset_schema(url)
    settings = app_settings(env) if env else {"DATABASE_URL": url, "REDIS_URL": redis_url,
                                              "JWT_SECRET_KEY": JWT_KEY, "SECRETS_KEY": (SECRETS_KEY,),
                                              "LOG_FORMAT": "text"}
    app = create_app(settings)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    result = app.test_cli_runner().invoke(args=["tenants", "create", "acme", "--name", "Acme", "--admin-email",
                                                "admin@acme.test", "--admin-password", "bench password 1",
                                                "--mail-from", SENDER])
    assert result.exit_code == 0, result.output
    return app

def _messages(tenant_id: uuid.UUID, start: int, count: int, queue: str, prefix: str, kind: str) -> list[Any]:
    from mailer.models import Message, Recipient
    from mailer.models.message import queue_priority

    messages = []
    for i in range(start, start + count):
        address = f"{prefix}{i}@example.com"
        wire, mid = _wire(address, i)
        message = Message(tenant_id=tenant_id, kind=kind, subject=f"Bench {i}", sender=SENDER,
                          message_id_header=mid, raw_mime=wire, queue=queue, tags=[], meta={})
        message.recipients = [Recipient(id=uuid.uuid4(), tenant_id=tenant_id, position=0, email=address,
                                          priority=queue_priority(queue))]
        messages.append(message)
    return messages


PROFILE_DIR = os.environ.get("BENCH_PROFILE_DIR", "")  # py-spy raw stacks of each worker and its work horses


def _profilers(workers: list[subprocess.Popen[bytes]], label: str = "") -> list[subprocess.Popen[bytes]]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return [subprocess.Popen([spy, "record", "--pid", str(w.pid), "--subprocesses", "--rate", "250", "--nonblocking",
                              "-f", "raw", "-o", f"{PROFILE_DIR}/{label}worker{i}.txt"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True) for i, w in enumerate(workers)]


def _stop_profilers(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait(30)


def _commit_and_enqueue(message: Any) -> None:
    """What the service does with a new message: stage it in the transaction, commit, then enqueue."""
    from mailer.extensions import atomic, db
    from mailer.mail.outbox import enqueue, stage

    with atomic():
        enqueue(stage(message))
        db.session.add(message)


def run_pipeline(sink: Sink, n: int, app: Any, redis_url: str, env: dict[str, str],
                 worker_class: str | None, reset_every: float) -> tuple[float, list[float], dict[str, Any]]:
    from redis import Redis
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.mail.outbox import requeue
    from mailer.models import Tenant

    redis = Redis.from_url(redis_url)
    redis.flushdb()
    procs = start_workers(2, redis_url, env, worker_class)
    asked: dict[str, float] = {}
    phases: dict[str, Any] = {}
    spies: list[subprocess.Popen[bytes]] = []
    meter = CpuMeter({"workers": [p.pid for p in procs], "sink": [sink.proc.pid]}, env["DATABASE_URL"], redis_url)
    try:
        wait_for_workers(redis, 2)
        time.sleep(1.0)  # let the first periodic sweep come and go
        spies = _profilers(procs) if PROFILE_DIR else []
        with app.app_context():
            tenant_id = db.session.scalars(select(Tenant.id)).one()
            # The backlog is committed before the clock starts (building N ORM objects here would
            # otherwise compete with the workers for the two cores), then enqueued all at once.
            committing = time.perf_counter()
            ids = []
            for offset in range(0, n, 500):
                batch = _messages(tenant_id, offset, min(500, n - offset), "default", "user", "custom")
                ids += [m.recipients[0].id for m in batch]
                db.session.add_all(batch)
                db.session.commit()
                db.session.expunge_all()
            phases["committed_s"] = time.perf_counter() - committing
            start_count = sink.received
            meter.start()
            started = time.perf_counter()
            next_reset = started + reset_every
            requeue(ids, "default")
            phases["enqueued_s"] = time.perf_counter() - started
            while sink.received - start_count < n + len(asked):
                now = time.perf_counter()
                if now >= next_reset and sink.received - start_count < n * 0.9:
                    [reset] = _messages(tenant_id, len(asked), 1, "critical", "reset", "password_reset")
                    asked[f"reset{len(asked)}@example.com"] = time.time()
                    _commit_and_enqueue(reset)
                    db.session.expunge_all()
                    next_reset = now + reset_every
                time.sleep(0.005)
                if now - started > 600:
                    raise SystemExit("pipeline timed out")
            elapsed = time.perf_counter() - started
            phases["cpu_ms_per_msg"] = per_message_ms(meter.stop(), n + len(asked))
    finally:
        _stop_profilers(spies)
        stop_processes(procs)
    arrivals = sink.reset_arrivals()
    latencies = sorted(arrivals[a] - t for a, t in asked.items() if a in arrivals)
    return n / elapsed, latencies, phases


# --- 3b. a trickle without the web: one message committed at a time, at a fixed rate -------------

def run_trickle(sink: Sink, n: int, rate: float, app: Any, redis_url: str, env: dict[str, str],
                worker_class: str | None, reset_every: float) -> dict[str, Any]:
    """N messages committed and enqueued (nudged) one at a time, ``rate`` per second, as the service does
    after a POST, while 2 workers run: the workers' CPU per message at a fixed arrival rate, no web."""
    from redis import Redis

    from mailer.extensions import db
    from mailer.models import Tenant

    redis = Redis.from_url(redis_url)
    redis.flushdb()
    procs = start_workers(2, redis_url, env, worker_class)
    meter = CpuMeter({"workers": [p.pid for p in procs], "sink": [sink.proc.pid]}, env["DATABASE_URL"], redis_url)
    committed: dict[str, float] = {}
    resets = 0
    spies: list[subprocess.Popen[bytes]] = []
    try:
        wait_for_workers(redis, 2)
        spies = _profilers(procs, "trickle-") if PROFILE_DIR else []
        time.sleep(1.0)  # let the first periodic sweep come and go
        with app.app_context():
            tenant_id = db.session.scalars(db.select(Tenant.id)).one()
            start_count = sink.received
            meter.start()
            started = time.monotonic()
            next_reset = started + reset_every
            for i in range(n):
                time.sleep(max(0.0, started + i / rate - time.monotonic()))
                if time.monotonic() >= next_reset:
                    [reset] = _messages(tenant_id, resets, 1, "critical", "reset", "password_reset")
                    _commit_and_enqueue(reset)
                    resets, next_reset = resets + 1, next_reset + reset_every
                [message] = _messages(tenant_id, i, 1, "default", "api-trickle", "custom")
                committed[f"api-trickle{i}@example.com"] = time.time()
                _commit_and_enqueue(message)
                db.session.expunge_all()
            _wait(lambda: sink.received - start_count >= n + resets, 300, "trickled mails")
            cpu = per_message_ms(meter.stop(), n + resets)
    finally:
        _stop_profilers(spies)
        stop_processes(procs)
    arrivals = sink.reset_arrivals()
    latencies = sorted(arrivals[a] - t for a, t in committed.items() if a in arrivals)
    return {"rate": rate, "p50_s": percentile(latencies, 50), "p99_s": percentile(latencies, 99), "resets": resets,
            "cpu_ms_per_msg": cpu}


def run_claims(sink: Sink, n: int, warm_up: int, app: Any) -> dict[str, Any]:
    """``warm_up`` + ``n`` one-message claims (claim_due_for_owner + deliver_claim) in process: CPU ms and
    statements per claim over the last ``n``."""
    from sqlalchemy import event

    from mailer.extensions import db
    from mailer.mail.delivery import deliver_claim, smtp_sender
    from mailer.mail.leases import claim_due_for_owner
    from mailer.models import Tenant

    statements = [0]
    with app.app_context():
        tenant_id = db.session.scalars(db.select(Tenant.id)).one()
        for start in range(0, warm_up + n, 500):
            db.session.add_all(_messages(tenant_id, start, min(500, warm_up + n - start), "default", "claim", "custom"))
            db.session.commit()
        db.session.expunge_all()
        config = app.config["MAILER"]
        def count(*args: Any) -> None:
            statements[0] += 1
            if os.environ.get("BENCH_SQL"):  # print each statement's start
                print(args[2][:150].replace("\n", " "))

        event.listen(db.engine, "before_cursor_execute", count)
        start_count = sink.received
        for i in range(warm_up + n):
            if i == warm_up:
                cpu, wall, statements[0] = time.process_time(), time.monotonic(), 0
            claim = claim_due_for_owner(tenant_id, 1, config.DELIVERY_LEASE_SECONDS, expired=False, commit=False)
            deliver_claim(claim, config)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        smtp_sender().close()
        _wait(lambda: sink.received - start_count >= warm_up + n, 60, "claimed mails")
    return {"claims": n, "cpu_ms_per_claim": round(cpu * 1000 / n, 2), "wall_ms_per_claim": round(wall * 1000 / n, 2),
            "statements_per_claim": round(statements[0] / n, 2)}


# --- 4. real traffic: one message per request, through gunicorn -------------------------------

def run_api(sink: Sink, n: int, clients: int, app: Any, redis_url: str, env: dict[str, str],
            worker_class: str | None, reset_every: float, web_workers: int = 4) -> dict[str, Any]:
    """N one-message POSTs by ``clients`` threads through ``gunicorn -w web_workers`` while 2 workers run;
    times in seconds, CPU of each process group in ms per message."""
    import threading
    from http.client import HTTPConnection

    from redis import Redis

    from mailer.extensions import db
    from mailer.models import Tenant

    redis = Redis.from_url(redis_url)
    redis.flushdb()
    port = free_port()
    web = start_gunicorn(port, env, workers=web_workers)
    procs = start_workers(2, redis_url, env, worker_class)
    posted: dict[str, float] = {}
    asked: dict[str, float] = {}
    sessions_before = sink.session_count
    meter = CpuMeter({"web": [web.pid], "workers": [p.pid for p in procs], "sink": [sink.proc.pid]},
                     env["DATABASE_URL"], redis_url)
    spies: list[subprocess.Popen[bytes]] = []
    try:
        wait_for_workers(redis, 2)
        time.sleep(1.0)  # let the first periodic sweep come and go
        spies = _profilers(procs, f"api-{worker_class or 'rq'}-") if PROFILE_DIR else []
        status, body = request("POST", port, "/v1/auth/login", {"tenant": "acme", "email": "admin@acme.test",
                                                              "password": "bench password 1"})
        assert status == 200, body
        token = body["access_token"]
        start_count = sink.received
        prefix = f"api{uuid.uuid4().hex[:6]}-"

        def client(index: int) -> None:
            conn = HTTPConnection("127.0.0.1", port, timeout=30)
            for i in range(index, n, clients):
                address = f"{prefix}{i}@example.com"
                posted[address] = time.time()
                code, _ = request("POST", port, "/v1/messages", {"to": [address], "subject": f"API {i}",
                                                               "text": "Hello, one message per request.\n" * 8},
                                token, conn)
                if code != 202:
                    raise SystemExit(f"POST answered {code}")
            conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        meter.start()
        started = time.time()
        for thread in threads:
            thread.start()
        with app.app_context():
            tenant_id = db.session.scalars(db.select(Tenant.id)).one()
            next_reset = time.monotonic() + reset_every
            while any(t.is_alive() for t in threads):
                if time.monotonic() >= next_reset:
                    [reset] = _messages(tenant_id, len(asked), 1, "critical", f"reset{prefix}", "password_reset")
                    asked[f"reset{prefix}{len(asked)}@example.com"] = time.time()
                    _commit_and_enqueue(reset)
                    db.session.expunge_all()
                    next_reset = time.monotonic() + reset_every
                time.sleep(0.01)
        posted_s = time.time() - started
        _wait(lambda: sink.received - start_count >= n + len(asked), 300, "API mails")
        cpu = per_message_ms(meter.stop(), n + len(asked))
        arrivals = sink.reset_arrivals()
    finally:
        _stop_profilers(spies)
        stop_processes([*procs, web])
    time.sleep(0.5)  # smtp-sink counts a session when it ends: let it see the killed workers' connections close
    latencies = sorted(arrivals[a] - t for a, t in posted.items())
    resets = sorted(arrivals[a] - t for a, t in asked.items() if a in arrivals)
    last = max(arrivals[a] for a in posted)
    return {"msgs_per_s": n / (last - started), "posted_in_s": posted_s, "mean_s": statistics.fmean(latencies),
            "p50_s": percentile(latencies, 50), "p99_s": percentile(latencies, 99),
            "reset_p99_s": percentile(resets, 99), "resets": len(resets),
            "smtp_sessions": sink.session_count - sessions_before, "cpu_ms_per_msg": cpu}


def main_api(args: Any, sink: Sink, app: Any, env: dict[str, str]) -> None:
    api_env = dict(env, RATELIMIT_ENABLED="false", TENANT_DAILY_QUOTA="1000000", USER_DAILY_QUOTA="1000000")
    raw = run_raw(sink, args.n)
    print(f"raw smtplib, one connection: {raw:8.1f} msgs/s  ({args.n} mails)", flush=True)
    figures: dict[str, Any] = {"raw_persistent_msgs_per_s": round(raw, 1), "clients": args.clients, "n": args.n,
                               "web_workers": args.web_workers, "sink": args.sink,
                               "database": env["DATABASE_URL"].split(":", 1)[0].split("+")[0]}
    kinds = (("bare", None), ("procfile", "mailer.worker.MailerWorker"))
    for label, worker_class in (k for k in kinds if args.api_workers in ("both", k[0])):
        result = run_api(sink, args.n, args.clients, app, args.redis_url, api_env, worker_class, args.reset_every,
                         args.web_workers)
        cpu = ", ".join(f"{name} {ms}" for name, ms in result["cpu_ms_per_msg"].items())
        print(f"api arrival, {label:8} workers: {result['msgs_per_s']:8.1f} msgs/s end to end "
              f"({result['msgs_per_s'] / raw:.2f}x raw), POST->sent p50 {result['p50_s']:.3f}s "
              f"p99 {result['p99_s']:.3f}s, reset p99 {result['reset_p99_s']:.3f}s ({result['resets']} resets), "
              f"{result['smtp_sessions']} SMTP sessions, POSTs took {result['posted_in_s']:.1f}s; "
              f"CPU ms per message: {cpu}", flush=True)
        figures[label] = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
        figures[label]["ratio_vs_raw"] = round(result["msgs_per_s"] / raw, 3)
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="recipients through the pipeline and raw smtplib")
    parser.add_argument("--naive-n", type=int, default=600, help="messages through the naive pipeline")
    parser.add_argument("--sink", choices=("smtp-sink", "aiosmtpd"),
                        default="smtp-sink" if smtp_sink_binary() else "aiosmtpd",
                        help="default: smtp-sink where Postfix is installed, else aiosmtpd")
    parser.add_argument("--database-url", default="", help="default: a temp SQLite file")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--worker-class", default=None, help="default: bare rq worker; e.g. mailer.worker.MailerWorker")
    parser.add_argument("--reset-every", type=float, default=0.25, help="seconds between reset mails")
    parser.add_argument("--arrival", choices=("backlog", "api", "trickle", "claims"), default="backlog",
                        help="backlog: N mails committed first; api: N POSTs, one message each, while workers run; "
                             "trickle: N messages committed one at a time at --rate, no web; "
                             "claims: N one-message claims in process, no workers")
    parser.add_argument("--warm-up", type=int, default=30, help="claims before the measured N (--arrival claims)")
    parser.add_argument("--rate", type=float, default=30.0, help="messages per second (--arrival trickle)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent API clients (--arrival api)")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn -w (--arrival api)")
    parser.add_argument("--api-workers", choices=("both", "bare", "procfile"), default="both",
                        help="which delivery workers the --arrival api run starts")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="mailer-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    port = free_port()
    env = bench_env(url, args.redis_url, port)
    sink = open_sink(args.sink, port)
    if args.arrival == "trickle":
        try:
            result = run_trickle(sink, args.n, args.rate, _prepare_database(url, args.redis_url, env), args.redis_url,
                                 env, args.worker_class, args.reset_every)
        finally:
            sink.stop()
        cpu = ", ".join(f"{name} {ms}" for name, ms in result["cpu_ms_per_msg"].items())
        print(f"trickle of {args.rate:g} msgs/s, 2 workers: commit->sent p50 {result['p50_s']:.3f}s "
              f"p99 {result['p99_s']:.3f}s ({result['resets']} resets); CPU ms per message: {cpu}", flush=True)
        print(json.dumps({"arrival": "trickle", "n": args.n, "worker_class": args.worker_class or "rq.Worker",
                          **{k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}}))
        return
    if args.arrival == "claims":
        try:
            result = run_claims(sink, args.n, args.warm_up, _prepare_database(url, args.redis_url, env))
        finally:
            sink.stop()
        print(json.dumps({"arrival": "claims", "database": url.split(":", 1)[0].split("+")[0], **result}))
        return
    if args.arrival == "api":
        try:
            main_api(args, sink, _prepare_database(url, args.redis_url, env), env)
        finally:
            sink.stop()
        return
    try:
        app = _prepare_database(url, args.redis_url, env)
        raw = run_raw(sink, args.n)
        print(f"raw smtplib, one connection: {raw:8.1f} msgs/s  ({args.n} mails, {args.sink})", flush=True)
        sessions = sink.session_count
        pipeline, latencies, phases = run_pipeline(sink, args.n, app, args.redis_url, env, args.worker_class,
                                                   args.reset_every)
        sessions = sink.session_count - sessions
        cpu = ", ".join(f"{name} {ms}" for name, ms in phases["cpu_ms_per_msg"].items())
        print(f"mailer pipeline, 2 workers:  {pipeline:8.1f} msgs/s  ({args.n} mails, "
              f"enqueued in {phases['enqueued_s']:.2f}s, {len(latencies)} resets, {sessions} SMTP sessions; "
              f"CPU ms per message: {cpu})", flush=True)
        naive = run_naive(sink, args.naive_n, args.redis_url, env)
        print(f"naive: job + connection/msg: {naive:8.1f} msgs/s  ({args.naive_n} mails)", flush=True)
    finally:
        sink.stop()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"ratio vs raw {pipeline / raw:.2f}x (target >= 0.7), vs naive {pipeline / naive:.1f}x (target >= 10); "
          f"reset latency p50 {p50:.3f}s p99 {p99:.3f}s (target p99 <= 2s)")
    print(json.dumps({
        "sink": args.sink, "database": url.split(":", 1)[0].split("+")[0], "n": args.n,
        "worker_class": args.worker_class or "rq.Worker",
        "pipeline_msgs_per_s": round(pipeline, 1), "raw_persistent_msgs_per_s": round(raw, 1),
        "naive_pipeline_msgs_per_s": round(naive, 1), "ratio_vs_raw": round(pipeline / raw, 3),
        "ratio_vs_naive": round(pipeline / naive, 2), "reset_p50_s": round(p50, 3), "reset_p99_s": round(p99, 3),
        "resets": len(latencies), "smtp_sessions": sessions, "cpu_ms_per_msg": phases["cpu_ms_per_msg"],
    }))


if __name__ == "__main__":
    main()
