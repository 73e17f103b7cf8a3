"""STARTTLS, implicit TLS and AUTH with trustme certificates; never plaintext fallback."""

from __future__ import annotations

import pytest

from mailer.smtp.connection import may_authenticate, tls_context
from mailer.smtp.results import Outcome
from mailer.smtp.settings import Encryption
from tests.smtp.smtpd import Authenticator


@pytest.fixture
def starttls_smtpd(smtpd_factory, recorder, tls_context):
    return smtpd_factory(recorder, tls_context=tls_context, require_starttls=True)


def test_starttls_with_trusted_ca(handler, starttls_smtpd, recorder, make_server, make_mail, ca_file) -> None:
    """STARTTLS to a server whose certificate our CA issued: sent."""
    server = make_server(starttls_smtpd.port, encryption=Encryption.STARTTLS, ca_file=ca_file)
    [result] = handler.send(server, make_mail("a@example.com"))
    assert result.outcome is Outcome.SENT
    assert len(recorder.messages) == 1


def test_starttls_untrusted_ca_refused(handler, starttls_smtpd, recorder, make_server, make_mail, untrusted_ca_file):
    """A certificate from a CA we do not trust: TLS failure, deferred, nothing sent."""
    server = make_server(starttls_smtpd.port, encryption=Encryption.STARTTLS, ca_file=untrusted_ca_file)
    [result] = handler.send(server, make_mail("a@example.com"))
    assert result.outcome is Outcome.DEFERRED and "TLS failure" in result.response
    assert recorder.messages == []


def test_starttls_wrong_hostname_refused(
    handler, smtpd_factory, recorder, wrong_host_tls_context, make_server, make_mail, ca_file
) -> None:
    """A trusted certificate for another host name is refused."""
    smtpd = smtpd_factory(recorder, tls_context=wrong_host_tls_context)
    server = make_server(smtpd.port, encryption=Encryption.STARTTLS, ca_file=ca_file)
    [result] = handler.send(server, make_mail("a@example.com"))
    assert result.outcome is Outcome.DEFERRED and "TLS failure" in result.response
    assert recorder.messages == []


def test_verify_off_accepts_untrusted(handler, starttls_smtpd, make_server, make_mail, untrusted_ca_file) -> None:
    """verify_tls=False is the operator's explicit choice to skip verification."""
    server = make_server(starttls_smtpd.port, encryption=Encryption.STARTTLS, verify_tls=False)
    [result] = handler.send(server, make_mail("a@example.com"))
    assert result.outcome is Outcome.SENT


def test_starttls_not_offered_defers_without_plaintext(handler, smtpd, recorder, make_server, make_mail, ca_file):
    """STARTTLS required but not offered: every recipient deferred, no MAIL sent in clear."""
    server = make_server(smtpd.port, encryption=Encryption.STARTTLS, ca_file=ca_file)
    results = handler.send(server, make_mail("a@example.com", "b@example.com"))
    assert [r.outcome for r in results] == [Outcome.DEFERRED] * 2
    assert "STARTTLS" in results[0].response
    assert recorder.commands == []


def test_implicit_tls(handler, smtpd_factory, recorder, tls_context, make_server, make_mail, ca_file) -> None:
    """encryption=ssl: TLS from the first byte."""
    smtpd = smtpd_factory(recorder, ssl_context=tls_context)
    server = make_server(smtpd.port, encryption=Encryption.SSL, ca_file=ca_file)
    [result] = handler.send(server, make_mail("a@example.com"))
    assert result.outcome is Outcome.SENT and len(recorder.messages) == 1


def test_implicit_tls_untrusted_refused(
    handler, smtpd_factory, recorder, tls_context, make_server, make_mail, untrusted_ca_file
) -> None:
    smtpd = smtpd_factory(recorder, ssl_context=tls_context)
    server = make_server(smtpd.port, encryption=Encryption.SSL, ca_file=untrusted_ca_file)
    [result] = handler.send(server, make_mail("a@example.com"))
    assert result.outcome is Outcome.DEFERRED and recorder.messages == []


@pytest.fixture
def auth_smtpd(smtpd_factory, recorder, tls_context):
    authenticator = Authenticator("mailer", "s3cret-pw")
    controller = smtpd_factory(
        recorder, tls_context=tls_context, require_starttls=True, authenticator=authenticator, auth_required=True
    )
    return controller, authenticator


def test_auth_over_starttls(handler, auth_smtpd, recorder, make_server, make_mail, ca_file) -> None:
    smtpd, authenticator = auth_smtpd
    server = make_server(
        smtpd.port, encryption=Encryption.STARTTLS, ca_file=ca_file, username="mailer", password="s3cret-pw"
    )
    [result] = handler.send(server, make_mail("a@example.com"))
    assert result.outcome is Outcome.SENT
    assert authenticator.attempts == ["mailer"]


def test_auth_535_defers_everyone_and_leaks_no_password(handler, auth_smtpd, make_server, make_mail, ca_file):
    """Bad credentials are a fault of the server setup: deferred, never failed."""
    smtpd, _ = auth_smtpd
    server = make_server(
        smtpd.port, encryption=Encryption.STARTTLS, ca_file=ca_file, username="mailer", password="wrong-pw"
    )
    results = handler.send(server, make_mail("a@example.com", "b@example.com"))
    assert [(r.outcome, r.smtp_code) for r in results] == [(Outcome.DEFERRED, 535)] * 2
    assert "wrong-pw" not in repr(results) and "wrong-pw" not in repr(server)


def test_auth_refused_over_plaintext_to_remote_host() -> None:
    """The decision: credentials go only over TLS or to loopback."""
    assert may_authenticate("smtp.example.com", tls_active=True)
    assert not may_authenticate("smtp.example.com", tls_active=False)
    assert not may_authenticate("10.0.0.5", tls_active=False)
    assert may_authenticate("127.0.0.1", tls_active=False)
    assert may_authenticate("::1", tls_active=False)
    assert may_authenticate("localhost", tls_active=False)


def test_tls_context_built_once_per_settings(ca_file) -> None:
    """create_default_context costs ~50 ms: one per (verify, ca_file) per process."""
    assert tls_context(True, ca_file) is tls_context(True, ca_file)
    assert tls_context(False, ca_file) is not tls_context(True, ca_file)
