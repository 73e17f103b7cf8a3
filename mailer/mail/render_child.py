"""Tenant-authored templates render in a child process that no missed case can take the caller down with (N2).

The sandbox (mail/sandbox.py) bounds what it can see, but a C call it cannot see (comparing two aliased
structures, printing one, a regex) runs to the end with the GIL held. So a template a tenant wrote renders
in a small pool of pre-started children, each under ``RLIMIT_AS`` (its size at start plus
``CHILD_MEMORY_BYTES``) and ``RLIMIT_CPU``, and the caller waits for the answer only until the render's
deadline plus a margin: past it the child is killed and replaced, and the caller gets the usual
TemplateRenderError. Built-in templates (trusted code) render in-process.

Children are fresh interpreters (``python -m mailer.mail.render_child``) talking over a socket pair: nothing
of the caller (app, database connections, locks, Redis sockets, its ``__main__``) crosses into them. A pool
belongs to one process: a forked RQ work horse or gunicorn worker starts its own on first use.
"""

from __future__ import annotations

import logging
import os
import queue
import resource
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from mailer.mail.rendering import Rendered, TemplateRenderError, TemplateSource, render_in_process

POOL_SIZE = 2
CHILD_MEMORY_BYTES = 256 * 1024 * 1024
KILL_MARGIN_SECONDS = 1.0
START_SECONDS = 30.0
WAIT_SECONDS = 0.5  # how often a render waiting for a busy child looks again whether it may start one
_log = logging.getLogger(__name__)


def _serve(conn: Connection) -> None:
    """The child: render what it is sent until the pipe closes (the parent is gone). A request is one source and
    the contexts to render it with; each render is answered as soon as it is done, under its own limits."""
    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + CHILD_MEMORY_BYTES, resource.RLIM_INFINITY))
    conn.send("ready")
    while True:
        try:
            source, contexts, seconds = conn.recv()
        except (EOFError, OSError):
            return
        for context in contexts:
            used = resource.getrusage(resource.RUSAGE_SELF)
            cpu = int(used.ru_utime + used.ru_stime)
            # SIGXCPU ends the child when the render spins in C past its deadline (the parent also kills it).
            resource.setrlimit(resource.RLIMIT_CPU, (cpu + int(seconds) + 2, resource.RLIM_INFINITY))
            try:
                answer: Any = render_in_process(source, context, seconds=seconds)
            except TemplateRenderError as exc:
                answer = ("error", exc.message, exc.part, exc.line)
            except MemoryError:
                answer = ("error", "out of memory", "template", None)
            try:
                conn.send(answer)
            except MemoryError:
                conn.send(("error", "out of memory", "template", None))


def _address_space() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    conn: Connection


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds mailer/


class _Pool:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.idle: queue.LifoQueue[_Child] = queue.LifoQueue()
        self.started = 0
        self.lock = threading.Lock()

    def _start(self) -> _Child:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))}
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", __name__, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL, env=env, cwd=_ROOT)
        theirs.close()
        child = _Child(process, Connection(ours.detach()))
        # Starting an interpreter is not part of any render's deadline; a child that cannot start is a fault.
        if not child.conn.poll(START_SECONDS) or child.conn.recv() != "ready":
            process.kill()
            raise RuntimeError("the template render child did not start")
        return child

    def take(self) -> _Child:
        while True:
            with self.lock:
                may_start = self.idle.empty() and self.started < POOL_SIZE
                if may_start:
                    self.started += 1
            if may_start:  # outside the lock: a render that finds an idle child need not wait for a start
                try:
                    return self._start()
                except BaseException:
                    with self.lock:
                        self.started -= 1
                    raise
            try:
                # Not a plain get(): a replacement that fails to start gives its place back without
                # putting a child in, and a caller waiting here then starts one itself.
                return self.idle.get(timeout=WAIT_SECONDS)
            except queue.Empty:
                continue

    def give_back(self, child: _Child) -> None:
        self.idle.put(child)

    def discard(self, child: _Child) -> None:
        """Kill ``child`` and start its replacement in the background, so the next render need not wait."""
        child.process.kill()
        child.process.wait(5.0)
        child.conn.close()
        threading.Thread(target=self._replace, daemon=True, name="mailer-render-child-start").start()

    def _replace(self) -> None:
        try:
            self.idle.put(self._start())
        except Exception:  # the next take() starts one instead
            with self.lock:
                self.started -= 1


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _current_pool() -> _Pool:
    global _pool  # one pool per process, replaced in a forked child
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = _Pool()
        return _pool


def render_isolated(source: TemplateSource, context: dict[str, Any], seconds: float) -> Rendered:
    """``render`` in a pooled child; a child that overruns (time, memory, a crash) is killed and replaced."""
    [answer] = render_isolated_many(source, [context], seconds)
    if not isinstance(answer, Rendered):
        raise answer or TemplateRenderError("template rendering took too long", part="template")
    return answer


def render_isolated_many(source: TemplateSource, contexts: list[dict[str, Any]],
                         seconds: float) -> list[Rendered | TemplateRenderError | None]:
    """``source`` rendered with each context in one round trip to a pooled child (a broadcast claim's copies).

    Each render keeps its own deadline: the child answers them one by one, and one that does not come within
    ``seconds`` plus the margin gets the child killed and replaced. That render fails; those after it were not
    made (None: render them again)."""
    pool = _current_pool()
    child = pool.take()
    while child.process.poll() is not None:  # ended between renders (killed from outside): not this render's fault
        pool.discard(child)
        child = pool.take()
    answers: list[Rendered | TemplateRenderError | None] = []
    try:
        child.conn.send((source, contexts, seconds))
        for _ in contexts:
            if not child.conn.poll(seconds + KILL_MARGIN_SECONDS):
                pool.discard(child)
                return _failed(answers, contexts, "template rendering took too long")
            answers.append(_answer(child.conn.recv()))
    except (EOFError, OSError) as exc:
        _log.warning("template render child ended", extra={"error": type(exc).__name__})
        pool.discard(child)
        return _failed(answers, contexts, "template rendering used too much memory or time")
    except BaseException:
        pool.discard(child)
        raise
    pool.give_back(child)
    return answers


def _answer(answer: Any) -> Rendered | TemplateRenderError:
    if isinstance(answer, tuple):
        _, message, part, line = answer
        return TemplateRenderError(message, part=part, line=line)
    return answer  # type: ignore[no-any-return]


def _failed(answers: list[Rendered | TemplateRenderError | None], contexts: list[dict[str, Any]],
            message: str) -> list[Rendered | TemplateRenderError | None]:
    """The answers so far, the render the child failed on, and None for those it never began."""
    left = len(contexts) - len(answers)
    return [*answers, TemplateRenderError(message, part="template"), *[None] * (left - 1)]


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
