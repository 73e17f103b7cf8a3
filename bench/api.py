"""API ingest benchmark: `python bench/api.py [--n 2000] [--clients 8] [--database-url URL] [--deliver]`.

POST /v1/messages under the README's production command (``gunicorn -w 4 -b 127.0.0.1:PORT wsgi:app``;
4 sync workers on this 2-core machine, as the README says "a few per core": a worker waiting on the
database or Redis leaves the core to another) with --clients concurrent client PROCESSES on loopback
(each one HTTP connection at a time, as a sync gunicorn closes it after every answer), each request a
small one-recipient message (``{"to": [...], "subject", "text"}``, ~300 bytes) authenticated with a
tenant API key (role ``service``, what an integration uses; ``--auth jwt`` for a user's access token).
Measured against a bare Flask endpoint (bench/bare_app.py) that parses the same JSON, under the same
gunicorn command, in the same run: requests/s, p50 and p99 latency, the web processes' CPU per request
(gunicorn's master and workers, from /proc), and the ratio. ``--worker-class gthread --threads N`` runs
both servers with gunicorn's threaded workers instead of the sync ones.

Rate limiting stays enabled (flask-limiter on Redis, RATELIMIT_MESSAGES raised so it refuses nothing)
and the tenant's daily quota is counted (raised, not turned off). No RQ workers run during the
headline: it is ingest alone (jobs wait in Redis). ``--deliver`` adds a third figure: the same POSTs
while 2 bare ``rq worker``s deliver them to Postfix's smtp-sink.

``--phases`` profiles N requests in-process (Flask's test client, cProfile) and prints the CPU of each
step of a request (auth, rate limit, validation, MIME build, quota, insert, audit, commit, enqueue, log),
and the SQL statements (COMMIT included) and Redis round trips one request makes.

The database is a temp SQLite file unless --database-url is given (its schema is reset!). Redis
--redis-url (BENCH_REDIS_URL, default db 6) is FLUSHED. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
PASSWORD = "bench password 1"  # the admin bench/pipeline.py's _prepare_database creates
TEXT = "Hello, your order has shipped and will arrive on Thursday.\n" * 4
SETTINGS: dict[str, Any] = {"RATELIMIT_ENABLED": True, "RATELIMIT_MESSAGES": "10000000/minute",
                            "TENANT_DAILY_QUOTA": 100_000_000, "USER_DAILY_QUOTA": 100_000_000}


def body_for(client: int, index: int, tag: str) -> dict[str, Any]:
    return {"to": [f"api{tag}-{client}-{index}@example.com"], "subject": f"Order {index} has shipped",
            "text": TEXT}


# --- the clients, one process each ---------------------------------------------------------------

def _client(port: int, token: str, client: int, count: int, tag: str, start: Any, results: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    bodies = [json.dumps(body_for(client, i, tag)) for i in range(count)]
    latencies, failures = [], 0
    start.wait()
    for body in bodies:
        began = time.perf_counter()
        conn.request("POST", "/v1/messages", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - began)
        failures += response.status != 202
        if response.getheader("Connection", "").lower() == "close":
            conn.close()  # reopened by the next request
    results.put((latencies, failures))


def drive(port: int, token: str, n: int, clients: int, tag: str, server: int) -> dict[str, Any]:
    """N POSTs by ``clients`` processes; requests/s over the whole run, latency percentiles in ms, and the CPU
    per request of the ``server`` process and its children (ms)."""
    from common import percentile
    from cpu import tree_cpu

    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    share = [n // clients + (i < n % clients) for i in range(clients)]
    procs = [ctx.Process(target=_client, args=(port, token, i, share[i], tag, start, results))
             for i in range(clients)]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # every client has started and built its bodies
    cpu = tree_cpu([server])
    began = time.perf_counter()
    start.set()
    latencies: list[float] = []
    failures = 0
    for _ in procs:
        got, failed = results.get(timeout=600)
        latencies += got
        failures += failed
    elapsed = time.perf_counter() - began
    cpu = tree_cpu([server]) - cpu
    for proc in procs:
        proc.join()
    if failures:
        raise SystemExit(f"{failures} of {n} POSTs were not answered 202 ({tag})")
    return {"requests_per_s": n / elapsed, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "web_cpu_ms": cpu * 1000 / n}


# --- the two servers -----------------------------------------------------------------------------

def mailer_token(port: int, auth: str) -> str:
    from common import http

    status, body = http("POST", port, "/v1/auth/login", {"tenant": "acme", "email": "admin@acme.test",
                                                         "password": PASSWORD})
    assert status == 200, body
    if auth == "jwt":
        return body["access_token"]
    status, key = http("POST", port, "/v1/api-keys", {"name": "bench"}, body["access_token"])
    assert status == 201, key
    return key["key"]


def measure(app: str, port: int, env: dict[str, str], web: tuple[str, ...], token: str | None, n: int, clients: int,
            tag: str, log: Any, auth: str = "key") -> tuple[dict[str, Any], str]:
    """``web``: gunicorn's worker options (-w N and the rest)."""
    from common import start_gunicorn, stop_processes

    workers = int(web[1])
    extra = (*web[2:], *(("--chdir", str(ROOT / "bench")) if app.startswith("bare_app") else ()))
    server = start_gunicorn(port, env, app=app, workers=workers, extra=extra, stderr=log)
    try:
        token = token or mailer_token(port, auth)
        # every worker warm (imports, pools)
        drive(port, token, min(50 * workers, n), clients, f"{tag}warm", server.pid)
        return drive(port, token, n, clients, tag, server.pid), token
    finally:
        stop_processes([server])


def gunicorn_options(args: Any) -> tuple[str, ...]:
    threaded = ("--worker-class", args.worker_class, "--threads", str(args.threads))
    return ("-w", str(args.web_workers), *(threaded if args.worker_class != "sync" else ()))


def prepare(url: str, redis_url: str) -> None:
    from pipeline import _prepare_database
    from redis import Redis

    Redis.from_url(redis_url).flushdb()
    with contextlib.redirect_stdout(sys.stderr):
        _prepare_database(url, redis_url)


# --- where a request's time goes (in-process) ---------------------------------------------------

PHASES = (  # (label, module path suffix, function): cumulative time, nested phases counted in their parent too
    ("whole request (WSGI)", "flask/app.py", "wsgi_app"),
    ("auth (bearer → principal)", "mailer/security/principal.py", "authenticate"),
    ("rate limit check", "flask_limiter/extension.py", "_check_request_limit"),
    ("rate limit headers", "flask_limiter/extension.py", "__inject_headers"),
    ("JSON parse + pydantic", "mailer/http/json.py", "parse_body"),
    ("envelope checks (addresses)", "mailer/notifications/service.py", "check_envelope"),
    ("MIME build + DKIM lookup", "mailer/mail/compose.py", "compose"),
    ("  DKIM signer lookup", "mailer/domains/signing.py", "dkim_sign"),
    ("quota (lock + count)", "mailer/mail/quota.py", "reserve_recipients"),
    ("stage (insert, quota, audit)", "mailer/notifications/service.py", "stage_message"),
    ("  tenant row lock + suppression screen", "mailer/notifications/rows.py", "locked_and_screened"),
    ("  insert + tenant row UPDATE (one statement)", "mailer/notifications/rows.py", "insert_with_tenant_row"),
    ("audit event", "mailer/audit.py", "record_audit"),
    ("  audit event (folded)", "mailer/audit.py", "chained_rows"),
    ("  quota (folded)", "mailer/mail/quota.py", "counted"),
    ("outbox stage (job ids)", "mailer/mail/outbox.py", "stage"),
    ("commit", "mailer/extensions.py", "atomic"),
    ("enqueue (Redis)", "mailer/mail/outbox.py", "enqueue"),
    ("202 body", "mailer/notifications/serializers.py", "accepted_json"),
    ("request log line", "mailer/logs.py", "_log_request"),
)


@contextlib.contextmanager
def round_trips(engine: Any) -> Iterator[dict[str, int]]:
    """Counts the SQL statements (COMMIT included; not the pool's pre-ping) and Redis round trips (a pipeline
    is one) made inside the block."""
    from redis.connection import AbstractConnection
    from sqlalchemy import event

    counts = {"sql_statements": 0, "redis_round_trips": 0}

    def statement(*_: Any) -> None:
        counts["sql_statements"] += 1

    send = AbstractConnection.send_packed_command

    def counted_send(self: Any, command: Any, check_health: bool = True) -> None:
        counts["redis_round_trips"] += 1
        send(self, command, check_health)

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", statement)
    AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", statement)


def phases(url: str, redis_url: str, n: int, auth: str) -> dict[str, float]:
    """ms per request for each phase: cProfile's (wall-clock) shares scaled to an unprofiled run's time per
    request, so a phase includes its waits on the database and Redis (which the process's CPU would not)."""
    import cProfile
    import pstats

    from common import bench_env

    os.environ.update(bench_env(url, redis_url, 2525, **SETTINGS))
    from mailer import create_app
    from mailer.extensions import db

    app = create_app()
    client = app.test_client()
    login = client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test", "password": PASSWORD})
    token = login.get_json()["access_token"]
    if auth == "key":
        token = client.post("/v1/api-keys", json={"name": "phases"},
                            headers={"Authorization": f"Bearer {token}"}).get_json()["key"]
    headers = {"Authorization": f"Bearer {token}"}

    def post(count: int, tag: str) -> None:
        for i in range(count):
            response = client.post("/v1/messages", json=body_for(0, i, tag), headers=headers)
            assert response.status_code == 202, response.get_json()

    post(50, "phasewarm")
    with app.app_context():
        engine = db.engine
    with round_trips(engine) as counts:  # outside the app context: each request pushes its own (and its own g)
        post(10, "phasecount")
    cpu, wall = time.process_time(), time.perf_counter()
    post(n, "phaseplain")
    cpu_ms, wall_ms = (time.process_time() - cpu) * 1000 / n, (time.perf_counter() - wall) * 1000 / n
    profile = cProfile.Profile()
    profile.enable()
    post(n, "phaseprof")
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for (path, _, name), (_, _, _, cumulative, _) in stats.items():
        for label, suffix, function in PHASES:
            if name == function and path.endswith(suffix):
                found[label] = found.get(label, 0.0) + cumulative
    whole = found.get(PHASES[0][0]) or 1.0
    return {"wall_ms_per_request": wall_ms, "cpu_ms_per_request": cpu_ms,
            **{name: count / 10 for name, count in counts.items()},
            **{label: found.get(label, 0.0) / whole * wall_ms for label, _, _ in PHASES[1:]}}


# --- main ----------------------------------------------------------------------------------------

def run_deliver(url: str, redis_url: str, env: dict[str, str], args: Any, log: Any, token: str) -> dict[str, Any]:
    from common import start_workers, stop_processes, wait_for, wait_for_workers
    from redis import Redis
    from sinks import free_port, open_sink

    sink = open_sink("smtp-sink", free_port())
    env = dict(env, SMTP_PORT=str(sink.port))
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    before = sink.received
    workers = start_workers(2, redis_url, env)
    try:
        wait_for_workers(redis, 2)
        figures, _ = measure("wsgi:app", free_port(), env, gunicorn_options(args), token, args.n, args.clients,
                             "deliver", log)
        wait_for(lambda: sink.received - before >= args.n + min(50 * args.web_workers, args.n), 300, "delivery")
    finally:
        stop_processes(workers)
        sink.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="POSTs per endpoint and round")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn -w (the README's production command)")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync", help="gunicorn --worker-class")
    parser.add_argument("--threads", type=int, default=2, help="gunicorn --threads (with --worker-class gthread)")
    parser.add_argument("--rounds", type=int, default=2, help="bare and Mailer alternately; the best round counts")
    parser.add_argument("--auth", choices=("key", "jwt"), default="key", help="API key (service) or user JWT")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6"))
    parser.add_argument("--deliver", action="store_true", help="also: the POSTs while 2 bare workers deliver")
    parser.add_argument("--phases", type=int, default=0, metavar="N", help="only: profile N requests in-process")
    args = parser.parse_args()
    from common import bench_env
    from sinks import free_port

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        database = "postgresql" if url.startswith("postgresql") else "sqlite"
        prepare(url, args.redis_url)
        if args.phases:
            found = phases(url, args.redis_url, args.phases, args.auth)
            for label, value in found.items():
                unit = "" if label in ("sql_statements", "redis_round_trips") else " ms"
                print(f"{label:34} {value:6.2f}{unit}", flush=True)
            print(json.dumps({"database": database, "auth": args.auth, "requests": args.phases,
                              **{k: round(v, 3) for k, v in found.items()}}))
            return
        env = bench_env(url, args.redis_url, free_port(), **SETTINGS)
        bare_runs: list[dict[str, Any]] = []
        mailer_runs: list[dict[str, Any]] = []
        token = None
        with open(os.path.join(tmp, "web.log"), "w") as log:
            for round_no in range(args.rounds):
                bare, _ = measure("bare_app:app", free_port(), env, gunicorn_options(args), "unused", args.n,
                                  args.clients, f"b{round_no}", log)
                mailer, token = measure("wsgi:app", free_port(), env, gunicorn_options(args), token, args.n,
                                        args.clients, f"m{round_no}", log, args.auth)
                bare_runs.append(bare)
                mailer_runs.append(mailer)
                print(f"round {round_no + 1}: bare {bare['requests_per_s']:7.1f} req/s (p50 {bare['p50_ms']:.1f} ms, "
                      f"p99 {bare['p99_ms']:.1f} ms, web CPU {bare['web_cpu_ms']:.2f} ms); "
                      f"mailer {mailer['requests_per_s']:7.1f} req/s (p50 {mailer['p50_ms']:.1f} ms, "
                      f"p99 {mailer['p99_ms']:.1f} ms, web CPU {mailer['web_cpu_ms']:.2f} ms): "
                      f"{mailer['requests_per_s'] / bare['requests_per_s']:.2f}x", flush=True)
            deliver = run_deliver(url, args.redis_url, env, args, log, token) if args.deliver else None
    best_bare = max(bare_runs, key=lambda r: r["requests_per_s"])
    best = max(mailer_runs, key=lambda r: r["requests_per_s"])
    result: dict[str, Any] = {
        "database": database, "auth": args.auth, "n": args.n, "clients": args.clients,
        "web_workers": args.web_workers, "worker_class": args.worker_class,
        "threads": args.threads if args.worker_class != "sync" else 1, "rounds": args.rounds,
        "bare": {k: round(v, 1) for k, v in best_bare.items()}, "mailer": {k: round(v, 1) for k, v in best.items()},
        "ratio": round(best["requests_per_s"] / best_bare["requests_per_s"], 3),
        "ratios": [round(m["requests_per_s"] / b["requests_per_s"], 3)
                   for b, m in zip(bare_runs, mailer_runs, strict=True)],
    }
    if deliver is not None:
        print(f"with 2 bare workers delivering to smtp-sink: {deliver['requests_per_s']:.1f} req/s "
              f"(p50 {deliver['p50_ms']:.1f} ms, p99 {deliver['p99_ms']:.1f} ms)", flush=True)
        result["delivering"] = {k: round(v, 1) for k, v in deliver.items()}
        result["delivering_ratio"] = round(deliver["requests_per_s"] / best_bare["requests_per_s"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
