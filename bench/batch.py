"""Batch send benchmark: `python bench/batch.py [--n 500] [--rounds 3] [--database-url URL]`.

In one run, on one app and database, accepts N messages two ways through the real HTTP stack
(the WSGI app in-process, Flask's test client: routing, auth, validation, composition, quota,
audit, commit, enqueue — no network and no delivery):

1. single — N `POST /v1/messages`, one message each;
2. batch  — `POST /v1/messages/batch` with the same N messages in one request (N ≤ 500).

Each way runs ``--rounds`` times (alternating, so a warm cache or a growing table favours neither);
the best round counts. Rate limits are raised and the daily quota turned off so that neither path is
refused. The database is a temp SQLite file unless --database-url is given (its schema is reset!).
Redis --redis-url (BENCH_REDIS_URL, default db 8) is FLUSHED. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
PASSWORD = "bench password 1"  # the admin bench/pipeline.py creates


def _app(url: str, redis_url: str) -> Any:
    """The pipeline benchmark's migrated database and tenant, served with limits that refuse nothing."""
    from pipeline import JWT_KEY, SECRETS_KEY, _prepare_database

    from mailer import create_app

    _prepare_database(url, redis_url)
    return create_app({"DATABASE_URL": url, "REDIS_URL": redis_url, "JWT_SECRET_KEY": JWT_KEY,
                       "SECRETS_KEY": (SECRETS_KEY,), "LOG_FORMAT": "text",
                       "RATELIMIT_MESSAGES": "1000000/minute", "TENANT_DAILY_QUOTA": 0})


def _bodies(n: int, round_no: int, way: str) -> list[dict[str, Any]]:
    return [{"to": [f"{way}{round_no}-{i}@example.com"], "subject": f"Receipt {i}",
             "text": f"Thanks for order {i}.", "html": f"<p>Thanks for order <b>{i}</b>.</p>",
             "tags": ["receipt"], "metadata": {"order": str(i)}} for i in range(n)]


def run_single(client: Any, headers: dict[str, str], bodies: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for body in bodies:
        response = client.post("/v1/messages", json=body, headers=headers)
        assert response.status_code == 202, response.get_json()
    return time.perf_counter() - start


def run_batch(client: Any, headers: dict[str, str], bodies: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    response = client.post("/v1/messages/batch", json={"messages": bodies}, headers=headers)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.get_json()
    assert all(item["status"] == 202 for item in response.get_json()["items"])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="messages per way and round (at most 500)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"))
    args = parser.parse_args()
    if not 1 <= args.n <= 500:
        parser.error("--n must be 1 to 500 (one batch)")
    from redis import Redis

    redis = Redis.from_url(args.redis_url)
    redis.flushdb()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        app = _app(url, args.redis_url)
        client = app.test_client()
        token = client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                                    "password": PASSWORD}).get_json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        single, batch = [], []
        for round_no in range(args.rounds):
            single.append(run_single(client, headers, _bodies(args.n, round_no, "single")))
            batch.append(run_batch(client, headers, _bodies(args.n, round_no, "batch")))
            print(f"round {round_no + 1}: single {args.n / single[-1]:.0f} msg/s, batch {args.n / batch[-1]:.0f} msg/s",
                  flush=True)
    redis.flushdb()
    single_rate, batch_rate = args.n / min(single), args.n / min(batch)
    print(json.dumps({
        "messages": args.n, "rounds": args.rounds,
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "single_msgs_per_s": round(single_rate, 1), "batch_msgs_per_s": round(batch_rate, 1),
        "ratio": round(batch_rate / single_rate, 2),
    }))


if __name__ == "__main__":
    main()
