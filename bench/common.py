"""What the end-to-end benchmarks share: their own configuration, workers, gunicorn, percentiles.

A figure must not depend on a developer's ``.env`` (``make run`` writes one with FLASK_DEBUG=1,
which logs every SMTP attempt as text): ``bench_env`` sets *every* setting of ``mailer.config.Config``
explicitly — its default, or the benchmark's value — so ``load_dotenv(override=False)`` finds
nothing left to fill in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
JWT_KEY = "bench-secret-key-that-is-long-enough-0123456789"
SECRETS_KEY = "B6Iq4bYl0zjNnqZ3cMHfu3d8r5LxQ8y1cN6qGm2T0kA="  # a fixed Fernet key: benchmarks run outside debug
SENDER = "news@acme.test"
# Where the workers a benchmark starts write their log lines.
WORKER_LOG = os.environ.get("BENCH_WORKER_LOG_FILE", os.path.join(tempfile.gettempdir(), "mailer-bench-workers.log"))
# The PostgreSQL benchmarks' database (created if missing; its schema is RESET by every run).
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/mailer_bench")


def ensure_database(url: str) -> None:
    """Create a PostgreSQL benchmark database that does not exist yet (through the server's postgres database)."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": target.database}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        engine.dispose()


def reset_schema(url: str) -> None:
    """A PostgreSQL benchmark database created if missing, its public schema emptied (SQLite: nothing to do)."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    ensure_database(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _as_env(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def bench_env(database_url: str, redis_url: str, smtp_port: int, **settings: Any) -> dict[str, str]:
    """The environment for every process a benchmark starts: all of Config set, none of it from .env."""
    from mailer.config import Config

    env = dict(os.environ)
    for spec in dataclasses.fields(Config):
        if spec.name == "TESTING":
            continue
        name = spec.metadata.get("env", spec.name)
        default = spec.default if spec.default is not dataclasses.MISSING else ""
        env[name] = _as_env(default)
    chosen: dict[str, Any] = {
        "FLASK_DEBUG": False, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "JWT_SECRET_KEY": JWT_KEY,
        "SECRETS_KEY": SECRETS_KEY, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port, "LOG_FORMAT": "json",
        "SMTP_HELO_NAME": "bench.mailer.test", "MAIL_FROM": SENDER,
    }
    chosen.update(settings)
    env.update({k: _as_env(v) for k, v in chosen.items()})
    env["PYTHONPATH"] = str(ROOT)
    return env


def app_settings(env: dict[str, str]) -> dict[str, Any]:
    """The same configuration as create_app overrides, for the benchmark's own in-process app."""
    from mailer.config import Config

    return dataclasses.asdict(Config.from_env(env))


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


# --- processes -----------------------------------------------------------------------------------

def start_workers(count: int, redis_url: str, env: dict[str, str], worker_class: str | None = None,
                  queues: tuple[str, ...] = ("critical", "default", "bulk")) -> list[subprocess.Popen[bytes]]:
    """``rq worker --with-scheduler critical default bulk``, bare as the README starts it unless a class is given.

    Their log lines go to WORKER_LOG (appended), not to the benchmark's output, whose last line is its JSON.
    """
    rq = str(Path(sys.executable).with_name("rq"))
    level = os.environ.get("BENCH_WORKER_LOG", "WARNING")  # INFO shows each job's duration
    args = [rq, "worker", "--url", redis_url, "--with-scheduler", "--logging_level", level]
    if worker_class:
        args += ["--worker-class", worker_class]
    with open(WORKER_LOG, "ab") as log:
        return [subprocess.Popen([*args, *queues], cwd=ROOT, env=env, start_new_session=True, stdout=log,
                                 stderr=subprocess.STDOUT) for _ in range(count)]


def wait_for_workers(redis: Any, count: int) -> None:
    from rq import Worker

    wait_for(lambda: len(Worker.all(connection=redis)) >= count, 60, "workers to start")


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def start_gunicorn(port: int, env: dict[str, str], app: str = "wsgi:app", workers: int = 2,
                   extra: tuple[str, ...] = (), stderr: Any = None) -> subprocess.Popen[bytes]:
    """The README's production command on a loopback port; returns once /healthz answers (or the app's GET /).

    ``stderr`` (a file) takes the app's log lines instead of the benchmark's terminal: still written, not shown.
    """
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen([gunicorn, "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                             *extra, app], cwd=ROOT, env=env, start_new_session=True, stderr=stderr)
    wait_for(lambda: http("GET", port, "/healthz")[0] in (200, 404) or proc.poll() is not None, 60, "gunicorn")
    if proc.poll() is not None:
        raise SystemExit(f"gunicorn {app} exited with {proc.returncode}")
    return proc


def http(method: str, port: int, path: str, body: Any = None, token: str | None = None,
         connection: Any = None) -> tuple[int, Any]:
    import http.client

    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except OSError:
        return 0, None
    finally:
        if connection is None:
            conn.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, data


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The high-water resident set of a process (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
