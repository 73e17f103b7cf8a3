"""Does the time of an answer tell whether an account exists? Median response times of
forgot-password and register, for known and unknown addresses.

    .venv/bin/python bench/enumeration.py [--requests 300]

Builds its own app on a temporary SQLite database; uses the Redis database named by
BENCH_REDIS_URL (default redis://127.0.0.1:6379/12), flushed before and after. Requests go
through the Flask test client, interleaved in random order so that drift hits all four alike.
The last line printed is one JSON object: forgot_known_ms, forgot_unknown_ms, register_new_ms,
register_existing_ms. A benchmark, not a test: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flask import Flask
from redis import Redis

from mailer import create_app

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
PASSWORD = "a long enough passw0rd"
KNOWN = "known@example.com"


def build_app(directory: str) -> Flask:
    app = create_app({
        "TESTING": True,
        "DATABASE_URL": f"sqlite:///{os.path.join(directory, 'bench.db')}",
        "REDIS_URL": REDIS_URL,
        "JWT_SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "RATELIMIT_ENABLED": False,
    })
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    result = app.test_cli_runner().invoke(args=["tenants", "create", "acme", "--name", "Acme",
                                                "--admin-email", KNOWN, "--admin-password", PASSWORD])
    if result.exit_code != 0:
        raise SystemExit(result.output)
    return app


def measure(app: Flask, rounds: int) -> dict[str, float]:
    client = app.test_client()
    counter = iter(range(10**9))

    def post(path: str, body: dict[str, str]) -> None:
        response = client.post(path, json=body)
        if response.status_code != 202:
            raise SystemExit(f"{path}: {response.status_code} {response.get_data(as_text=True)}")

    cases: dict[str, Callable[[], None]] = {
        "forgot_known_ms": lambda: post("/v1/auth/forgot-password", {"tenant": "acme", "email": KNOWN}),
        "forgot_unknown_ms": lambda: post("/v1/auth/forgot-password",
                                          {"tenant": "acme", "email": f"nobody{next(counter)}@example.com"}),
        "register_new_ms": lambda: post("/v1/auth/register", {"tenant": "acme", "password": PASSWORD,
                                                              "email": f"new{next(counter)}@example.com"}),
        "register_existing_ms": lambda: post("/v1/auth/register",
                                             {"tenant": "acme", "email": KNOWN, "password": PASSWORD}),
    }
    for case in cases.values():  # warm up: imports, connection pools, the dummy hash
        for _ in range(5):
            case()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        order = list(cases)
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            cases[name]()
            samples[name].append((time.perf_counter() - start) * 1000)
    for name, values in samples.items():
        q = statistics.quantiles(values, n=20)
        print(f"{name:22s} median {statistics.median(values):8.2f}  p5 {q[0]:8.2f}  p95 {q[-1]:8.2f}  "
              f"(n={len(values)})")
    return {name: round(statistics.median(values), 2) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per case (default 300)")
    args = parser.parse_args()
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    try:
        with tempfile.TemporaryDirectory() as directory:
            app = build_app(directory)
            print(f"enumeration bench: {args.requests} requests per case, SQLite, Redis {REDIS_URL}")
            medians = measure(app, args.requests)
            with app.app_context():
                from mailer.extensions import db

                db.engine.dispose()
    finally:
        redis.flushdb()
    print(json.dumps(medians))


if __name__ == "__main__":
    main()
