"""The SMTP submission server (API.md §13) on aiosmtpd: STARTTLS on one port, implicit TLS on another.

A session parses and answers; every rule comes from the services POST /v1/messages uses
(notifications/submission_service, security/api_keys). MAIL's, RCPT's and AUTH's database and Redis work
runs in a thread pool inside an app context, and DATA's checks and storage in the writer thread (writer.py),
so a slow commit never stalls the other sessions' dialogue. What aiosmtpd 1.4.6
does not give exactly as §13 says is done here:

- its ``require_starttls`` lets only NOOP, EHLO, STARTTLS and QUIT through and answers without an enhanced
  code; §13 also lets HELO and RSET through and answers ``530 5.7.0``, so the gate is ours (``_gated``);
- its size replies carry no enhanced code (``552 5.3.4`` here, ``_REPLIES``);
- its idle timeout closes silently (``421 4.4.2`` here); it has no session bounds (``SessionSlots``);
- its authenticator is called synchronously: the API key lookup would block the event loop, so the
  mechanisms parse the credentials and the check runs in the pool (``_check_credentials``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from mailer.config import Config
from mailer.errors import IdempotencyConflictError, QuotaExceededError
from mailer.extensions import db
from mailer.mail.submitted import SenderRefusedError, Submission
from mailer.notifications.submission_service import (
    REFUSALS,
    check_recipient_room,
    may_submit_as,
    quota_room,
)
from mailer.security.api_keys import resolve_api_key
from mailer.security.types import Principal
from mailer.smtp.validation import MessageValidationError, normalize_address
from mailer.submission.limits import AuthFailures, MessageRate, QuotaRooms, SessionSlots
from mailer.submission.writer import SubmissionWriter

log = logging.getLogger(__name__)
T = TypeVar("T")

ALLOWED_BEFORE_TLS = frozenset({"EHLO", "HELO", "STARTTLS", "NOOP", "RSET", "QUIT"})
NEED_TLS = "530 5.7.0 Must issue a STARTTLS command first"
IDLE = b"421 4.4.2 Idle timeout, closing connection\r\n"
TEMPORARY = "451 4.3.0 Temporary failure, message not accepted; try again later"
# aiosmtpd's own replies, with the enhanced codes of §13.
_REPLIES = {
    "552 Error: message size exceeds fixed maximum message size":
        "552 5.3.4 Message size exceeds fixed maximum message size",
    "552 Error: Too much mail data": "552 5.3.4 Message size exceeds fixed maximum message size",
}
_NULL_SENDER = re.compile(r"^\s*FROM:\s*<>", re.IGNORECASE)
_WORKERS = 8
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# What get_angle_addr reads the same way: <dot-atom@dot-atom>, then whitespace (a comment after it goes to the parser).
_PLAIN_ANGLE_ADDR = re.compile(rf"^[ \t]*<({_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*)>[ \t]*(.*)$", re.DOTALL)


class Runner:
    """Runs blocking work (database, Redis) in a pool, each call in its own app context."""

    def __init__(self, app: Flask, workers: int = _WORKERS) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="submission")

    async def __call__(self, work: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._in_context, work, args)

    def _in_context(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self.app.app_context():
            try:
                return work(*args)
            finally:
                db.session.remove()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class SubmissionHandler:
    """aiosmtpd handler hooks: MAIL (sender domain, rate), RCPT (count, syntax, quota), DATA (store)."""

    def __init__(self, app: Flask, runner: Runner) -> None:
        self.config: Config = app.config["MAILER"]
        self.run = runner
        self.rooms = QuotaRooms()
        self.writer = SubmissionWriter(app, self.rooms)
        self.rate = MessageRate(self.config)
        self.failed_auth = AuthFailures()

    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        principal: Principal = session.auth_data
        try:
            sender = normalize_address(address, field="MAIL FROM")
        except MessageValidationError:
            return "553 5.1.7 Bad sender address syntax"
        # A session sends as one address again and again: its verdict is asked once per session.
        allowed: dict[str, bool] = session.__dict__.setdefault("senders_checked", {})
        try:
            if sender not in allowed:
                allowed[sender] = await self.run(may_submit_as, principal, sender)
            if not allowed[sender]:
                return "550 5.7.1 Sender address not allowed: use a domain this tenant may send as"
            wait, room = await self.run(self._spend_and_measure, principal)
        except SQLAlchemyError:
            log.exception("MAIL could not be checked")
            return TEMPORARY
        if wait is not None:
            return f"451 4.7.1 Rate limit exceeded, try again in {wait} seconds"
        session.quota_room = room
        envelope.mail_from = sender
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.config.MAX_RECIPIENTS:
            return f"452 4.5.3 Too many recipients (at most {self.config.MAX_RECIPIENTS})"
        try:
            email = normalize_address(address, field="RCPT TO")
        except MessageValidationError:
            return "553 5.1.3 Bad recipient address syntax"
        if email.lower() in (r.lower() for r in envelope.rcpt_tos):
            return "250 2.1.5 OK"  # the same mailbox twice gets one copy
        try:
            if _may_not_fit(session, len(envelope.rcpt_tos) + 1):
                await self.run(check_recipient_room, session.auth_data, len(envelope.rcpt_tos) + 1)
        except QuotaExceededError as exc:
            return f"451 4.7.1 Daily quota exceeded, try again in {exc.headers.get('Retry-After', '60')} seconds"
        except SQLAlchemyError:
            log.exception("RCPT could not be checked")
            return TEMPORARY
        envelope.rcpt_tos.append(email)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        peer = session.peer[0] if session.peer else "unknown"
        submission = Submission(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content or b"",
                                session.host_name or "", peer, server.hostname)
        try:
            # Checked, kept and stored by the writer, together with the other sessions' messages waiting.
            result = await asyncio.wrap_future(self.writer.submit(session.auth_data, submission))
        except REFUSALS as refused:  # the whole group's (a concurrent commit took the quota room): 451 4.7.1
            return _refusal(refused)
        except Exception:  # the database refused or is unreachable: never a 250 for mail that is not stored
            log.exception("submission could not be stored")
            return TEMPORARY
        if isinstance(result, Exception):
            return _refusal(result)
        return f"250 2.0.0 OK <{result['id']}>"

    async def handle_exception(self, error: Exception) -> str:
        """Anything unexpected in a command: logged here, a temporary refusal there (aiosmtpd would answer
        ``500`` with the exception's text, which may carry what the client must not see)."""
        log.error("submission session error", exc_info=error)
        return TEMPORARY

    def _spend_and_measure(self, principal: Principal) -> tuple[int | None, int | None]:
        """In the pool, once per transaction: the rate limit's verdict and the quota room its RCPTs are held to."""
        return self.rate.retry_after(principal), self.rooms.room(principal.tenant_id, partial(quota_room, principal))

    def authenticate(self, session: Any, credentials: LoginPassword) -> AuthResult:
        """In the pool: the API key (the password; any username) → its principal, counting failures."""
        client = session.peer[0] if session.peer else "unknown"
        wait = self.failed_auth.retry_after(client)
        if wait is not None:
            return AuthResult(success=False, handled=False,
                              message=f"454 4.7.0 Too many failed authentications, try again in {wait} seconds")
        try:
            password = credentials.password.decode("utf-8")
        except UnicodeDecodeError:
            password = ""
        principal = resolve_api_key(password) if password else None
        if principal is None:
            self.failed_auth.failed(client)
            return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")
        return AuthResult(success=True, auth_data=principal)


def _may_not_fit(session: Any, count: int) -> bool:
    """Whether `count` recipients may pass the quota room known at MAIL (None: no quota; limits.QuotaRooms), so
    RCPT asks the database why; within the room it answers at once, and the commit counts again (a concurrent
    session's recipients are found there: 451 at DATA)."""
    room = getattr(session, "quota_room", None)
    return room is not None and count > room


def _refusal(refused: Exception) -> str:
    """The reply for a submission's own refusal (submission_service.REFUSALS)."""
    if isinstance(refused, SenderRefusedError):
        return "550 5.7.1 From header not allowed: use a domain this tenant may send as"
    if isinstance(refused, QuotaExceededError):
        return f"451 4.7.1 Daily quota exceeded, try again in {refused.headers.get('Retry-After', '60')} seconds"
    if isinstance(refused, IdempotencyConflictError):
        return "554 5.6.0 X-Mailer-Idempotency-Key was already used with a different message"
    return f"554 5.6.0 Message refused: {_one_line(refused)}"


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        first = errors[0]
        text = f"{first['field']}: {first['message']}" if isinstance(first, dict) else str(first.field) + ": " + \
            str(first.message)
    else:
        text = str(exc)
    return " ".join(text.split())[:200]


class SubmissionSMTP(SMTP):
    """One session: aiosmtpd's SMTP with §13's TLS gate, replies, bounds and an asynchronous AUTH check."""

    def __init__(self, handler: SubmissionHandler, *, slots: SessionSlots, implicit_tls: bool,
                 **kwargs: Any) -> None:
        super().__init__(handler, authenticator=self._parsed_only, **kwargs)
        self.slots = slots
        self.implicit_tls = implicit_tls
        self._client: str | None = None
        if implicit_tls:
            self._auth_require_tls = False  # the whole connection is TLS: AUTH is offered from the start
        self._smtp_methods = {name: self._gated(name, method) for name, method in self._smtp_methods.items()}

    # -- TLS gate -------------------------------------------------------------------------------------------
    @property
    def secure(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    def _gated(self, name: str, method: Callable[[str | None], Any]) -> Callable[[str | None], Any]:
        if name in ALLOWED_BEFORE_TLS:
            return method

        async def gate(arg: str | None) -> None:
            if not self.secure:
                await self.push(NEED_TLS)
                return
            await method(arg)

        return gate

    async def push(self, status: Any) -> None:
        await super().push(_REPLIES.get(status, status) if isinstance(status, str) else status)

    # -- bounds ---------------------------------------------------------------------------------------------
    async def _handle_client(self) -> None:
        peer = self.session.peer if self.session else None
        client = peer[0] if peer else "unknown"
        refusal = self.slots.take(client)
        if refusal is not None:
            await self.push(refusal)
            if self.transport is not None:
                self.transport.close()
            return
        self._client = client
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        if self._client is not None:
            self.slots.release(self._client)
            self._client = None
        super().connection_lost(error)

    def _timeout_cb(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(IDLE)
        super()._timeout_cb()

    # -- MAIL, RCPT -----------------------------------------------------------------------------------------
    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's reading of the argument (its address and the parameters after it), a plain
        ``<dot-atom@domain>`` by a pattern: the email package's header parser, which aiosmtpd reads every form
        with, costs ~90 µs an address, a tenth of the event loop's time."""
        plain = _PLAIN_ANGLE_ADDR.match(arg)
        if plain is None or plain.group(2).startswith("("):
            return super()._getaddr(arg)
        address, rest = plain.groups()
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    async def smtp_MAIL(self, arg: str | None) -> None:
        if arg and self.session.authenticated and self.session.host_name and _NULL_SENDER.match(arg):
            await self.push("550 5.7.1 The null sender is not accepted for submission")
            return
        await super().smtp_MAIL(arg)

    # -- AUTH -----------------------------------------------------------------------------------------------
    @staticmethod
    def _parsed_only(server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        """The synchronous authenticator hands the parsed credentials back; the check follows in the pool."""
        return AuthResult(success=False, handled=False, auth_data=data)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._check_credentials(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._check_credentials(await super().auth_LOGIN(_, args))

    async def _check_credentials(self, parsed: AuthResult) -> AuthResult:
        if not isinstance(parsed.auth_data, LoginPassword):
            return parsed  # the mechanism already answered (bad base64, aborted)
        handler: SubmissionHandler = self.event_handler
        try:
            return await handler.run(handler.authenticate, self.session, parsed.auth_data)
        except Exception:
            log.exception("AUTH could not be checked")
            return AuthResult(success=False, handled=False,
                              message="454 4.7.0 Temporary authentication failure, try again later")


class SubmissionController(Controller):
    """One listening port; every session of every port shares the handler, the pool and the slots."""

    def __init__(self, handler: SubmissionHandler, *, slots: SessionSlots, implicit_tls: bool,
                 **kwargs: Any) -> None:
        self.slots = slots
        self.implicit_tls = implicit_tls
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        return SubmissionSMTP(self.handler, slots=self.slots, implicit_tls=self.implicit_tls, **self.SMTP_kwargs)


class SubmissionServer:
    """Both ports of one process."""

    def __init__(self, app: Flask, host: str, port: int, tls_port: int | None, context: ssl.SSLContext,
                 hostname: str) -> None:
        config: Config = app.config["MAILER"]
        self.runner = Runner(app)
        self.handler = SubmissionHandler(app, self.runner)
        self.slots = slots = SessionSlots(config.SUBMISSION_MAX_SESSIONS, config.SUBMISSION_MAX_PER_CLIENT)
        common: dict[str, Any] = {
            "hostname": host, "server_hostname": hostname, "ident": "Mailer submission",
            "data_size_limit": config.MAX_MESSAGE_BYTES, "enable_SMTPUTF8": False,
            "timeout": config.SUBMISSION_IDLE_TIMEOUT_SECONDS, "auth_required": True,
            # A session may try a command this often (AUTH, MAIL, RCPT...): a bound on what one connection costs.
            "command_call_limit": {"AUTH": 20, "*": 10_000},
        }
        self.controllers = [SubmissionController(self.handler, slots=slots, implicit_tls=False, port=port,
                                                 tls_context=context, require_starttls=False, **common)]
        if tls_port:
            self.controllers.append(SubmissionController(self.handler, slots=slots, implicit_tls=True,
                                                         port=tls_port, ssl_context=context, **common))

    def start(self) -> None:
        for controller in self.controllers:
            controller.start()
        # Each controller's start-up probe took a slot; a client arriving before its release would be refused.
        self.slots.wait_idle(timeout=5.0)

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()
        self.runner.close()
        self.handler.writer.close()


def run_server(app: Flask, host: str, port: int, tls_port: int | None) -> None:
    """Serve until SIGINT/SIGTERM."""
    import signal  # noqa: PLC0415 - only the command-line server handles signals
    import socket  # noqa: PLC0415 - the FQDN is asked once, here
    import threading  # noqa: PLC0415 - the main thread waits while the controllers serve

    from mailer.submission.tls import server_context  # noqa: PLC0415 - TLS material is made only to serve

    config: Config = app.config["MAILER"]
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
    hostname = config.SMTP_HELO_NAME or socket.getfqdn()
    server = SubmissionServer(app, host, port, tls_port, server_context(config, hostname), hostname)
    server.start()
    log.info("SMTP submission listening on %s:%s (STARTTLS)%s", host, port,
             f" and {host}:{tls_port} (implicit TLS)" if tls_port else "")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
