"""Run the whole suite as N pytest processes side by side (``make test``): the suite mostly waits on
subprocesses, servers and a browser, so two processes on two cores finish in a little over half the time.

Each group gets what it must not share: its own Redis database number (TEST_REDIS_URL), its own PostgreSQL
database when TEST_DATABASE_URL is set (``<name>_g<i>``, created by the conftest when missing) and its own
pytest temp dir. Test files are dealt to the groups by the seconds they took last time measured
(tests/durations.json, refreshed with ``--record``), longest first onto the lightest group; a file not in it
counts as the median.

    python tests/parallel.py [--groups N] [--record] [-- extra pytest args]

Exit status: 0 when every group passed, else the first failing group's status. Each group's output goes to
its own log; failing groups' summaries are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATIONS = ROOT / "tests" / "durations.json"
FIRST_REDIS_DB = 15


def test_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py"))


def deal(files: list[str], seconds: dict[str, float], groups: int) -> list[list[str]]:
    """Longest-processing-time first: each file onto the group with the least time so far."""
    default = statistics.median(seconds.values()) if seconds else 1.0
    loads = [0.0] * groups
    dealt: list[list[str]] = [[] for _ in range(groups)]
    for path in sorted(files, key=lambda f: -seconds.get(f, default)):
        lightest = loads.index(min(loads))
        dealt[lightest].append(path)
        loads[lightest] += seconds.get(path, default)
    return dealt


def group_env(index: int) -> dict[str, str]:
    env = dict(os.environ)
    server, _, first = env.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{FIRST_REDIS_DB}").rpartition("/")
    env["TEST_REDIS_URL"] = f"{server}/{int(first) - index}"
    database = env.get("TEST_DATABASE_URL")
    if database and index:
        env["TEST_DATABASE_URL"] = f"{database}_g{index}"
    return env


def file_seconds(junit: Path) -> dict[str, float]:
    """Seconds per test file from a junit report (classname is the dotted module path)."""
    seconds: dict[str, float] = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        while module and not module[-1].startswith("test_"):
            module.pop()  # a test class's name
        if module:
            path = "/".join(module) + ".py"
            seconds[path] = seconds.get(path, 0.0) + float(case.get("time", 0))
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=int(os.environ.get("TEST_GROUPS", "2")))
    parser.add_argument("--record", action="store_true", help="write tests/durations.json from this run")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    seconds = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    work = Path(tempfile.mkdtemp(prefix="mailer-tests-"))
    started = time.monotonic()
    running = []
    for index, files in enumerate(deal(test_files(), seconds, args.groups)):
        log = work / f"group-{index}.log"
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={work / f'tmp-{index}'}",
                   f"--junitxml={work / f'group-{index}.xml'}", *args.pytest_args, *files]
        env = group_env(index)
        print(f"group {index}: {len(files)} files, {env['TEST_REDIS_URL']}, log {log}", flush=True)
        running.append((index, log, subprocess.Popen(command, cwd=ROOT, env=env,
                                                     stdout=log.open("wb"), stderr=subprocess.STDOUT)))
    status = 0
    measured: dict[str, float] = {}
    for index, log, proc in running:
        code = proc.wait()
        tail = log.read_text(errors="replace").splitlines()
        summary = [line for line in tail if line.startswith(("FAILED", "ERROR"))] + tail[-1:]
        print(f"== group {index} (exit {code}) ==", *summary, sep="\n", flush=True)
        if code and not status:
            status = code
            print(log.read_text(errors="replace")[-20000:], flush=True)
        junit = work / f"group-{index}.xml"
        if junit.exists():
            measured.update(file_seconds(junit))
    print(f"all groups done in {time.monotonic() - started:.0f} s", flush=True)
    if args.record and not status:
        DURATIONS.write_text(json.dumps({k: round(v, 1) for k, v in sorted(measured.items())}, indent=1) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
