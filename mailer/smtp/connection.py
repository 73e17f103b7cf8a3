"""One SMTP connection: connect, TLS, EHLO, AUTH, with a wall-clock deadline on every byte.

``open_connection`` either returns a ready :class:`Connection` or raises
:class:`ServerFault` (a fault of the server as a whole: every recipient is deferred).
"""

from __future__ import annotations

import functools
import io
import ipaddress
import logging
import os
import select
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field

from mailer.smtp.addresses import PrivateAddressError, public_addresses
from mailer.smtp.replies import Reply
from mailer.smtp.settings import Encryption, SmtpServer

# Everything that means "this connection is gone or unusable".
NETWORK_ERRORS = (OSError, smtplib.SMTPException, EOFError)
_log = logging.getLogger(__name__)


class ServerFault(Exception):
    """The server as a whole cannot take mail now (greeting, TLS, AUTH, network)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.line)
        self.reply = reply


class DeadlineExceededError(TimeoutError):
    """The attempt's wall-clock deadline passed (a server too slow, or trickling bytes)."""


@functools.lru_cache(maxsize=64)
def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """A client TLS context, built once per (verify, ca_file): building one costs ~50 ms."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@functools.cache
def _local_fqdn() -> str:
    """The EHLO name; smtplib would otherwise resolve it (DNS) for every connection."""
    fqdn = socket.getfqdn()
    return fqdn if "." in fqdn else "localhost.localdomain"


def may_authenticate(host: str, tls_active: bool) -> bool:
    """AUTH only over TLS, or to a loopback relay (credentials never cross a network in clear)."""
    if tls_active:
        return True
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _DeadlineReader(io.RawIOBase):
    """Socket reads that give up at the client's deadline, however slowly bytes arrive."""

    def __init__(self, client: _Client) -> None:
        self._client = client

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        sock = self._client.sock
        if sock is None:
            return 0
        sock.settimeout(self._client.budget())
        try:
            return sock.recv_into(buffer)
        except TimeoutError:
            self._client.budget()  # says "deadline" rather than "timed out" when that is what ran out
            raise


class _Client(smtplib.SMTP):
    """smtplib.SMTP whose reads and writes each respect ``deadline`` (time.monotonic)."""

    def __init__(self, server: SmtpServer, deadline: float) -> None:
        self.deadline = deadline
        self._implicit_tls = server.encryption is Encryption.SSL
        encrypted = server.encryption is not Encryption.NONE
        self._context = tls_context(server.verify_tls, server.ca_file) if encrypted else None
        super().__init__(local_hostname=server.local_hostname or _local_fqdn(), timeout=server.timeout)
        self._host = server.host  # the name STARTTLS verifies (smtplib sets it only when connecting in __init__)
        self._allow_private = server.allow_private

    def budget(self) -> float:
        """Seconds the next socket operation may block; raises once the deadline passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceededError("SMTP attempt deadline exceeded")
        return min(self.timeout, left)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # A tenant's host: connect to the very address that was checked (no second lookup to rebind).
        target = host if self._allow_private else public_addresses(host, port)[0]
        sock = socket.create_connection((target, port), self.budget(), self.source_address)
        # Without it, Nagle + delayed ACK stall each small command ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._implicit_tls:
            assert self._context is not None
            sock.settimeout(self.budget())
            sock = self._context.wrap_socket(sock, server_hostname=host)
        return sock

    def send(self, s: bytes | str) -> None:  # type: ignore[override]
        data = s.encode(self.command_encoding) if isinstance(s, str) else s
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        view = memoryview(data)
        try:
            while view:
                self.sock.settimeout(self.budget())
                try:
                    sent = self.sock.send(view)
                except TimeoutError:
                    self.budget()
                    raise
                view = view[sent:]
        except OSError as exc:
            self.close()
            raise smtplib.SMTPServerDisconnected(f"connection lost while sending: {exc}") from exc

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:
            self.file = io.BufferedReader(_DeadlineReader(self), 8192)
        return super().getreply()

    def starttls(self, *args: object, **kwargs: object) -> tuple[int, bytes]:  # type: ignore[override]
        assert self._context is not None
        return super().starttls(context=self._context)


@dataclass(eq=False)
class Connection:
    """A ready session (greeted, TLS as configured, authenticated when credentials are set)."""

    client: _Client
    server: SmtpServer
    opened_at: float = field(default_factory=time.monotonic)
    pid: int = field(default_factory=os.getpid)
    messages: int = 0
    reused: bool = False
    idle_since: float = field(default_factory=time.monotonic)  # when it was last given back to the pool

    def has_extension(self, name: str) -> bool:
        return self.client.has_extn(name)

    def start_attempt(self, deadline: float) -> None:
        self.client.deadline = deadline

    def command(self, verb: str, argument: str = "") -> Reply:
        self.client.putcmd(verb, argument)
        return Reply.from_smtplib(*self.client.getreply())

    def is_alive(self, deadline: float) -> bool:
        """NOOP answered with 250 before ``deadline``."""
        self.start_attempt(deadline)
        try:
            return self.command("noop").code == 250
        except NETWORK_ERRORS:
            return False

    def quiet(self) -> bool:
        """Nothing has come from the server since its last reply (no unsolicited 421, no close, no reset): a poll of
        the socket, no round trip."""
        sock = self.client.sock
        if sock is None or (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            return False
        poller = select.poll()
        try:
            poller.register(sock, select.POLLIN | select.POLLPRI)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False

    def reset(self) -> bool:
        """RSET after a failed transaction; False when the connection is no longer usable."""
        try:
            return self.command("rset").code == 250
        except NETWORK_ERRORS:
            return False

    def quit(self) -> None:
        """QUIT politely (bounded by one timeout), then close; only a word in our own process."""
        if self.pid != os.getpid():
            self.close()
            return
        self.start_attempt(time.monotonic() + self.server.timeout)
        try:
            self.client.quit()
        except NETWORK_ERRORS:
            self.close()

    def close(self) -> None:
        """Close the socket without a word (closing our copy of a forked fd sends nothing)."""
        self.client.close()


def open_connection(server: SmtpServer, deadline: float) -> Connection:
    """Connect, greet, STARTTLS when asked, AUTH when credentials are set.

    Raises ServerFault; never falls back to plaintext and never sends credentials in clear
    to a non-loopback host.
    """
    if server.unusable:
        raise ServerFault(Reply.none(server.unusable))
    client = _Client(server, deadline)
    try:
        _greet(client, server)
        if server.encryption is Encryption.STARTTLS:
            _start_tls(client)
        if server.username:
            _authenticate(client, server)
    except ServerFault:
        client.close()
        raise
    except ssl.SSLError as exc:
        client.close()
        raise ServerFault(Reply.none(network_failure(TLS_FAILURE, server, exc))) from exc
    except NETWORK_ERRORS as exc:
        client.close()
        raise ServerFault(Reply.none(network_failure(CONNECTION_FAILED, server, exc))) from exc
    return Connection(client, server)


# What senders and tenant admins see when no reply was had (L10, N10): the detail (refused or timed out, which
# address, which certificate error) would map the operator's network or make the relay test a port scanner.
TLS_FAILURE = "TLS failure: the TLS handshake with the relay failed"
CONNECTION_FAILED = "connection failed: the relay could not be reached"


def network_failure(text: str, server: SmtpServer, exc: BaseException) -> str:
    """``text`` for the caller; the detail goes to the operator's log only.

    The guard's own refusal is said as is: it is about the tenant's setting, as PUT /v1/tenant/smtp says it.
    """
    if isinstance(exc, PrivateAddressError):
        return f"{text.partition(':')[0]}: {exc}"
    if isinstance(exc, TimeoutError) or "deadline exceeded" in str(exc):
        text = f"{text.partition(':')[0]}: the relay did not answer before the deadline"
    _log.warning("%s (%s:%s): %s", text.partition(":")[0], server.host, server.port, _describe(exc))
    return text


def _greet(client: _Client, server: SmtpServer) -> None:
    code, message = client.connect(server.host, server.port)
    if code != 220:
        raise ServerFault(Reply.from_smtplib(code, message))
    code, message = client.ehlo()
    if code != 250:
        if server.encryption is Encryption.STARTTLS or server.username:
            raise ServerFault(Reply.from_smtplib(code, message))
        code, message = client.helo()
        if code != 250:
            raise ServerFault(Reply.from_smtplib(code, message))


def _start_tls(client: _Client) -> None:
    if not client.has_extn("starttls"):
        raise ServerFault(Reply.none("STARTTLS required but not offered by the server; no plaintext fallback"))
    try:
        code, message = client.starttls()
    except smtplib.SMTPResponseException as exc:
        raise ServerFault(Reply.from_smtplib(exc.smtp_code, exc.smtp_error)) from exc
    if code != 220:
        raise ServerFault(Reply.from_smtplib(code, message))
    code, message = client.ehlo()
    if code != 250:
        raise ServerFault(Reply.from_smtplib(code, message))


def auth_mechanism(client: _Client, server: SmtpServer) -> str:
    """The mechanism to log in with; ServerFault when credentials may not (plaintext) or cannot be sent."""
    if not may_authenticate(server.host, isinstance(client.sock, ssl.SSLSocket)):
        raise ServerFault(Reply.none("refusing to send credentials over plaintext to a non-loopback host"))
    offered = client.esmtp_features.get("auth", "").upper().split()
    mechanism = next((name for name in ("PLAIN", "LOGIN") if name in offered), None)
    if mechanism is None:
        raise ServerFault(Reply.none(f"no supported AUTH mechanism offered (offered: {' '.join(offered) or 'none'})"))
    return mechanism


def _authenticate(client: _Client, server: SmtpServer) -> None:
    mechanism = auth_mechanism(client, server)
    # One mechanism, once: retrying a refused password with another mechanism only risks a lockout.
    client.user, client.password = server.username or "", server.password or ""
    try:
        client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
    except smtplib.SMTPResponseException as exc:
        # smtplib's message holds the server's reply only, never the password.
        raise ServerFault(Reply.from_smtplib(exc.smtp_code, exc.smtp_error)) from exc
    finally:
        client.password = ""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
