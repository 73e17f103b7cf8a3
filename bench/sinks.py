"""The SMTP sinks the benchmarks deliver to, each in its own process so it never shares our GIL.

- ``AiosmtpdSink``: aiosmtpd answering every DATA "250 2.0.0 OK" (Python; saturates a core near
  1.5 k msg/s on this machine, so a run against it partly measures the sink);
- ``PostfixSink``: Postfix's ``smtp-sink``, a C test server that stores nothing and takes thousands
  of messages a second on one core. With ``dump=True`` it appends every transaction to a file, so
  a run can count how many times each recipient arrived (``recipient_counts``).

Both count messages and SMTP sessions and note when the first mail for a watched recipient
(``reset*`` and ``api*`` addresses) arrived, so benchmarks can measure latency at the sink.
``open_sink("smtp-sink" | "aiosmtpd", port)`` picks one.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from typing import Any, Protocol

WATCHED = ("reset", "api", "fair")


class Sink(Protocol):
    port: int
    proc: Any  # the sink's process (its pid is measured)

    @property
    def received(self) -> int: ...

    @property
    def session_count(self) -> int: ...

    def reset_arrivals(self) -> dict[str, float]: ...

    def stop(self) -> None: ...


# --- aiosmtpd ------------------------------------------------------------------------------------

def _aiosmtpd_main(port: int, counter: Any, resets: Any, ready: Any, sessions: Any) -> None:
    import asyncio

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                              responses: list[str]) -> list[str]:
            session.host_name = hostname  # what aiosmtpd's own EHLO does when no hook is set
            with sessions.get_lock():
                sessions.value += 1
            return responses

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with counter.get_lock():
                counter.value += len(envelope.rcpt_tos)
            for rcpt in envelope.rcpt_tos:
                if rcpt.startswith(WATCHED):
                    resets.put((rcpt, time.time()))
            return "250 2.0.0 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10**6))
    finally:
        controller.stop()


class AiosmtpdSink:
    name = "aiosmtpd"

    def __init__(self, port: int) -> None:
        self.port = port
        self.counter = mp.Value("q", 0)
        self.sessions = mp.Value("q", 0)
        self.resets: Any = mp.Queue()
        self.arrivals: dict[str, float] = {}
        ready = mp.Event()
        self.proc = mp.Process(target=_aiosmtpd_main, args=(port, self.counter, self.resets, ready, self.sessions),
                               daemon=True)
        self.proc.start()
        ready.wait(10)

    @property
    def received(self) -> int:
        return int(self.counter.value)

    @property
    def session_count(self) -> int:
        return int(self.sessions.value)

    def reset_arrivals(self) -> dict[str, float]:
        """First arrival time of every watched recipient seen so far."""
        while not self.resets.empty():
            rcpt, at = self.resets.get()
            self.arrivals.setdefault(rcpt, at)
        return self.arrivals

    def recipient_counts(self) -> Counter[str]:
        raise NotImplementedError("count recipients with the smtp-sink sink (--sink smtp-sink)")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(5)


# --- Postfix smtp-sink -------------------------------------------------------------------------

_COUNTERS = re.compile(rb"sess=(\d+) quit=(\d+) mesg=(\d+)")
_RCPT = re.compile(rb"^X-Rcpt-Args: <([^>]*)>", re.MULTILINE)


def smtp_sink_binary() -> str | None:
    return shutil.which("smtp-sink") or next(
        (p for p in ("/usr/sbin/smtp-sink", "/usr/bin/smtp-sink") if os.path.exists(p)), None)


class PostfixSink:
    """``smtp-sink -c`` on a loopback port; its running counters are read from its stdout."""

    name = "smtp-sink"

    def __init__(self, port: int, dump: bool = False, watch: bool = True) -> None:
        binary = smtp_sink_binary()
        if binary is None:
            raise SystemExit("smtp-sink not found: install Debian's postfix package "
                             "(debconf 'No configuration'), or pass --sink aiosmtpd")
        self.port = port
        self._messages = 0
        self._sessions = 0
        self.arrivals: dict[str, float] = {}
        self._dir = tempfile.mkdtemp(prefix="mailer-smtp-sink-")
        os.chmod(self._dir, 0o777)  # smtp-sink drops to nobody when started as root
        self.dump_path = os.path.join(self._dir, "mail.dump") if dump or watch else None
        args = [binary, "-c", "-m", "1024"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        if self.dump_path:
            args += ["-D", self.dump_path]
        self.proc = subprocess.Popen([*args, f"127.0.0.1:{port}", "1024"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self._stopping = False
        threading.Thread(target=self._read_counters, daemon=True).start()
        if watch and self.dump_path:
            threading.Thread(target=self._watch_dump, daemon=True).start()
        self._wait_listening()

    def _wait_listening(self) -> None:
        import socket

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.recv(100)
                    sock.sendall(b"QUIT\r\n")
                    return
            except OSError:
                time.sleep(0.02)
        raise SystemExit("smtp-sink did not start")

    def _read_counters(self) -> None:
        assert self.proc.stdout is not None
        buffer = b""
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            buffer = (buffer + chunk)[-4096:]
            if found := _COUNTERS.findall(buffer):
                sessions, _, messages = found[-1]
                self._sessions, self._messages = int(sessions), int(messages)

    def _watch_dump(self) -> None:
        """Note when each watched recipient first arrives, by following the dump file as it grows."""
        assert self.dump_path is not None
        offset, tail = 0, b""
        while not self._stopping:
            try:
                with open(self.dump_path, "rb") as dump:
                    dump.seek(offset)
                    data = dump.read()
            except FileNotFoundError:
                data = b""
            if data:
                now = time.time()
                offset += len(data)
                text = tail + data
                cut = text.rfind(b"\n") + 1
                for match in _RCPT.finditer(text, 0, cut):
                    rcpt = match.group(1).decode()
                    if rcpt.startswith(WATCHED):
                        self.arrivals.setdefault(rcpt, now)
                tail = text[cut:][-4096:]
            time.sleep(0.005)

    @property
    def received(self) -> int:
        return self._messages

    @property
    def session_count(self) -> int:
        """Sessions that have ended (smtp-sink counts a session when it closes)."""
        return self._sessions

    def reset_arrivals(self) -> dict[str, float]:
        return self.arrivals

    def recipient_counts(self) -> Counter[str]:
        """How many times each recipient arrived (needs dump=True or watch=True)."""
        if not self.dump_path or not os.path.exists(self.dump_path):
            return Counter()
        with open(self.dump_path, "rb") as dump:
            return Counter(m.group(1).decode() for m in _RCPT.finditer(dump.read()))

    def stop(self) -> None:
        self._stopping = True
        self.proc.terminate()
        self.proc.wait(5)
        shutil.rmtree(self._dir, ignore_errors=True)


def open_sink(kind: str, port: int, dump: bool = False) -> AiosmtpdSink | PostfixSink:
    if kind == "smtp-sink":
        return PostfixSink(port, dump=dump)
    return AiosmtpdSink(port)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
