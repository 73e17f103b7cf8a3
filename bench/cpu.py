"""CPU seconds spent by each process group of a run: started processes and their children, the
PostgreSQL backends serving the benchmark's database, and Redis.

A group of started processes counts every live descendant (user + system) plus what their reaped
children used (``cutime``/``cstime``), so a work horse's CPU is counted whether it is still running
or its worker has waited for it. PostgreSQL is the client backends connected to the benchmark's
database, sampled every SAMPLE_SECONDS (a backend that disconnects loses at most its last interval;
the server's shared WAL writer and checkpointer serve other databases too and are left out); it is
``None`` when the server's processes cannot be read (another host). Redis is its own INFO figure.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

SAMPLE_SECONDS = 0.2
_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_table() -> dict[int, list[str]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            table[int(entry)] = fields
    return table


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds of ``roots``, their live descendants and every child they reaped."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, fields in table.items():
        children.setdefault(int(fields[1]), []).append(pid)
    total, todo = 0, [pid for pid in roots if pid in table]
    while todo:
        pid = todo.pop()
        fields = table[pid]
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        todo += children.get(pid, [])
    return total / _TICK


def redis_cpu(redis_url: str) -> float:
    from redis import Redis

    info = Redis.from_url(redis_url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class PostgresBackends:
    """CPU of the client backends connected to one database, from a sampling thread."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import create_engine

        self._engine = create_engine(database_url, isolation_level="AUTOCOMMIT", pool_size=1)
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.readable = True

    def _sample(self, first: bool) -> None:
        from sqlalchemy import text

        with self._engine.connect() as conn:
            pids = conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")).all()
        for pid in pids:
            fields = _stat(pid)
            if fields is None:
                self.readable = self.readable and not first
                continue
            seconds = (int(fields[11]) + int(fields[12])) / _TICK
            self._base.setdefault(pid, seconds if first else 0.0)
            self._last[pid] = seconds

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample(first=False)

    def start(self) -> None:
        self._sample(first=True)
        self._thread.start()

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join()
        self._sample(first=False)
        self._engine.dispose()
        if not self.readable:
            return None
        return sum(self._last[pid] - self._base[pid] for pid in self._last)


class CpuMeter:
    """CPU seconds of named process groups (root pids), PostgreSQL and Redis between start() and stop()."""

    def __init__(self, groups: dict[str, list[int]], database_url: str, redis_url: str) -> None:
        self.groups = groups
        self.redis_url = redis_url
        self.postgres = PostgresBackends(database_url) if database_url.startswith("postgresql") else None
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: tree_cpu(pids) for name, pids in self.groups.items()}
        self._before["redis"] = redis_cpu(self.redis_url)
        if self.postgres:
            self.postgres.start()

    def stop(self) -> dict[str, Any]:
        spent: dict[str, Any] = {name: tree_cpu(pids) - self._before[name] for name, pids in self.groups.items()}
        spent["redis"] = redis_cpu(self.redis_url) - self._before["redis"]
        spent["postgresql"] = self.postgres.stop() if self.postgres else None
        return spent


def per_message_ms(spent: dict[str, Any], messages: int) -> dict[str, float | None]:
    """Each group's CPU in milliseconds per message, and their total."""
    figures = {name: None if seconds is None else round(seconds * 1000 / messages, 2)
               for name, seconds in spent.items()}
    figures["total"] = round(sum(seconds for seconds in spent.values() if seconds is not None) * 1000 / messages, 2)
    return figures
