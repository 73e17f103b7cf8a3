"""Per-job CPU overhead of a worker: `python bench/job_overhead.py [--jobs 40]`.

Runs --jobs delivery jobs that find nothing to claim (their rows do not exist), so what is left
is the cost of running a Mailer job at all: the fork, the imports and the app a work horse
builds. Measured for a bare ``rq worker`` and for the Procfile's ``MailerWorker`` in burst mode:
CPU time (user + system) of the worker and all its work horses, minus an empty burst, per job.
Redis --redis-url (default BENCH_REDIS_URL or db 9) is FLUSHED. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.pipeline import JWT_KEY, SECRETS_KEY, _prepare_database  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def burst(redis_url: str, env: dict[str, str], worker_class: str | None, jobs: int) -> float:
    """CPU seconds of one `rq worker --burst` running ``jobs`` do-nothing delivery jobs."""
    from redis import Redis
    from rq import Queue

    redis = Redis.from_url(redis_url)
    redis.flushdb()
    queue = Queue("default", connection=redis)
    for _ in range(jobs):
        queue.enqueue("mailer.worker.jobs.deliver_recipients", [str(uuid.uuid4())])
    args = [str(Path(sys.executable).with_name("rq")), "worker", "--url", redis_url, "--burst",
            "--logging_level", "WARNING", "default"]
    if worker_class:
        args[2:2] = ["--worker-class", worker_class]
    before = _children_cpu()
    subprocess.run(args, cwd=ROOT, env=env, check=True)
    return _children_cpu() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"))
    args = parser.parse_args()
    url = f"sqlite:///{tempfile.mkdtemp(prefix='mailer-bench-')}/bench.db"
    _prepare_database(url, args.redis_url)
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=args.redis_url, JWT_SECRET_KEY=JWT_KEY,
               SECRETS_KEY=SECRETS_KEY, PYTHONPATH=str(ROOT), LOG_FORMAT="json", SWEEP_INTERVAL_SECONDS="3600")
    figures = {}
    for label, worker_class in (("bare", None), ("procfile", "mailer.worker.MailerWorker")):
        empty = burst(args.redis_url, env, worker_class, 0)
        full = burst(args.redis_url, env, worker_class, args.jobs)
        figures[f"{label}_ms_cpu_per_job"] = round((full - empty) / args.jobs * 1000, 1)
        figures[f"{label}_worker_start_ms_cpu"] = round(empty * 1000, 1)
        print(f"{label:8}: {figures[f'{label}_ms_cpu_per_job']:7.1f} ms CPU per job "
              f"(worker start {figures[f'{label}_worker_start_ms_cpu']:.0f} ms)", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
