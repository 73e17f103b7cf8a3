"""Suppression lookup cost: a 10 000-recipient broadcast checked against lists of 1 000 and 100 000 entries.

    .venv/bin/python bench/suppressions.py [--recipients 10000] [--entries 100000] [--database-url URL]

The check is the one the accept path and the worker run (feedback.suppressions.suppressed_among:
chunks of 500 addresses, each an IN over the (tenant_id, email, scope) unique index). The baseline
is the same check against a list 100x smaller, in the same run: a ratio near 1 means the cost per
recipient does not grow with the list. Both broadcasts hold as many listed addresses. Another
tenant holds as many entries again (they must not slow this tenant down). The database is a temp
SQLite file unless --database-url is given (its schema is reset!). Redis is not used. The last line
printed is one JSON object. A benchmark, not a test: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flask import Flask
from sqlalchemy import insert

from bench.common import reset_schema
from mailer import create_app

SECRETS_KEY = "kGmQyPtK0lDN6xJ0a2Y4Zk1vJc8f1VcYq5oPz5jX0mU="


def build_app(url: str) -> Flask:
    reset_schema(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:6379/10",
                      "JWT_SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                      "SECRETS_KEY": (SECRETS_KEY,), "LOG_FORMAT": "text"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    return app


def fill(app: Flask, tenant_id: uuid.UUID, prefix: str, count: int) -> None:
    from mailer.extensions import db
    from mailer.models import Suppression

    now = datetime.now(UTC)
    with app.app_context():
        for start in range(0, count, 5000):
            db.session.execute(insert(Suppression.__table__), [
                {"id": uuid.uuid4(), "tenant_id": tenant_id, "email": f"{prefix}{i}@example.com", "scope": "all",
                 "reason": "hard_bounce", "created_at": now}
                for i in range(start, min(count, start + 5000))
            ])
        db.session.commit()


def tenant(app: Flask, slug: str) -> uuid.UUID:
    from mailer.extensions import db
    from mailer.models import Tenant

    with app.app_context():
        row = Tenant(slug=slug, name=slug)
        db.session.add(row)
        db.session.commit()
        return row.id


def measure(app: Flask, tenant_id: uuid.UUID, emails: list[str], rounds: int) -> tuple[float, int]:
    """Median seconds for checking every address, and how many were found suppressed."""
    from mailer.mail.suppressions import scopes_for, suppressed_among

    times, found = [], 0
    with app.app_context():
        for _ in range(rounds):
            started = time.perf_counter()
            found = len(suppressed_among(tenant_id, emails, scopes_for("broadcast")))
            times.append(time.perf_counter() - started)
    return statistics.median(times), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        app = build_app(args.database_url or f"sqlite:///{os.path.join(directory, 'bench.db')}")
        small, large, other = tenant(app, "small"), tenant(app, "large"), tenant(app, "other")
        fill(app, small, "s", args.entries // 100)
        fill(app, large, "s", args.entries)
        fill(app, other, "s", args.entries)
        # The same number of listed addresses in both broadcasts (half the small list), spread over each list.
        hits = args.entries // 200
        fresh = [f"fresh{i}@example.com" for i in range(args.recipients - hits)]
        emails = [f"s{i}@example.com" for i in range(0, 2 * hits, 2)] + fresh
        emails_large = [f"s{i}@example.com" for i in range(0, args.entries, args.entries // hits)][:hits] + fresh
        base, base_found = measure(app, small, emails, args.rounds)
        cost, found = measure(app, large, emails_large, args.rounds)
    per_base, per_large = base / args.recipients * 1e6, cost / args.recipients * 1e6
    print(f"{args.entries // 100:>7} entries: {base * 1000:8.1f} ms for {args.recipients} recipients "
          f"({per_base:.1f} µs each, {base_found} suppressed)", flush=True)
    print(f"{args.entries:>7} entries: {cost * 1000:8.1f} ms for {args.recipients} recipients "
          f"({per_large:.1f} µs each, {found} suppressed)", flush=True)
    ratio = per_large / per_base
    print(f"cost per recipient, {args.entries} vs {args.entries // 100} entries: {ratio:.2f}x", flush=True)
    print(json.dumps({"recipients": args.recipients, "entries": args.entries, "baseline_entries": args.entries // 100,
                      "baseline_ms": round(base * 1000, 1), "large_ms": round(cost * 1000, 1),
                      "us_per_recipient": round(per_large, 2), "ratio_to_baseline": round(ratio, 3),
                      "suppressed_found": found}))


if __name__ == "__main__":
    main()
