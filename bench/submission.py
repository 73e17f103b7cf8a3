"""SMTP submission (API.md §13): messages per second into Mailer's submission server vs Postfix's smtpd.

    .venv/bin/python bench/submission.py [--n 2000] [--connections 8] [--database-url URL]

The same stream — N messages of ~2 KB, one recipient each, over K persistent connections that each did
EHLO, STARTTLS and EHLO before the clock starts — goes to:

1. postfix  — a private Postfix instance (``postfix -c DIR``: its own config, queue and data directories
              under a temp folder, 127.0.0.1 on a free port, never the system instance) whose smtpd takes each
              message into its durable queue (cleanup writes and fsyncs the queue file before the 250) and holds
              it there (``check_client_access static:HOLD``: nothing is delivered while we measure). Postfix has
              no SASL server here, so its clients skip AUTH (one AUTH per connection, before the clock, for us).
2. mailer   — ``flask --app wsgi submission-smtp`` (a subprocess, bench_env, outside debug, TLS from a pair
              made here), AUTH PLAIN with an API key; each 250 comes after the message and its recipient are
              committed (quota, suppressions, audit, outbox) and its job is enqueued (no worker runs).

Clients are separate processes (one per connection), so the client's own Python is not the bottleneck of
either. The figures: msgs/s for both and mailer/postfix. The database is a temp SQLite file unless
--database-url is given (its schema is RESET); the Redis database BENCH_REDIS_URL (default
redis://127.0.0.1:6379/9) is FLUSHED. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import ROOT, SENDER, bench_env, cpu_seconds, reset_schema, stop_processes, wait_for
from bench.private_postfix import PrivatePostfix, available

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _message(index: int) -> bytes:
    body = ("Your order has shipped and is on its way to you; thank you for shopping with us.\r\n") * 18
    return (f"From: Shop <{SENDER}>\r\nTo: customer{index}@example.com\r\nSubject: Order {index} shipped\r\n"
            f"Message-ID: <bench-{index}@acme.test>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


def _client(port: int, cafile: str, key: str | None, indexes: list[int], ready: Any, go: Any, out: Any) -> None:
    """One persistent connection: EHLO, STARTTLS, EHLO (and AUTH) before ``go``; then its share of the stream."""
    context = ssl.create_default_context(cafile=cafile)
    client = smtplib.SMTP("127.0.0.1", port, timeout=120)
    client.ehlo("bench.client.test")
    client.starttls(context=context)
    client.ehlo("bench.client.test")
    if key:
        client.login("bench", key)
    ready.release()
    go.wait()
    refused, first_error = 0, ""
    for index in indexes:
        try:
            client.sendmail(SENDER, [f"customer{index}@example.com"], _message(index))
        except smtplib.SMTPException as exc:
            refused += 1
            first_error = first_error or str(exc)
    out.put((time.perf_counter(), refused, first_error))
    client.quit()


def _stream(port: int, cafile: str, key: str | None, n: int, connections: int) -> dict[str, Any]:
    ready, go, out = mp.Semaphore(0), mp.Event(), mp.Queue()
    shares = [list(range(i, n, connections)) for i in range(connections)]
    procs = [mp.Process(target=_client, args=(port, cafile, key, share, ready, go, out)) for share in shares]
    for proc in procs:
        proc.start()
    for _ in procs:
        if not ready.acquire(timeout=60):
            raise SystemExit("a client could not connect")
    start = time.perf_counter()
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    seconds = max(end for end, _, _ in results) - start
    refused = sum(r for _, r, _ in results)
    figures: dict[str, Any] = {"seconds": round(seconds, 3), "msgs_per_s": round((n - refused) / seconds, 1),
                               "refused": refused}
    if refused:
        figures["first_error"] = next(e for _, _, e in results if e)[:300]
    return figures


def _tls_pair() -> tuple[str, str]:
    from mailer.submission.tls import self_signed_pair

    return self_signed_pair("bench.mailer.test")


def _run_postfix(args: Any, cert: str, key: str) -> dict[str, Any]:
    port = _free_port()
    settings = {
        "smtpd_client_restrictions": "check_client_access static:HOLD",
        "smtpd_tls_security_level": "may", "smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
        "message_size_limit": str(10 * 1024 * 1024),
    }
    with PrivatePostfix(port, settings) as postfix:
        figures = _stream(port, cert, None, args.n, args.connections)
        figures["queued"] = postfix.queued_files()
    return figures


def _prepare_mailer(env: dict[str, str]) -> str:
    """Schema, a tenant whose sender is SENDER, and an API key (printed by a one-off process)."""
    flask = str(Path(sys.executable).with_name("flask"))
    subprocess.run([flask, "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([flask, "--app", "wsgi", "tenants", "create", "acme", "--name", "Acme", "--admin-email",
                    "admin@acme.test", "--admin-password", "bench password 1", "--mail-from", SENDER],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    code = ("from mailer import create_app\nfrom mailer.extensions import db\nfrom mailer.models import Tenant\n"
            "from mailer.security.api_keys import new_api_key\napp = create_app()\nwith app.app_context():\n"
            "    tenant = db.session.query(Tenant).one()\n    _, secret = new_api_key(tenant.id, 'bench', None)\n"
            "    db.session.commit()\n    print(secret)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def _run_mailer(args: Any, cert: str, key: str, folder: str) -> dict[str, Any]:
    from redis import Redis

    url = args.database_url or f"sqlite:///{folder}/mailer.db"
    reset_schema(url)
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    port = _free_port()
    # The defaults but for the per-key rate (50/minute would refuse the stream) and a quota the stream fits in.
    env = bench_env(url, REDIS_URL, _free_port(), SUBMISSION_TLS_CERT=cert, SUBMISSION_TLS_KEY=key,
                    SUBMISSION_SMTPS_PORT="", RATELIMIT_MESSAGES="1000000/minute",
                    TENANT_DAILY_QUOTA=max(10000, args.n),
                    SUBMISSION_MAX_SESSIONS=max(100, args.connections), SUBMISSION_MAX_PER_CLIENT=args.connections,
                    **({"MAIL_FROM": "no-reply@operator.test"} if args.own_sender_domain else {}))
    secret = _prepare_mailer(env)
    flask = str(Path(sys.executable).with_name("flask"))
    with open(os.path.join(folder, "submission.log"), "wb") as log:
        server = subprocess.Popen([flask, "--app", "wsgi", "submission-smtp", "--port", str(port)], cwd=ROOT,
                                  env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _listening(port) or server.poll() is not None, 60, "submission-smtp")
        cpu = cpu_seconds(server.pid)
        figures = _stream(port, cert, secret, args.n, args.connections)
        figures["server_cpu_ms_per_msg"] = round((cpu_seconds(server.pid) - cpu) * 1000 / args.n, 2)
    finally:
        stop_processes([server])
    figures["stored"] = _count_messages(url)
    redis.flushdb()
    return figures


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _count_messages(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
    engine.dispose()
    return int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="messages in the stream")
    parser.add_argument("--connections", type=int, default=8, help="persistent connections (one client process each)")
    parser.add_argument("--database-url", default="", help="default: a temp SQLite file")
    parser.add_argument("--own-sender-domain", action="store_true",
                        help="the operator's MAIL_FROM on another domain: the sender is on the tenant's own, so §10's "
                             "rule reads the tenant's domains (by default it is the operator's, which needs no read)")
    args = parser.parse_args()
    if not available():
        raise SystemExit("bench/submission.py needs Debian's postfix package and root (a private instance)")
    folder = tempfile.mkdtemp(prefix="mailer-bench-submission-")
    cert, key = _tls_pair()
    postfix = _run_postfix(args, cert, key)
    print(f"postfix smtpd → queue: {postfix['msgs_per_s']} msgs/s ({postfix['seconds']} s, {postfix['queued']} queued)")
    mailer = _run_mailer(args, cert, key, folder)
    print(f"mailer submission → database: {mailer['msgs_per_s']} msgs/s ({mailer['seconds']} s, "
          f"{mailer['stored']} stored)")
    ratio = round(mailer["msgs_per_s"] / postfix["msgs_per_s"], 2) if postfix["msgs_per_s"] else None
    print(f"mailer / postfix: {ratio}x (target >= 0.5x)")
    print(json.dumps({"benchmark": "submission", "n": args.n, "connections": args.connections,
                      "own_sender_domain": args.own_sender_domain,
                      "database": "postgresql" if args.database_url.startswith("postgresql") else "sqlite",
                      "postfix": postfix, "mailer": mailer, "ratio": ratio}))


if __name__ == "__main__":
    main()
