"""The inbound receiver (real aiosmtpd on a free port): only genuine token addresses, bounded, store then enqueue."""

from __future__ import annotations

import base64
import smtplib
import uuid

from flask import Flask
from redis import Redis
from sqlalchemy import select

from mailer.extensions import db
from mailer.mail.recipient_tokens import TokenKind, make_token, read_token, token_address
from mailer.models import InboundReport
from tests.feedback import samples
from tests.feedback.rig import BOUNCE_DOMAIN, Receiver, report_statuses


def _verp(app: Flask, rid: uuid.UUID | None = None) -> str:
    return token_address(app.config["MAILER"], TokenKind.BOUNCE, rid or uuid.uuid4())


def test_other_domains_are_refused_so_it_is_never_a_relay(bounce_app: Flask, receiver: Receiver) -> None:
    """RCPT to any other domain → 550 5.7.1, and nothing is stored."""
    code, text = receiver.send("ann@example.com", b"Subject: x\r\n\r\nhi\r\n")
    assert code == 550 and text.startswith(b"5.7.1")
    code, _ = receiver.send(f"b-x@sub.{BOUNCE_DOMAIN}", b"Subject: x\r\n\r\nhi\r\n")
    assert code == 550
    assert report_statuses(bounce_app) == []


def test_forged_and_unknown_tokens_are_refused(bounce_app: Flask, receiver: Receiver) -> None:
    """A token with a changed character, a made-up one, or a bare address on the domain → 550 5.1.1."""
    genuine = _verp(bounce_app)
    local, _, domain = genuine.partition("@")
    forged = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"
    for address in (forged, f"b-{'a' * 42}@{BOUNCE_DOMAIN}", f"postmaster@{BOUNCE_DOMAIN}"):
        code, text = receiver.send(address, b"Subject: x\r\n\r\nhi\r\n")
        assert (code, text[:5]) == (550, b"5.1.1"), address
    assert report_statuses(bounce_app) == []


def test_a_token_differing_only_in_its_last_characters_unused_bits_is_refused(bounce_app: Flask) -> None:
    """Base32 leaves low bits of the last character unused: a variant that decodes to the same bytes is not ours."""
    config = bounce_app.config["MAILER"]
    token = make_token(config, TokenKind.BOUNCE, uuid.uuid4())
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    twins = [c for c in alphabet if c != token[-1] and _decodes_alike(token, token[:-1] + c)]
    assert twins, "26 bytes in 42 base32 characters leave 0 to 4 unused bits: 2 here"
    assert read_token(config, TokenKind.BOUNCE, token) is not None
    assert all(read_token(config, TokenKind.BOUNCE, token[:-1] + c) is None for c in twins)


def _decodes_alike(a: str, b: str) -> bool:
    def raw(t: str) -> bytes:
        return base64.b32decode(t.upper() + "=" * (-len(t) % 8))

    return raw(a) == raw(b)


def test_a_report_over_10_mib_is_refused_with_552(bounce_app: Flask, receiver: Receiver) -> None:
    """The data size limit answers 552; nothing is stored."""
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (11 * 1024)
    try:
        code, _ = receiver.send(_verp(bounce_app), big)
    except smtplib.SMTPResponseException as exc:  # the server may answer before the client finishes
        code = exc.smtp_code
    except smtplib.SMTPServerDisconnected:
        code = 552
    assert code == 552
    assert report_statuses(bounce_app) == []


def test_a_genuine_report_is_stored_raw_and_a_drain_job_waits_for_it(bounce_app: Flask, receiver: Receiver,
                                                                     redis: Redis) -> None:
    """250, one pending row with the exact bytes, one drain job (no arguments); a report arriving while that
    job waits adds none, and once a job has started the next report gets one of its own."""
    from mailer.feedback.inbox import DRAIN_JOB, drain_started
    from mailer.queues import get_queue

    rid = uuid.uuid4()
    raw = samples.auto_reply(to="x")
    code, _ = receiver.send(_verp(bounce_app, rid), raw)
    assert code == 250
    with bounce_app.app_context():
        [report] = db.session.scalars(select(InboundReport)).all()
        assert (report.status, report.token_kind, report.recipient_id) == ("pending", "b", rid)
        assert report.raw.replace(b"\r\n", b"\n").rstrip() == raw.replace(b"\r\n", b"\n").rstrip()
    [job] = get_queue("bulk", redis).get_jobs()
    assert job.func_name == DRAIN_JOB and list(job.args) == []
    assert receiver.send(_verp(bounce_app), raw)[0] == 250
    assert len(get_queue("bulk", redis).get_jobs()) == 1
    with bounce_app.app_context():
        drain_started()
    assert receiver.send(_verp(bounce_app), raw)[0] == 250
    assert len(get_queue("bulk", redis).get_jobs()) == 2


def test_with_redis_down_the_report_is_kept_and_the_sweep_enqueues_it(app_factory, redis: Redis) -> None:
    """The receiver stores the report even when Redis is unreachable; a later sweep hook enqueues it."""
    from datetime import timedelta

    from mailer.feedback import inbox
    from mailer.feedback.receiver import make_controller
    from tests.fixtures import free_port
    from tests.helpers import create_tenant

    down = app_factory(BOUNCE_DOMAIN=BOUNCE_DOMAIN, REDIS_URL="redis://127.0.0.1:1/0")
    create_tenant(down)
    port = free_port()
    controller = make_controller(down, "127.0.0.1", port)
    controller.start()
    try:
        code, _ = Receiver("127.0.0.1", port).send(_verp(down), samples.auto_reply(to="x"))
    finally:
        controller.stop()
    assert code == 250 and report_statuses(down) == ["pending"]
    up = app_factory(BOUNCE_DOMAIN=BOUNCE_DOMAIN)
    grace, inbox.SWEEP_GRACE = inbox.SWEEP_GRACE, timedelta(0)
    try:
        with up.app_context():
            inbox.enqueue_pending_reports()
    finally:
        inbox.SWEEP_GRACE = grace
    from mailer.queues import get_queue

    assert len(get_queue("bulk", redis).get_jobs()) == 1
