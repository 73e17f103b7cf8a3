"""Real `rq worker --with-scheduler` (and gunicorn) subprocesses for the tests that kill, stop and restart them,
and their fixtures (a pytest plugin of tests/conftest.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from mailer.queues import QUEUE_NAMES
from tests.conftest import FERNET_KEY, JWT_TEST_KEY, TEST_REDIS_URL
from tests.fixtures import FAST, Sink, free_port, wait_for
from tests.helpers import create_tenant

ROOT = Path(__file__).resolve().parents[1]


class WorkerProcesses:
    """Real `rq worker --with-scheduler` subprocesses: bare (the contract's line) unless a class is named."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.procs: list[subprocess.Popen[bytes]] = []

    def env(self, **overrides: Any) -> dict[str, str]:
        config = self.app.config["MAILER"]
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": config.DATABASE_URL, "REDIS_URL": TEST_REDIS_URL, "JWT_SECRET_KEY": JWT_TEST_KEY,
            "SECRETS_KEY": FERNET_KEY,
            "SMTP_HOST": config.SMTP_HOST, "SMTP_PORT": str(config.SMTP_PORT),
            "SMTP_TIMEOUT_SECONDS": str(config.SMTP_TIMEOUT_SECONDS),
            "SMTP_RETRY_DELAYS": ",".join(map(str, config.SMTP_RETRY_DELAYS)),
            "SMTP_MAX_ATTEMPTS": str(config.SMTP_MAX_ATTEMPTS),
            "DELIVERY_LEASE_SECONDS": str(config.DELIVERY_LEASE_SECONDS),
            "SWEEP_INTERVAL_SECONDS": str(config.SWEEP_INTERVAL_SECONDS),
            "DELIVERY_BATCH_SIZE": str(config.DELIVERY_BATCH_SIZE),
            "LOG_FORMAT": "text", "PYTHONPATH": str(ROOT),
        })
        env.update({k: str(v) for k, v in overrides.items()})
        return env

    def start(self, *queues: str, worker_class: str | None = None, **env: Any) -> subprocess.Popen[bytes]:
        rq = str(Path(sys.executable).with_name("rq"))
        args = [rq, "worker", "--url", TEST_REDIS_URL, "--with-scheduler", *(queues or QUEUE_NAMES)]
        if worker_class:
            args[2:2] = ["--worker-class", worker_class]
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env(**env), start_new_session=True,
                                stdout=_log_file("worker"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def wait_registered(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> float:
        """Wait until RQ lists the worker of `proc` (it has started and may take jobs); return when it did."""
        from redis import Redis
        from rq import Worker

        connection = Redis.from_url(TEST_REDIS_URL)
        wait_for(lambda: any(worker.pid == proc.pid for worker in Worker.all(connection=connection)),
                 timeout=timeout, interval=0.05)
        return time.time()

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal the worker's process group and its work horse (RQ puts a horse in its own group)."""
        horses = _children(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        for pid in horses:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def start_web(self, **env: Any) -> subprocess.Popen[bytes]:
        """gunicorn serving the app (its processes keep the periodic sweep going); waits until it answers."""
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        port = free_port()
        proc = subprocess.Popen([gunicorn, "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT,
                                env=self.env(**env), start_new_session=True,
                                stdout=_log_file("web"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.web_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{self.web_url}/healthz"), timeout=30, interval=0.1)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)
            proc.wait(timeout=10)


def _log_file(kind: str) -> Any:
    """Where a subprocess writes its output: $TEST_PROCESS_LOGS/<kind>-<n>.log when set, else nowhere."""
    folder = os.environ.get("TEST_PROCESS_LOGS")
    if not folder:
        return subprocess.DEVNULL
    os.makedirs(folder, exist_ok=True)
    return open(os.path.join(folder, f"{kind}-{time.time_ns()}.log"), "wb")


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


@pytest.fixture
def workers(fast_app: Flask) -> Iterator[WorkerProcesses]:

    pool = WorkerProcesses(fast_app)
    yield pool
    pool.stop_all()


@pytest.fixture
def workers_for(app_factory: Callable[..., Flask],
                sink: Sink) -> Iterator[Callable[..., tuple[Flask, WorkerProcesses]]]:
    """(app, its worker processes) for FAST settings plus ``overrides``; the processes stop at teardown."""
    pools: list[WorkerProcesses] = []

    def build(**overrides: Any) -> tuple[Flask, WorkerProcesses]:
        app = app_factory(**{**FAST, **overrides}, SMTP_PORT=sink.port)
        create_tenant(app)
        pools.append(WorkerProcesses(app))
        return app, pools[-1]

    yield build
    for pool in pools:
        pool.stop_all()
