"""Raw-socket HTTP servers that misbehave in time: one drips its answer a byte at a time, one never answers.

Real sockets on a free loopback port, a thread per connection; ``stop()`` closes everything.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class SlowServer:
    """``mode`` "drip-headers": status line and then header bytes one every ``interval`` s, for ever;
    "drip-body": headers at once, then a 60-byte body one byte every ``interval`` s;
    "hang": reads the request and never answers."""

    mode: str
    interval: float = 0.3
    requests: int = 0
    _listener: socket.socket = field(init=False)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _conns: list[socket.socket] = field(default_factory=list)

    def start(self) -> SlowServer:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/mailer"

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        for conn in self._conns:
            conn.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.requests += 1
            if self.mode == "hang":
                self._stopped.wait(60)
                return
            if self.mode == "drip-headers":
                self._drip(conn, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000)
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n")
                self._drip(conn, b"b" * 60)
        except OSError:
            pass

    def _drip(self, conn: socket.socket, data: bytes) -> None:
        for byte in data:
            if self._stopped.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(self.interval)
