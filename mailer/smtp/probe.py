"""A test connection to a relay: connect, EHLO, STARTTLS, AUTH, QUIT, with each step's reply.

The same client as delivery (deadline, TLS context and verification, SSRF guard, no credentials in
clear to a non-loopback host), but the session is never pooled and stops at the first failing step.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mailer.smtp.connection import (
    CONNECTION_FAILED,
    NETWORK_ERRORS,
    TLS_FAILURE,
    ServerFault,
    _Client,
    auth_mechanism,
    network_failure,
)
from mailer.smtp.settings import Encryption, SmtpServer

Step = Callable[[str, int, bytes | str, bool], None]


@dataclass(frozen=True)
class ProbeStep:
    step: str
    reply: str


@dataclass
class ProbeResult:
    steps: list[ProbeStep] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _StepFailedError(Exception):
    pass


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    first = text.splitlines()[0] if text else ""
    return f"{code} {first}".strip()


def probe_server(server: SmtpServer) -> ProbeResult:
    """Every step up to QUIT, or up to the first that failed (its reason in ``error``). Never raises."""
    result = ProbeResult()
    if server.unusable:
        result.error = server.unusable
        return result
    # The whole test, every step together, within one timeout (API.md §10), not 4 x per step: it holds a web worker.
    client = _Client(server, time.monotonic() + server.timeout)

    def step(name: str, code: int, message: bytes | str, ok: bool) -> None:
        result.steps.append(ProbeStep(name, _reply(code, message)))
        if not ok:
            raise _StepFailedError(f"{name} refused: {_reply(code, message)}")

    try:
        code, message = client.connect(server.host, server.port)
        step("connect", code, message, code == 220)
        code, message = client.ehlo()
        step("ehlo", code, message, code == 250)
        if server.encryption is Encryption.STARTTLS:
            if not client.has_extn("starttls"):
                raise _StepFailedError("STARTTLS required but not offered by the server")
            code, message = client.starttls()
            step("starttls", code, message, code == 220)
            code, message = client.ehlo()
            step("ehlo", code, message, code == 250)
        if server.username:
            _authenticate(client, server, step)
        code, message = client.quit()
        step("quit", code, message, True)
    except _StepFailedError as exc:
        result.error = str(exc)
    except smtplib.SMTPResponseException as exc:
        result.steps.append(ProbeStep("error", _reply(exc.smtp_code, exc.smtp_error)))
        result.error = _reply(exc.smtp_code, exc.smtp_error)
    except ssl.SSLError as exc:
        result.error = network_failure(TLS_FAILURE, server, exc)
    except NETWORK_ERRORS as exc:
        result.error = network_failure(CONNECTION_FAILED, server, exc)
    finally:
        client.close()
    return result


def _authenticate(client: _Client, server: SmtpServer, step: Step) -> None:
    try:
        mechanism = auth_mechanism(client, server)
    except ServerFault as fault:
        raise _StepFailedError(fault.reply.line) from None
    client.user, client.password = server.username or "", server.password or ""
    try:
        code, message = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
    except smtplib.SMTPAuthenticationError as exc:
        step("auth", exc.smtp_code, exc.smtp_error, False)
        return
    finally:
        client.password = ""
    step("auth", code, message, code == 235)
