"""Mail submitted over SMTP is a message like POST /v1/messages' (kind custom), kept as the application made it."""

from __future__ import annotations

import smtplib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from redis import Redis
from sqlalchemy import event, select, text

from mailer.errors import IdempotencyConflictError
from mailer.extensions import db
from mailer.mail.submitted import Submission as SubmittedMail
from mailer.models import AuditEvent, Message, Recipient, Tenant
from mailer.notifications.submission_service import store_submitted
from mailer.security.api_keys import resolve_api_key
from tests.fixtures import Drainer, Sink
from tests.helpers import bearer, create_tenant, login
from tests.submission.conftest import SENDER, Submission, make_key


def _stored(submission: Submission, message_id: str) -> Message:
    message = db.session.get(Message, uuid.UUID(message_id))
    assert message is not None
    return message


def _send(client: smtplib.SMTP, raw: bytes, rcpts: list[str], sender: str = SENDER) -> tuple[int, str]:
    """MAIL, RCPT…, DATA; the final reply (code, text)."""
    assert client.mail(sender)[0] == 250
    for rcpt in rcpts:
        assert client.rcpt(rcpt)[0] == 250, rcpt
    code, reply = client.data(raw)
    return code, reply.decode()


def _id_of(reply: str) -> str:
    assert reply.startswith("2.0.0 OK <") and reply.endswith(">"), reply
    return reply.removeprefix("2.0.0 OK <").removesuffix(">")


def _plain(to: str = "ann@example.com", cc: str = "", bcc: str = "", extra: str = "") -> bytes:
    lines = [f"From: App <{SENDER}>", f"To: {to}"]
    if cc:
        lines.append(f"Cc: {cc}")
    if bcc:
        lines.append(f"Bcc: {bcc}")
    lines += ["Subject: Your receipt 42", *([extra] if extra else []), "", "Thanks for your order.", ""]
    return "\r\n".join(lines).encode()


def test_to_cc_and_bcc_arrive_and_bcc_is_in_no_header(submission: Submission, sink: Sink, redis: Redis) -> None:
    client = submission.starttls()
    code, reply = _send(client, _plain(cc="cat@example.com", bcc="dan@example.com"),
                        ["ann@example.com", "cat@example.com", "dan@example.com"])
    client.quit()
    assert code == 250
    message_id = _id_of(reply)
    Drainer(submission.app, redis)()
    assert {r for m in sink.messages for r in m.rcpt_tos} == {"ann@example.com", "cat@example.com", "dan@example.com"}
    for mail in sink.messages:
        assert b"dan@example.com" not in mail.data and "Bcc" not in mail.message
        assert mail.message["Received"].startswith("from client.test ([127.0.0.1])")
        assert mail.message["Message-ID"] and mail.message["Date"]
    with submission.app.app_context():
        message = _stored(submission, message_id)
        assert message.kind == "custom" and message.subject == "Your receipt 42" and message.sender == SENDER
        assert {r.status for r in message.recipients} == {"sent"}
        assert message.status == "sent"


def test_a_multipart_message_with_an_inline_image_arrives_intact(submission: Submission, sink: Sink,
                                                                   redis: Redis) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = SENDER, "ann@example.com", "Pictures ✓"
    mail["Message-ID"] = "<app-made-1@acme.test>"
    mail["X-Campaign"] = "spring"
    mail.set_content("see the picture")
    mail.add_alternative('<p>see <img src="cid:pic@acme.test"></p>', subtype="html")
    image_bytes = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    mail.get_payload()[1].add_related(image_bytes, "image", "png", cid="<pic@acme.test>")
    raw = mail.as_bytes(policy=default_policy.clone(linesep="\r\n"))
    client = submission.implicit()
    code, reply = _send(client, raw, ["ann@example.com"])
    client.quit()
    assert code == 250
    Drainer(submission.app, redis)()
    [received] = sink.messages
    head, _, body = received.data.partition(b"\r\n\r\n")
    assert body == raw.partition(b"\r\n\r\n")[2]  # every body byte as the application made it
    assert raw.partition(b"\r\n\r\n")[0] in head  # its header lines, folded as they were, in order
    assert head.startswith(b"Received: ") and b"\r\nDate: " in head
    arrived = received.message
    assert arrived["Message-ID"] == "<app-made-1@acme.test>" and arrived["X-Campaign"] == "spring"
    assert arrived["Subject"] == "Pictures ✓"
    image = next(p for p in arrived.walk() if p.get_content_type() == "image/png")
    assert image.get_content() == b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    with submission.app.app_context():
        assert _stored(submission, _id_of(reply)).message_id_header == "<app-made-1@acme.test>"


def test_tags_metadata_and_the_idempotency_key_are_read_and_removed(submission: Submission, sink: Sink,
                                                                     redis: Redis) -> None:
    extra = ("X-Mailer-Tag: receipt\r\nX-Mailer-Tag: eu\r\nX-Mailer-Metadata-Order: 42\r\n"
             "X-Mailer-Idempotency-Key: order-42")
    raw = _plain(extra=extra)
    client = submission.starttls()
    first = _id_of(_send(client, raw, ["ann@example.com"])[1])
    again = _id_of(_send(client, raw, ["ann@example.com"])[1])
    code, reply = _send(client, raw.replace(b"Thanks", b"Thank you"), ["ann@example.com"])
    client.quit()
    assert again == first
    assert code == 554 and "5.6.0" in reply and "Idempotency" in reply
    Drainer(submission.app, redis)()
    [received] = sink.messages
    assert b"X-Mailer-" not in received.data
    with submission.app.app_context():
        message = _stored(submission, first)
        assert message.tags == ["receipt", "eu"] and message.meta == {"Order": "42"}
        assert db.session.scalar(select(db.func.count()).select_from(Message)) == 1
        # …and the API finds it: search by subject and recipient, and the detail
    client_http = submission.app.test_client()
    headers = bearer(submission.key)
    assert [m["id"] for m in client_http.get("/v1/messages?subject=receipt", headers=headers).get_json()["items"]] \
        == [first]
    assert [m["id"] for m in client_http.get("/v1/messages?email=ANN@example.com", headers=headers)
            .get_json()["items"]] == [first]
    detail = client_http.get(f"/v1/messages/{first}", headers=headers).get_json()
    assert detail["tags"] == ["receipt", "eu"] and [r["email"] for r in detail["recipients"]] == ["ann@example.com"]


def test_bad_tags_are_refused_after_data(submission: Submission) -> None:
    client = submission.starttls()
    code, reply = _send(client, _plain(extra="X-Mailer-Tag: " + "x" * 65), ["ann@example.com"])
    client.quit()
    assert code == 554 and reply.startswith("5.6.0") and "X-Mailer-Tag" in reply


def test_a_foreign_sender_domain_is_refused_at_mail_and_after_data(submission: Submission) -> None:
    client = submission.starttls()
    assert client.mail("someone@evil.test")[0] == 550
    client.rset()
    code, _ = client.mail("")  # the null sender
    assert code == 550
    client.rset()
    code, reply = _send(client, _plain().replace(SENDER.encode(), b"boss@evil.test"), ["ann@example.com"])
    assert (code, reply[:5]) == (550, "5.7.1")
    client.quit()
    with submission.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Message)) == 0


def test_injected_header_lines_are_refused(submission: Submission) -> None:
    client = submission.starttls()
    code, reply = _send(client, _plain(extra="X-Note: a\nBcc: x@example.com"), ["ann@example.com"])
    client.quit()
    assert code == 554 and reply.startswith("5.6.0")


def test_an_oversize_message_is_refused_at_mail_or_after_data(submission_factory: Any) -> None:
    submission = submission_factory(MAX_MESSAGE_BYTES=4000)
    client = submission.starttls()
    assert client.esmtp_features["size"] == "4000"
    code, reply = client.mail(SENDER, ["SIZE=5000"])
    assert code == 552 and reply.startswith(b"5.3.4")
    code, reply = _send(client, _plain(extra="X-Pad: " + "p" * 900 + ("\r\nX-Pad: " + "p" * 900) * 4),
                        ["ann@example.com"])
    assert code == 552 and reply.startswith("5.3.4")
    client.quit()


def test_too_many_recipients_get_452(submission_factory: Any) -> None:
    submission = submission_factory(MAX_RECIPIENTS=2)
    client = submission.starttls()
    client.mail(SENDER)
    assert client.rcpt("not an address")[0] == 553
    assert client.rcpt("a@example.com")[0] == 250 and client.rcpt("b@example.com")[0] == 250
    code, reply = client.rcpt("c@example.com")
    assert code == 452 and reply.startswith(b"4.5.3")
    client.quit()


def test_a_suppressed_recipient_is_accepted_recorded_and_never_sent(submission: Submission, sink: Sink,
                                                                     redis: Redis) -> None:
    http = submission.app.test_client()
    token = login(http, "acme", "admin@acme.test")
    assert http.post("/v1/suppressions", json={"email": "gone@example.com", "reason": "manual"},
                     headers=bearer(token)).status_code in (200, 201)
    client = submission.starttls()
    assert _send(client, _plain(), ["ann@example.com", "gone@example.com"])[0] == 250
    client.quit()
    Drainer(submission.app, redis)()
    assert [m.rcpt_tos for m in sink.messages] == [["ann@example.com"]]
    with submission.app.app_context():
        gone = db.session.scalars(select(Recipient).where(Recipient.email == "gone@example.com")).one()
        assert (gone.status, gone.error_code) == ("failed", "suppressed")


def test_the_message_rate_per_key_is_answered_at_mail(submission_factory: Any) -> None:
    """The key's RATELIMIT_MESSAGES bucket is the API's: a POST and a submission spend the same budget."""
    submission = submission_factory(RATELIMIT_MESSAGES="2/minute")
    response = submission.app.test_client().post("/v1/messages", headers=bearer(submission.key), json={
        "to": ["ann@example.com"], "subject": "via the API", "text": "hi"})
    assert response.status_code == 202
    client = submission.starttls()
    assert _send(client, _plain(), ["ann@example.com"])[0] == 250
    code, reply = client.mail(SENDER)
    assert code == 451 and reply.startswith(b"4.7.1") and b"try again in" in reply
    client.quit()


def test_the_daily_quota_is_answered_at_rcpt(submission_factory: Any) -> None:
    submission = submission_factory(TENANT_DAILY_QUOTA=2)
    client = submission.starttls()
    assert _send(client, _plain(), ["ann@example.com"])[0] == 250
    client.mail(SENDER)
    assert client.rcpt("bob@example.com")[0] == 250
    code, reply = client.rcpt("cat@example.com")
    assert code == 451 and reply.startswith(b"4.7.1") and b"try again in" in reply
    client.quit()


def test_a_database_refusing_the_write_gets_451_and_nothing_is_stored(submission: Submission) -> None:
    client = submission.starttls()
    client.mail(SENDER)
    client.rcpt("ann@example.com")
    with submission.app.app_context():
        db.session.execute(text("ALTER TABLE recipients RENAME TO recipients_away"))
        db.session.commit()
    try:
        code, reply = client.data(_plain())
    finally:
        with submission.app.app_context():
            db.session.execute(text("ALTER TABLE recipients_away RENAME TO recipients"))
            db.session.commit()
    client.quit()
    assert code == 451 and reply.startswith(b"4.3.0")
    with submission.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Message)) == 0


def test_with_redis_down_the_message_is_still_committed_and_answered_250(submission_factory: Any) -> None:
    from tests.fixtures import free_port

    submission = submission_factory(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    client = submission.starttls()
    code, reply = _send(client, _plain(), ["ann@example.com"])
    client.quit()
    assert code == 250
    with submission.app.app_context():
        assert _stored(submission, _id_of(reply)).recipients[0].status == "queued"


def test_erasure_scrubs_a_submitted_message_and_its_stored_mime(submission: Submission, redis: Redis) -> None:
    client = submission.starttls()
    raw = _plain(to="Ann Example <ann@example.com>", extra="X-Mailer-Metadata-Who: ann@example.com").replace(
        b"Thanks for your order.", b"Dear ann@example.com, thanks.")
    message_id = _id_of(_send(client, raw, ["ann@example.com", "bob@example.com"])[1])
    client.quit()
    Drainer(submission.app, redis)()
    http = submission.app.test_client()
    admin = bearer(login(http, "acme", "admin@acme.test"))
    assert http.post("/v1/erasures", json={"email": "ann@example.com"}, headers=admin).get_json()["status"] == "done"
    with submission.app.app_context():
        message = _stored(submission, message_id)
        assert b"ann@example.com" not in message.raw_mime.lower() and b"@erased.invalid" in message.raw_mime
        assert "ann@example.com" not in str(message.meta)
        emails = {r.email for r in message.recipients}
        assert "bob@example.com" in emails and "ann@example.com" not in emails
    assert http.get("/v1/messages", query_string={"email": "ann@example.com"}, headers=admin).get_json()["total"] == 0


def test_the_quota_is_checked_again_at_the_commit(submission_factory: Any) -> None:
    """Two sessions both pass RCPT against the same room; the second DATA finds it taken (451, nothing stored)."""
    submission = submission_factory(TENANT_DAILY_QUOTA=2)
    first, second = submission.starttls(), submission.starttls()
    first.mail(SENDER)
    assert first.rcpt("ann@example.com")[0] == 250 and first.rcpt("bob@example.com")[0] == 250
    second.mail(SENDER)
    assert second.rcpt("cat@example.com")[0] == 250
    assert first.data(_plain())[0] == 250
    code, reply = second.data(_plain())
    assert code == 451 and reply.startswith(b"4.7.1") and b"try again in" in reply
    first.quit()
    second.quit()
    with submission.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Message)) == 1


def test_a_room_the_api_took_since_the_last_commit_is_found_by_the_next_message(submission_factory: Any) -> None:
    """MAIL may answer from the room the writer's last commit left (limits.QuotaRooms, at most a second old): a
    room the API took meanwhile is refused at RCPT or, when the known room still had it, at the commit (451 4.7.1
    either way), and nothing over the quota is stored."""
    submission = submission_factory(TENANT_DAILY_QUOTA=2)
    client = submission.starttls()
    assert _send(client, _plain(), ["ann@example.com"])[0] == 250
    response = submission.app.test_client().post("/v1/messages", headers=bearer(submission.key), json={
        "to": ["bob@example.com"], "subject": "via the API", "text": "hi"})
    assert response.status_code == 202
    assert client.mail(SENDER)[0] == 250
    code, reply = client.rcpt("cat@example.com")
    if code == 250:
        code, reply = client.data(_plain())
    assert code == 451 and reply.startswith(b"4.7.1") and b"try again in" in reply
    client.quit()
    with submission.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Recipient)) == 2


def test_messages_stored_together_share_one_delivery_job(submission: Submission, sink: Sink, redis: Redis) -> None:
    """A group's recipients of one queue go in one job (outbox.stage_together), and that job delivers them all."""
    rcpts = ["ann@example.com", "bob@example.com", "cat@example.com"]
    with submission.app.app_context():
        principal = resolve_api_key(submission.key)
        assert principal is not None
        results = store_submitted([(principal, SubmittedMail(SENDER, (rcpt,), _plain(to=rcpt), "client.test",
                                                             "127.0.0.1", "mx.test")) for rcpt in rcpts])
        db.session.remove()
        assert [r["status"] for r in results] == ["queued"] * 3  # type: ignore[index]
        assert len(set(db.session.scalars(select(Recipient.job_id)))) == 1
    Drainer(submission.app, redis)()
    assert sorted(r for m in sink.messages for r in m.rcpt_tos) == rcpts
    with submission.app.app_context():
        assert set(db.session.scalars(select(Recipient.status))) == {"sent"}


def test_messages_committed_together_keep_the_audit_chain_and_the_quota(submission: Submission) -> None:
    """Sessions whose DATA lands together share a commit: one audit event each, the chain intact, all counted."""
    clients = [submission.starttls() for _ in range(6)]
    for client in clients:
        client.mail(SENDER)
        assert client.rcpt("ann@example.com")[0] == 250
    with ThreadPoolExecutor(len(clients)) as pool:
        replies = list(pool.map(lambda client: client.data(_plain()), clients))
    for client in clients:
        client.quit()
    assert [code for code, _ in replies] == [250] * 6
    assert len({reply for _, reply in replies}) == 6
    verified = submission.app.test_cli_runner().invoke(args=["audit", "verify", "acme"])
    assert verified.exit_code == 0, verified.output
    with submission.app.app_context():
        events = db.session.scalar(select(db.func.count()).select_from(AuditEvent)
                                   .where(AuditEvent.action == "message.created"))
        assert events == 6
        assert db.session.get(Tenant, submission.tenant_id).quota_used == 6


def test_a_group_screens_each_message_on_its_own(submission: Submission) -> None:
    """Messages stored together share one suppression look-up and one INSERT per table: each keeps its own
    verdict (a message all of whose recipients are suppressed fails, its neighbours do not) and its audit event."""
    http = submission.app.test_client()
    token = login(http, "acme", "admin@acme.test")
    assert http.post("/v1/suppressions", json={"email": "gone@example.com", "reason": "manual"},
                     headers=bearer(token)).status_code in (200, 201)
    groups = [["ann@example.com", "gone@example.com"], ["gone@example.com"], ["bob@example.com"]]
    with submission.app.app_context():
        principal = resolve_api_key(submission.key)
        assert principal is not None
        results = store_submitted([(principal, SubmittedMail(SENDER, tuple(rcpts), _plain(to=rcpts[0]),
                                                             "client.test", "127.0.0.1", "mx.test"))
                                   for rcpts in groups])
        db.session.remove()
    assert [(r["status"], [x["status"] for x in r["recipients"]]) for r in results] == [  # type: ignore[index]
        ("queued", ["queued", "failed"]), ("failed", ["failed"]), ("queued", ["queued"])]
    verified = submission.app.test_cli_runner().invoke(args=["audit", "verify", "acme"])
    assert verified.exit_code == 0, verified.output
    with submission.app.app_context():
        for result in results:
            stored = _stored(submission, result["id"])  # type: ignore[index]
            assert (stored.status, sorted(r.status for r in stored.recipients)) == (
                result["status"], sorted(x["status"] for x in result["recipients"]))  # type: ignore[index]
        audited = db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == "message.created")
                                     .order_by(AuditEvent.seq)).all()
        assert [d["message_id"] for d in audited] == [r["id"] for r in results]  # type: ignore[index]


def test_each_session_of_one_writer_group_gets_its_own_answer(submission: Submission) -> None:
    """Three sessions of two tenants whose DATA wait together for the writer are prepared and stored as one
    group: tenant B's message From tenant A's domain gets 550 5.7.1 and is stored nowhere; the others get 250."""
    app = submission.app
    beta = uuid.UUID(create_tenant(app, "beta", "admin@beta.test", mail_from="app@beta.test")["tenant_id"])
    beta_key = make_key(app, beta)
    writer = submission.server.handler.writer
    held, release = threading.Event(), threading.Event()

    def hold_the_writer(*_: Any) -> None:  # its first statement waits until the group has queued up
        if threading.current_thread().name == "submission-writer" and not held.is_set():
            held.set()
            release.wait(10)

    def session(key: str, sender: str, from_header: str) -> smtplib.SMTP:
        client = submission.starttls(login=False)
        client.login("anyone", key)
        client.mail(sender)
        assert client.rcpt("ann@example.com")[0] == 250
        client.from_header = from_header  # type: ignore[attr-defined]
        return client

    first = session(submission.key, SENDER, SENDER)
    group = [session(submission.key, SENDER, SENDER), session(beta_key, "app@beta.test", SENDER),
             session(beta_key, "app@beta.test", "app@beta.test")]
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", hold_the_writer)
    try:
        with ThreadPoolExecutor(4) as pool:
            waiting = pool.submit(first.data, _plain())
            assert held.wait(10)
            replies = [pool.submit(client.data, _plain().replace(SENDER.encode(), client.from_header.encode()))
                       for client in group]
            deadline = time.monotonic() + 10
            while writer._queue.qsize() < len(group) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert writer._queue.qsize() == len(group)  # one group: all three wait while the first is stored
            release.set()
            assert waiting.result()[0] == 250
            answers = [(code, reply.decode()) for code, reply in (reply.result() for reply in replies)]
    finally:
        release.set()
        event.remove(engine, "before_cursor_execute", hold_the_writer)
    for client in [first, *group]:
        client.quit()
    assert [code for code, _ in answers] == [250, 550, 250]
    assert answers[1][1].startswith("5.7.1")
    with app.app_context():
        stored = {(m.tenant_id, m.sender) for m in db.session.scalars(select(Message))}
        assert stored == {(submission.tenant_id, SENDER), (beta, "app@beta.test")}
        assert _stored(submission, _id_of(answers[2][1])).tenant_id == beta
        counts = dict(db.session.execute(select(Message.tenant_id, db.func.count()).group_by(Message.tenant_id)).all())
        assert counts == {submission.tenant_id: 2, beta: 1}


def test_an_idempotency_conflict_refuses_its_own_message_not_its_group(submission: Submission) -> None:
    keyed = _plain(extra="X-Mailer-Idempotency-Key: order-7")
    with submission.app.app_context():
        principal = resolve_api_key(submission.key)
        assert principal is not None

        def mail(raw: bytes) -> tuple[Any, SubmittedMail]:
            return principal, SubmittedMail(SENDER, ("ann@example.com",), raw, "client.test", "127.0.0.1", "mx.test")

        [first] = store_submitted([mail(keyed)])
        conflict, neighbour = store_submitted([mail(keyed.replace(b"Thanks", b"Thank you")), mail(_plain())])
        db.session.remove()
        assert isinstance(conflict, IdempotencyConflictError)
        assert isinstance(first, dict) and isinstance(neighbour, dict) and neighbour["status"] == "queued"
        assert db.session.scalar(select(db.func.count()).select_from(Message)) == 2
