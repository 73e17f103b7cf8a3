"""Scale-out check: `python bench/scaleout.py [--n 20000] [--workers 1,2,4] [--database-url URL]`.

A backlog of N one-recipient messages on PostgreSQL (committed and enqueued before any worker
runs; a fresh schema and backlog for each worker count) is drained by 1, 2 and 4 bare
``rq worker --with-scheduler critical default bulk`` processes into Postfix's ``smtp-sink``,
which dumps every transaction. Printed: the curve (msgs/s from the workers' start to the last
arrival, per worker count; ratio to 1 worker and to raw smtplib on one persistent connection
to the same sink, measured in the same run).

Then the safety check, per run: every recipient arrived, every recipient recorded ``sent``
arrived, and no recipient arrived twice unless the database records an ``ambiguous`` attempt
for it. Any violation prints the offenders and exits non-zero. The last line is one JSON object.

The database (default BENCH_DATABASE_URL or postgresql+psycopg://postgres@127.0.0.1:5432/mailer_bench) has its schema
reset; Redis --redis-url (default BENCH_REDIS_URL or db 2) is FLUSHED.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import PG_URL, bench_env, start_workers, stop_processes, wait_for, wait_for_workers  # noqa: E402
from bench.pipeline import _messages, _prepare_database, run_raw  # noqa: E402
from bench.sinks import PostfixSink, free_port  # noqa: E402

DEFAULT_DB = PG_URL


def _backlog(app: Any, n: int, prefix: str) -> None:
    """N committed messages, their delivery jobs enqueued (nobody is working yet)."""
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.mail.outbox import requeue
    from mailer.models import Tenant

    with app.app_context():
        tenant_id = db.session.scalars(select(Tenant.id)).one()
        for offset in range(0, n, 500):
            batch = _messages(tenant_id, offset, min(500, n - offset), "default", prefix, "custom")
            ids = [m.recipients[0].id for m in batch]
            db.session.add_all(batch)
            db.session.commit()
            requeue(ids, "default")
            db.session.expunge_all()


def _recorded(app: Any, prefix: str) -> tuple[set[str], set[str], Counter[str]]:
    """(recipients recorded sent, recipients with an ambiguous attempt, status counts) of this run."""
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.models import DeliveryEvent, Recipient

    with app.app_context():
        rows = db.session.execute(select(Recipient.email, Recipient.status)
                                  .where(Recipient.email.startswith(prefix))).all()
        ambiguous = set(db.session.scalars(
            select(Recipient.email).join(DeliveryEvent, DeliveryEvent.recipient_id == Recipient.id)
            .where(DeliveryEvent.outcome == "ambiguous", Recipient.email.startswith(prefix))
        ))
        db.session.rollback()
    return {email for email, status in rows if status == "sent"}, ambiguous, Counter(s for _, s in rows)


def run_one(sink: PostfixSink, workers: int, n: int, url: str, redis_url: str, env: dict[str, str],
            timeout: float) -> dict[str, Any]:
    from redis import Redis

    redis = Redis.from_url(redis_url)
    redis.flushdb()
    app = _prepare_database(url, redis_url, env)
    prefix = f"w{workers}-{uuid.uuid4().hex[:6]}-"
    _backlog(app, n, prefix)
    start_count = sink.received
    procs = start_workers(workers, redis_url, env)
    try:
        started = time.perf_counter()
        wait_for_workers(redis, workers)
        wait_for(lambda: sink.received - start_count >= n, timeout, f"{n} mails with {workers} workers")
        elapsed = time.perf_counter() - started
        time.sleep(1.0)  # a second copy, if any, has its chance to arrive before we count
    finally:
        stop_processes(procs)
    wait_for(lambda: sum(c for r, c in sink.recipient_counts().items() if r.startswith(prefix)) >= n, 10,
             "smtp-sink's dump")
    arrived = Counter({r: c for r, c in sink.recipient_counts().items() if r.startswith(prefix)})
    sent, ambiguous, statuses = _recorded(app, prefix)
    expected = {f"{prefix}{i}@example.com" for i in range(n)}
    twice = {r for r, c in arrived.items() if c > 1}
    return {
        "workers": workers, "msgs_per_s": n / elapsed, "seconds": elapsed,
        "arrived_twice": len(twice), "ambiguous_recorded": len(ambiguous),
        "twice_not_ambiguous": sorted(twice - ambiguous), "never_arrived": sorted(expected - set(arrived)),
        "sent_not_arrived": sorted(sent - set(arrived)), "statuses": dict(statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="recipients in each backlog")
    parser.add_argument("--raw-n", type=int, default=5000, help="mails through raw smtplib (the baseline)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per drain")
    args = parser.parse_args()

    port = free_port()
    env = bench_env(args.database_url, args.redis_url, port)
    sink = PostfixSink(port, dump=True)
    runs = []
    try:
        raw = run_raw(sink, args.raw_n)
        print(f"raw smtplib, one connection: {raw:8.1f} msgs/s ({args.raw_n} mails)", flush=True)
        for workers in (int(w) for w in args.workers.split(",")):
            run = run_one(sink, workers, args.n, args.database_url, args.redis_url, env, args.timeout)
            runs.append(run)
            print(f"{workers} worker(s): {run['msgs_per_s']:8.1f} msgs/s ({args.n} in {run['seconds']:.1f}s, "
                  f"{run['msgs_per_s'] / runs[0]['msgs_per_s']:.2f}x 1 worker, {run['msgs_per_s'] / raw:.2f}x raw); "
                  f"arrived twice {run['arrived_twice']} (ambiguous recorded {run['ambiguous_recorded']}), "
                  f"statuses {run['statuses']}", flush=True)
    finally:
        sink.stop()
    failures = [(r["workers"], kind, r[kind][:10]) for r in runs
                for kind in ("twice_not_ambiguous", "never_arrived", "sent_not_arrived") if r[kind]]
    for workers, kind, sample in failures:
        print(f"FAILED with {workers} worker(s): {kind}: {sample}", file=sys.stderr)
    print(json.dumps({
        "n": args.n, "raw_persistent_msgs_per_s": round(raw, 1),
        "curve": [{"workers": r["workers"], "msgs_per_s": round(r["msgs_per_s"], 1),
                   "ratio_vs_1_worker": round(r["msgs_per_s"] / runs[0]["msgs_per_s"], 2),
                   "ratio_vs_raw": round(r["msgs_per_s"] / raw, 3), "arrived_twice": r["arrived_twice"],
                   "ambiguous_recorded": r["ambiguous_recorded"], "twice_not_ambiguous": len(r["twice_not_ambiguous"]),
                   "never_arrived": len(r["never_arrived"]), "sent_not_arrived": len(r["sent_not_arrived"])}
                  for r in runs],
        "ok": not failures,
    }))
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
