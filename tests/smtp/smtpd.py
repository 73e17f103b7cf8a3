"""Test SMTP servers on 127.0.0.1: an aiosmtpd handler whose replies each test programs,
and a tiny scripted socket server for what aiosmtpd cannot do (bad greetings, dropping
the connection mid-DATA or after the final dot, trickling bytes)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.fixtures import HOST, free_port  # noqa: F401 (the smtp tests import both from here)


@dataclass(frozen=True)
class Received:
    """One message as the server got it."""

    peer: tuple[str, int]
    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    content: bytes

    def parsed(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.content)  # type: ignore[return-value]


@dataclass
class RecordingHandler:
    """aiosmtpd handler recording what it receives, with replies set per test.

    ``rcpt_replies`` maps a recipient to its RCPT reply; ``data_replies`` are used one per
    DATA, in order (then "250"); ``max_recipients`` answers 452 past that many per
    transaction; ``mail_reply`` answers every MAIL FROM.
    """

    mail_reply: str | None = None
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    max_recipients: int | None = None
    data_delay: float = 0.0
    messages: list[Received] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)
    commands: list[str] = field(default_factory=list)

    async def handle_MAIL(self, server: Any, session: Session, envelope: Envelope, address: str, options: list) -> str:
        self.peers.add(session.peer)
        self.commands.append("MAIL")
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str, options: list) -> str:
        self.commands.append("RCPT")
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        if self.max_recipients is not None and len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_RSET(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.commands.append("RSET")
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        reply = self.data_replies.pop(0) if self.data_replies else "250 2.0.0 OK queued"
        if reply.startswith("250"):
            received = Received(
                session.peer,
                envelope.mail_from or "",
                tuple(envelope.rcpt_tos),
                tuple(envelope.mail_options),
                envelope.original_content or b"",
            )
            self.messages.append(received)
        return reply


@dataclass
class Authenticator:
    """Accepts one login; records every attempt (so a test can see none was made)."""

    username: str
    password: str
    attempts: list[str] = field(default_factory=list)

    def __call__(self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.attempts.append(data.login.decode())
        ok = data.login.decode() == self.username and data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)


class ScriptedServer:
    """A one-thread-per-connection SMTP server playing one misbehaviour.

    ``greeting``: the first line (a 4xx/5xx greeting closes the connection).
    ``on_data``: "accept" | "drop_mid_data" (reset after the first bytes of data) |
    "drop_after_dot" (close after the whole data, no reply) | "trickle" (after the data,
    a never-ending reply one byte every ``interval``). ``trickle_greeting`` trickles
    from the start. ``on_second_mail``: "drop" closes the connection, unanswered, at its second MAIL (a
    connection dying just after the pool checked it), "421" answers that MAIL 421 and closes. ``verbs``: every
    command verb received, in order.
    """

    def __init__(
        self,
        *,
        greeting: str = "220 scripted ESMTP",
        on_data: str = "accept",
        trickle_greeting: bool = False,
        interval: float = 0.05,
        on_second_mail: str = "",
    ) -> None:
        self.on_second_mail = on_second_mail
        self.verbs: list[bytes] = []
        self.greeting = greeting
        self.on_data = on_data
        self.trickle_greeting = trickle_greeting
        self.interval = interval
        self.messages: list[bytes] = []
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server((HOST, 0))
        # Small buffers so a client sending a big message is still sending when we reset.
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._acceptor.join(2)
        for conn in self._open:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(2)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self._open.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with contextlib.suppress(OSError), conn, conn.makefile("rb") as reader:
            if self.trickle_greeting:
                self._trickle(conn, "220-")
                return
            conn.sendall(f"{self.greeting}\r\n".encode())
            if not self.greeting.startswith("2"):
                return
            mails = 0
            while not self._stop.is_set():
                line = reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                self.verbs.append(verb)
                mails += verb == b"MAIL"
                if mails == 2 and verb == b"MAIL" and self.on_second_mail:
                    if self.on_second_mail == "421":
                        conn.sendall(b"421 4.3.2 shutting down\r\n")
                    return
                if verb == b"EHLO":
                    conn.sendall(b"250-scripted\r\n250-8BITMIME\r\n250 SIZE 50000000\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    if not self._data(conn, reader):
                        return
                else:
                    conn.sendall(b"250 OK\r\n")

    def _data(self, conn: socket.socket, reader: Any) -> bool:
        """Plays ``on_data``; False when the connection is over."""
        if self.on_data == "drop_mid_data":
            reader.read(1024)
            # SO_LINGER 0: close with RST, as a crashing server would.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        lines = []
        while (line := reader.readline()) not in (b".\r\n", b""):
            lines.append(line)
        self.messages.append(b"".join(lines))
        if self.on_data == "drop_after_dot":
            return False
        if self.on_data == "trickle":
            self._trickle(conn, "250-")
            return False
        conn.sendall(b"250 2.0.0 OK\r\n")
        return True

    def _trickle(self, conn: socket.socket, prefix: str) -> None:
        """Continuation lines, one byte at a time, until the client goes or we stop."""
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < 30:
            for byte in f"{prefix}still thinking\r\n".encode():
                conn.send(bytes([byte]))
                time.sleep(self.interval)
