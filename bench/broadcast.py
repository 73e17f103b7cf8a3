"""A company broadcast at scale: `python bench/broadcast.py [--n 100000] [--variants plain,suppressed,dkim]`.

On PostgreSQL (--database-url, default BENCH_DATABASE_URL or the mailer_bench database, created if
missing; its schema is RESET), N active verified users of tenant acme are seeded in one INSERT …
SELECT (one precomputed password hash for all). The web runs under gunicorn (`gunicorn -w 2 -b …
wsgi:app`, the README's production command with --web-workers processes) and 2 bare `rq worker
--with-scheduler critical default bulk` deliver to Postfix's smtp-sink. All configuration comes from
bench_env, none from .env.

Per variant the admin logs in and POSTs /v1/broadcasts (built-in template `broadcast`, audience
role user) and the run measures:

- accept_s      — POST to the 202 (target <= 5 s);
- web_rss_mb    — peak RSS (VmHWM) of the gunicorn worker that served it, max over workers (<= 300 MB;
                  gunicorn is restarted per variant, so each figure is that broadcast's);
- msgs_per_s    — delivered copies / (last arrival at the sink - the 202) (over the first --measure
                  copies if given, to keep a run short), as a ratio to raw smtplib
                  sending a copy of the same mail on one persistent connection to the same sink (the
                  baseline, measured first in the same run);
- reset_p99_s   — a password-reset-like critical mail committed and enqueued every --reset-every
                  seconds during the delivery, latency measured at the sink (target p99 <= 2 s);
- cpu_ms_per_copy — CPU of the workers (with work horses and render children), the web, PostgreSQL's
                  backends and Redis from the 202 to the last measured arrival, in ms per mail (bench/cpu.py).

Variants: `plain`; `suppressed` — every 10th user bulk-inserted on the tenant's suppression list
(scope broadcast): they must not reach the sink, and the run checks the sink's count and the rows;
`dkim` — a verified sending domain for the sender with its key sealed as mailer.domains stores it,
so every copy is DKIM-signed. Redis --redis-url (BENCH_REDIS_URL, default db 4) is FLUSHED. The last line printed is
one JSON object.

`--fairness` measures tenants' turns on the bulk lane instead (mail/turns.py): a second tenant, beta, with
--b-n users (default 100) broadcasts once alone (the baseline), then again --b-after seconds after acme's
broadcast to --a-n users (default 100 000; a comma list runs each size on a fresh database) began. Per size:
b_start_s (B's 202 to its first copy at the sink; target <= 2 s), b_s (B's 202 to its last copy), B's copies/s
from its first copy to its last as a ratio to the baseline's (target: the same at every A size), and how many of
A's copies had arrived when B's last did. B's first broadcast alone starts on idle bare workers (a work horse
builds the app: b_cold_start_s); the baseline is its second, sent at once, which B's lingering loop takes, as
with A running a warm loop of A's takes B over.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import smtplib
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PG_URL,
    SENDER,
    bench_env,
    http,
    peak_rss_mb,
    percentile,
    start_gunicorn,
    start_workers,
    stop_processes,
    wait_for,
    wait_for_workers,
)
from bench.cpu import CpuMeter, per_message_ms  # noqa: E402
from bench.pipeline import _messages, _prepare_database  # noqa: E402
from bench.sinks import PostfixSink, free_port  # noqa: E402

ADMIN = {"tenant": "acme", "email": "admin@acme.test", "password": "bench password 1"}
BODY = "Our offices close on 24 December and open again on 2 January.\n\nHappy holidays from all of us."
BROADCAST = {"template": "broadcast", "data": {"subject": "December news", "body": BODY},
             "audience": {"roles": ["user"], "verified_only": True}}
SUPPRESS_EVERY = 10
VARIANTS = ("plain", "suppressed", "dkim")


# --- the database ----------------------------------------------------------------------------------

def seed_users(app: Any, n: int, slug: str = "acme", prefix: str = "user") -> uuid.UUID:
    """N verified users of the tenant in one statement: {prefix}{i}@example.com, created in order."""
    from sqlalchemy import select, text

    from mailer.extensions import db
    from mailer.models import Tenant
    from mailer.security.passwords import hash_password

    with app.app_context():
        tenant_id = db.session.scalars(select(Tenant.id).where(Tenant.slug == slug)).one()
        db.session.execute(text(
            "INSERT INTO users (id, tenant_id, email, name, password_hash, role, is_active, email_verified_at,"
            " token_version, created_at)"
            " SELECT gen_random_uuid(), :tenant, :prefix || i || '@example.com', 'User ' || i, :hash, 'user', true,"
            " now(), 1, now() + i * interval '1 microsecond' FROM generate_series(1, CAST(:n AS integer)) AS i"
        ), {"tenant": tenant_id, "prefix": prefix, "hash": hash_password("seeded password 1"), "n": n})
        db.session.commit()
        db.session.execute(text("ANALYZE users"))
        db.session.commit()
    return tenant_id


def suppress_every_tenth(app: Any, tenant_id: uuid.UUID, n: int) -> set[str]:
    from sqlalchemy import text

    from mailer.extensions import db

    with app.app_context():
        db.session.execute(text(
            "INSERT INTO suppressions (id, tenant_id, email, scope, reason, created_at)"
            " SELECT gen_random_uuid(), :tenant, 'user' || i || '@example.com', 'broadcast', 'manual', now()"
            " FROM generate_series(CAST(:every AS integer), CAST(:n AS integer), CAST(:every AS integer)) AS i"
        ), {"tenant": tenant_id, "n": n, "every": SUPPRESS_EVERY})
        db.session.execute(text("ANALYZE suppressions"))
        db.session.commit()
    return {f"user{i}@example.com" for i in range(SUPPRESS_EVERY, n + 1, SUPPRESS_EVERY)}


def clear_suppressions(app: Any) -> None:
    from sqlalchemy import text

    from mailer.extensions import db

    with app.app_context():
        db.session.execute(text("DELETE FROM suppressions"))
        db.session.commit()


def verify_sender_domain(app: Any, tenant_id: uuid.UUID) -> None:
    """A verified domain and key for the sender's domain, the key sealed as mailer.domains.service stores it."""
    from mailer.domains.keys import new_dkim_key
    from mailer.extensions import db
    from mailer.models import DkimKey, RecordStatus, SendingDomain
    from mailer.models.types import utcnow
    from mailer.security.sealed import seal_value

    key, key_id = new_dkim_key(), uuid.uuid4()
    with app.app_context():
        now = utcnow()
        # Checked now: the sweep's daily DNS re-check (domains/recheck.py), due at once after the run's Redis flush,
        # would find no record on this machine and set the domain back to pending: the copies would go unsigned.
        domain = SendingDomain(id=uuid.uuid4(), tenant_id=tenant_id, name=SENDER.split("@")[1],
                               status=RecordStatus.VERIFIED.value, created_at=now, verified_at=now, checked_at=now)
        sealed = seal_value(app.config["MAILER"], DkimKey.private_key_sealed, key_id, key.private_pem)
        domain.keys.append(DkimKey(id=key_id, tenant_id=tenant_id, selector=key.selector,
                                   public_key=key.public_key, private_key_sealed=sealed,
                                   status=RecordStatus.VERIFIED.value, created_at=now, verified_at=now))
        db.session.add(domain)
        db.session.commit()


def check_rows(app: Any, message_id: str, suppressed: set[str]) -> dict[str, int]:
    """Recipient counts by status, and how many suppressed addresses were marked sent (must be 0)."""
    from sqlalchemy import func, select

    from mailer.extensions import db
    from mailer.models import Recipient

    with app.app_context():
        rows = db.session.execute(select(Recipient.status, func.count()).where(
            Recipient.message_id == uuid.UUID(message_id)).group_by(Recipient.status)).all()
        counts = {status: count for status, count in rows}
        sent = set(db.session.scalars(select(Recipient.email).where(
            Recipient.message_id == uuid.UUID(message_id), Recipient.status == "sent")))
    counts["suppressed_but_sent"] = len(sent & suppressed)
    return counts


def cancel_rest(app: Any, message_id: str) -> None:
    """After a --measure run: the broadcast's undelivered rows out of the way, so the next variant sends its own."""
    from sqlalchemy import update
    from sqlalchemy.exc import OperationalError

    from mailer.extensions import db
    from mailer.models import Recipient

    # The killed workers' backends may still hold row locks for a moment: a deadlock here is retried.
    with app.app_context():
        for attempt in range(5):
            try:
                db.session.execute(update(Recipient).where(
                    Recipient.message_id == uuid.UUID(message_id),
                    Recipient.status.in_(("queued", "deferred", "sending"))
                ).values(status="failed", error_code="invalid_message", last_error="cancelled by the benchmark"))
                db.session.commit()
                return
            except OperationalError:
                db.session.rollback()
                if attempt == 4:
                    raise
                time.sleep(1.0)


# --- the baseline ----------------------------------------------------------------------------------

def sample_copy(app: Any, tenant_id: uuid.UUID) -> bytes:
    """One recipient's copy of the broadcast as Mailer builds it (unsubscribe headers, unsigned)."""
    from mailer.extensions import db
    from mailer.mail.personalize import Member, build_mail
    from mailer.mail.recipient_tokens import unsubscribe_headers
    from mailer.mail.templates import load_builtin
    from mailer.models import Tenant

    with app.app_context():
        config = app.config["MAILER"]
        tenant = db.session.get(Tenant, tenant_id)
        source = load_builtin("broadcast")
        assert source is not None
        rid = uuid.uuid4()
        return build_mail(config, tenant, SENDER, source, BROADCAST["data"], Member("user1@example.com", "User 1"),
                          f"<{rid.hex}@acme.test>", unsubscribe_headers(config, rid))


def run_raw(sink: PostfixSink, wire: bytes, n: int) -> float:
    start = sink.received
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for i in range(n):
            smtp.sendmail(SENDER, [f"raw{i}@example.com"], wire)
    wait_for(lambda: sink.received - start >= n, 60, "raw mails")
    return n / (time.perf_counter() - started)


# --- one broadcast ---------------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except FileNotFoundError:
        return []


def assert_signed(sink: PostfixSink) -> None:
    """The last copies the sink took carry a DKIM-Signature (a dkim run that signs nothing measures nothing)."""
    assert sink.dump_path is not None
    with open(sink.dump_path, "rb") as dump:
        dump.seek(max(0, os.path.getsize(sink.dump_path) - 256 * 1024))
        tail = dump.read()
    if b"\nDKIM-Signature: " not in tail:
        raise SystemExit("dkim: the copies reaching the sink are not signed")


def run_broadcast(sink: PostfixSink, app: Any, tenant_id: uuid.UUID, env: dict[str, str], args: Any,
                  expected: int, suppressed: set[str], label: str) -> dict[str, Any]:
    from redis import Redis

    from mailer.extensions import atomic, db
    from mailer.mail.outbox import enqueue, stage

    Redis.from_url(args.redis_url).flushdb()
    port = free_port()
    web = start_gunicorn(port, env, workers=args.web_workers)
    workers = start_workers(args.workers, args.redis_url, env)
    asked: dict[str, float] = {}
    meter = CpuMeter({"workers": [w.pid for w in workers], "web": [web.pid]}, args.database_url, args.redis_url)
    try:
        wait_for_workers(Redis.from_url(args.redis_url), args.workers)
        status, body = http("POST", port, "/v1/auth/login", ADMIN)
        assert status == 200, body
        token = body["access_token"]
        start = sink.received
        posted = time.time()
        status, body = http("POST", port, "/v1/broadcasts", BROADCAST, token)
        accepted = time.time()
        assert status == 202, (status, body)
        meter.start()
        rss = max(peak_rss_mb(pid) for pid in _children(web.pid))
        assert body["recipient_count"] == expected + len(suppressed), body
        target = min(expected, args.measure or expected)  # copies to wait for; all of them by default
        with app.app_context():
            next_reset = time.monotonic() + args.reset_every
            while sink.received - start < target + len(asked):
                if time.time() - accepted > args.timeout:
                    raise SystemExit(f"{label}: {sink.received - start} of {expected} delivered in {args.timeout}s")
                if time.monotonic() >= next_reset and sink.received - start < target * 0.9:
                    [reset] = _messages(tenant_id, len(asked), 1, "critical", f"reset-{label}-", "password_reset")
                    asked[f"reset-{label}-{len(asked)}@example.com"] = time.time()
                    with atomic():
                        enqueue(stage(reset))
                        db.session.add(reset)
                    db.session.expunge_all()
                    next_reset = time.monotonic() + args.reset_every
                time.sleep(0.005)
            last = time.time()
        spent = meter.stop()
        if label == "dkim":
            assert_signed(sink)
        if target == expected:
            time.sleep(1.0)  # anything more arriving now would be a copy too many
        extra = sink.received - start - expected - len(asked) if target == expected else None
    finally:
        stop_processes([*workers, web])
    arrivals = sink.reset_arrivals()
    resets = sorted(arrivals[a] - t for a, t in asked.items() if a in arrivals)
    rows = check_rows(app, body["id"], suppressed)
    if target < expected:
        cancel_rest(app, body["id"])
    return {"accept_s": round(accepted - posted, 3), "web_rss_mb": round(rss, 1),
            "msgs_per_s": round(target / (last - accepted), 1), "delivered": target, "extra_arrivals": extra,
            "end_to_end_s": round(last - posted, 1), "reset_p50_s": round(percentile(resets, 50), 3),
            "reset_p99_s": round(percentile(resets, 99), 3), "resets": len(resets), "rows": rows,
            "cpu_ms_per_copy": per_message_ms(spent, target + len(asked))}


# --- two tenants' turns on the bulk lane ---------------------------------------------------------------

BETA = {"tenant": "beta", "email": "admin@beta.test", "password": "bench password 1"}
B_PREFIX = "fairb"  # watched by the sink (bench/sinks.WATCHED): each copy's arrival time is noted


def add_beta(app: Any, b_n: int) -> None:
    result = app.test_cli_runner().invoke(args=["tenants", "create", "beta", "--name", "Beta", "--admin-email",
                                                BETA["email"], "--admin-password", BETA["password"],
                                                "--mail-from", "news@beta.test"])
    assert result.exit_code == 0, result.output
    seed_users(app, b_n, "beta", B_PREFIX)


def b_broadcast(sink: PostfixSink, port: int, token: str, b_n: int, timeout: float) -> tuple[float, float, float]:
    """Beta's broadcast: (its 202, its first copy's and its last copy's arrival at the sink), epoch seconds."""
    sink.arrivals.clear()
    status, body = http("POST", port, "/v1/broadcasts", BROADCAST, token)
    accepted = time.time()
    assert status == 202 and body["recipient_count"] == b_n, (status, body)
    wait_for(lambda: sum(a.startswith(B_PREFIX) for a in list(sink.arrivals)) >= b_n, timeout, "B's copies")
    times = [t for a, t in list(sink.arrivals.items()) if a.startswith(B_PREFIX)]
    return accepted, min(times), max(times)


def run_fairness(sink: PostfixSink, env: dict[str, str], args: Any, a_n: int) -> dict[str, Any]:
    """B alone, then B --b-after seconds into A's broadcast of ``a_n``, on a fresh database and Redis."""
    from redis import Redis

    app = _prepare_database(args.database_url, args.redis_url)
    seed_users(app, a_n)
    add_beta(app, args.b_n)
    Redis.from_url(args.redis_url).flushdb()
    port = free_port()
    web = start_gunicorn(port, env, workers=args.web_workers)
    workers = start_workers(args.workers, args.redis_url, env)
    try:
        wait_for_workers(Redis.from_url(args.redis_url), args.workers)
        tokens = {}
        for admin in (ADMIN, BETA):
            status, body = http("POST", port, "/v1/auth/login", admin)
            assert status == 200, body
            tokens[admin["tenant"]] = body["access_token"]
        cold = b_broadcast(sink, port, tokens["beta"], args.b_n, 120)
        alone = b_broadcast(sink, port, tokens["beta"], args.b_n, 120)  # B's loop, still lingering, takes it
        time.sleep(3.0)  # B's loop lingers, then leaves
        start = sink.received
        status, body = http("POST", port, "/v1/broadcasts", BROADCAST, tokens["acme"])
        assert status == 202, (status, body)
        time.sleep(args.b_after)
        a_before_b = sink.received - start
        shared = b_broadcast(sink, port, tokens["beta"], args.b_n, args.timeout)
        a_during = sink.received - start - args.b_n - a_before_b
    finally:
        stop_processes([*workers, web])
    cancel_rest(app, body["id"])
    rate_alone, rate_shared = (args.b_n / max(last - first, 1e-3) for _, first, last in (alone, shared))
    return {"a_n": a_n, "b_n": args.b_n, "b_cold_start_s": round(cold[1] - cold[0], 3),
            "b_alone_start_s": round(alone[1] - alone[0], 3),
            "b_alone_s": round(alone[2] - alone[0], 3), "b_start_s": round(shared[1] - shared[0], 3),
            "b_s": round(shared[2] - shared[0], 3), "b_msgs_per_s": round(rate_shared, 1),
            "b_alone_msgs_per_s": round(rate_alone, 1), "b_rate_ratio": round(rate_shared / rate_alone, 3),
            "a_copies_before_b": a_before_b, "a_copies_while_b": a_during}


def fairness(args: Any) -> None:
    sink = PostfixSink(free_port())
    sizes = [int(n) for n in args.a_n.split(",") if n]
    env = bench_env(args.database_url, args.redis_url, sink.port, RATELIMIT_BROADCASTS="100/hour",
                    TENANT_DAILY_QUOTA=10 * max(sizes) + 1000)
    figures: dict[str, Any] = {"scenario": "fairness", "web_workers": args.web_workers, "rq_workers": args.workers,
                               "runs": []}
    try:
        for a_n in sizes:
            result = run_fairness(sink, env, args, a_n)
            figures["runs"].append(result)
            print(f"A {a_n:6}: B's {args.b_n} copies start {result['b_start_s']:.2f}s (target <= 2), done in "
                  f"{result['b_s']:.2f}s = {result['b_rate_ratio']:.2f}x B alone ({result['b_alone_s']:.2f}s); "
                  f"A's copies before B {result['a_copies_before_b']}, while B {result['a_copies_while_b']}",
                  flush=True)
    finally:
        sink.stop()
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="seeded users = broadcast recipients")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: plain,suppressed,dkim")
    parser.add_argument("--raw-n", type=int, default=20_000, help="mails of the raw smtplib baseline")
    parser.add_argument("--database-url", default=PG_URL)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4"))
    parser.add_argument("--workers", type=int, default=2, help="bare rq workers")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn -w")
    parser.add_argument("--reset-every", type=float, default=0.25, help="seconds between reset mails")
    parser.add_argument("--measure", type=int, default=8000,
                        help="stop after this many copies (0: all, which the exact sink-count check needs)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a variant may take to deliver")
    parser.add_argument("--fairness", action="store_true", help="two tenants' broadcasts (see above)")
    parser.add_argument("--a-n", default="100000", help="--fairness: acme's recipients; a comma list runs each")
    parser.add_argument("--b-n", type=int, default=100, help="--fairness: beta's recipients")
    parser.add_argument("--b-after", type=float, default=5.0, help="--fairness: seconds into A's broadcast")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so the finally blocks stop our processes
    if args.fairness:
        fairness(args)
        return
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")

    sink = PostfixSink(free_port())
    env = bench_env(args.database_url, args.redis_url, sink.port, RATELIMIT_BROADCASTS="100/hour",
                    TENANT_DAILY_QUOTA=10 * args.n + 1000)
    figures: dict[str, Any] = {"n": args.n, "web_workers": args.web_workers, "rq_workers": args.workers}
    try:
        app = _prepare_database(args.database_url, args.redis_url)
        seeded = time.perf_counter()
        tenant_id = seed_users(app, args.n)
        print(f"seeded {args.n} users in {time.perf_counter() - seeded:.1f}s", flush=True)
        raw = run_raw(sink, sample_copy(app, tenant_id), args.raw_n)
        figures["raw_persistent_msgs_per_s"] = round(raw, 1)
        print(f"raw smtplib, one connection: {raw:8.1f} msgs/s ({args.raw_n} copies)", flush=True)
        for label in variants:
            suppressed: set[str] = set()
            if label == "suppressed":
                suppressed = suppress_every_tenth(app, tenant_id, args.n)
            if label == "dkim":
                verify_sender_domain(app, tenant_id)
            result = run_broadcast(sink, app, tenant_id, env, args, args.n - len(suppressed), suppressed, label)
            result["ratio_vs_raw"] = round(result["msgs_per_s"] / raw, 3)
            if suppressed:
                clear_suppressions(app)
            figures[label] = result
            print(f"{label:10} 202 in {result['accept_s']:.2f}s (target <= 5), web peak RSS "
                  f"{result['web_rss_mb']:.0f} MB (<= 300), {result['msgs_per_s']:.0f} msgs/s = "
                  f"{result['ratio_vs_raw']:.2f}x raw, reset p99 {result['reset_p99_s']:.3f}s "
                  f"({result['resets']} resets), extra arrivals {result['extra_arrivals']}, rows {result['rows']}",
                  flush=True)
    finally:
        sink.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
