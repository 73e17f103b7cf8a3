"""Erasure reaches every copy of the address (API.md §11, review N6), checked by scanning EVERY column of EVERY
table afterwards: text, JSON, and bytes decoded every way mail encodes them (MIME parts and headers, base64 at
any alignment, quoted-printable). Copies: mail to other people naming it (Reply-To, Bcc with a base64 body, a
quoted-printable body, an attachment), a manual suppression's ``suppression.created`` webhook event, and a
stored bounce whose recipient row was purged before the erasure."""

from __future__ import annotations

import base64
import json
import quopri
import re
import uuid
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from mailer.extensions import db
from mailer.models import InboundReport, Message
from mailer.security.address_digest import address_digest
from tests.fixtures import drain
from tests.helpers import bearer, create_tenant, login

ANN = "ann@example.com"
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=\r\n]{12,}")


def _decodings(raw: bytes) -> list[str]:
    """Every readable form of stored bytes: as is, QP-decoded, base64 runs at each offset, MIME decoded."""
    forms = [raw.decode("utf-8", "replace"), quopri.decodestring(raw).decode("utf-8", "replace")]
    for run in BASE64_RUN.findall(raw):
        compact = re.sub(rb"\s", b"", run)
        for start in range(4):
            chunk = compact[start:][: (len(compact) - start) // 4 * 4]
            forms.append(base64.b64decode(chunk + b"==", validate=False).decode("utf-8", "replace"))
    try:
        parsed = message_from_bytes(raw, policy=default_policy)
        for part in parsed.walk():
            forms += [str(value) for value in part.values()]
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                forms.append(payload.decode("utf-8", "replace"))
    except Exception:  # not mail: the other forms cover it
        pass
    return forms


def _forms(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bytes | memoryview):
        return _decodings(bytes(value))
    if isinstance(value, dict | list):
        return [json.dumps(value, ensure_ascii=False)]
    if isinstance(value, str):
        try:  # a JSON document stored as text
            return [value, json.dumps(json.loads(value), ensure_ascii=False)]
        except ValueError:
            return [value]
    return [str(value)]


def holding(app: Any, needle: str) -> list[str]:
    """table.column of every value in the whole database that holds ``needle`` in any form."""
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()).mappings():
                for column, value in row.items():
                    if any(needle in form.lower() for form in _forms(value)):
                        found.append(f"{table.name}.{column}")
    return found


def _bounce_about(address: str) -> bytes:
    """A DSN whose returned message carries the address in a base64 body and in a header."""
    report = EmailMessage()
    report["From"] = "MAILER-DAEMON@mx.example.com"
    report["To"] = "b-x@bounces.mailer.test"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.set_content("This is the mail system.")
    returned = EmailMessage()
    returned["From"] = "no-reply@acme.test"
    returned["To"] = address
    returned.set_content(f"Привет, {address}!", cte="base64")
    report.add_attachment(returned)
    return report.as_bytes()


def test_after_an_erasure_no_column_of_any_table_holds_the_address_in_any_encoding(app_factory, sink, redis):
    app = app_factory(SMTP_PORT=sink.port, BOUNCE_DOMAIN="bounces.mailer.test", WEBHOOK_ALLOW_PRIVATE=True)
    create_tenant(app)
    client = app.test_client()
    admin = bearer(login(client, "acme", "admin@acme.test"))
    assert client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["suppression.created"]},
                       headers=admin).status_code == 201
    messages = [
        {"to": [{"email": ANN, "name": "Ann Example"}], "subject": f"For {ANN}", "text": f"Dear {ANN}",
         "metadata": {"who": ANN}, "tags": [ANN]},
        {"to": ["bob@example.com"], "subject": "Hello", "text": "Ask Ann.", "reply_to": {"email": ANN, "name": "Ann"}},
        {"to": ["carl@example.com"], "bcc": [ANN], "subject": "Привет", "text": f"Привет Карл, пиши {ANN} — Аня. " * 3},
        {"to": ["dave@example.com"], "subject": "Long", "text": "é" + "x" * 70 + f" {ANN} " + "y" * 90},
        {"to": ["erin@example.com"], "subject": "File", "text": "see attached",
         "attachments": [{"filename": "list.csv", "content_type": "application/octet-stream",
                          "content": base64.b64encode(f"name,email\nAnn,{ANN}\n".encode()).decode()}]},
    ]
    ids = []
    for body in messages:
        response = client.post("/v1/messages", json=body, headers=admin)
        assert response.status_code == 202, response.get_json()
        ids.append(uuid.UUID(response.get_json()["id"]))
    assert client.post("/v1/suppressions", json={"email": ANN}, headers=admin).status_code == 201
    drain(app, redis)
    with app.app_context():  # a stored bounce whose recipient row is gone (purged by retention)
        db.session.add(InboundReport(token_kind="b", recipient_id=uuid.uuid4(), raw=_bounce_about(ANN)))
        db.session.commit()
    before = set(holding(app, ANN))
    assert {"messages.raw_mime", "webhook_events.data", "inbound_reports.raw", "suppressions.email"} <= before
    with app.app_context():  # the Bcc'd copy has the address only inside its base64 body (no header)
        carl = db.session.get(Message, ids[2]).raw_mime
        assert ANN.encode() not in carl and b"base64" in carl.lower()

    response = client.post("/v1/erasures", json={"email": ANN}, headers=admin)
    assert response.status_code == 202 and response.get_json()["status"] == "done"

    assert holding(app, ANN) == []
    digest = address_digest(app.config["MAILER"], ANN)
    with app.app_context():
        bob = message_from_bytes(db.session.get(Message, ids[1]).raw_mime, policy=default_policy)
        assert str(bob["Reply-To"]) == digest and str(bob["To"]) == "bob@example.com"
        dave = message_from_bytes(db.session.get(Message, ids[3]).raw_mime, policy=default_policy)
        assert digest in dave.get_body(("plain",)).get_content() and "y" * 90 in dave.get_body(("plain",)).get_content()
        erin = db.session.get(Message, ids[4]).raw_mime
        assert b"list.csv" not in erin  # attachments of a copy the address appears in are dropped
    assert client.post("/v1/messages", json={"to": [ANN], "subject": "s", "text": "t"},
                       headers=admin).get_json()["recipients"][0]["status"] == "failed"  # still suppressed
