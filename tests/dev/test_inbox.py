"""/dev/inbox: the dev SMTP sink's mail, newest first, one message with sandboxed HTML. Debug only."""

from __future__ import annotations

import os
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from mailer.dev.smtp_sink import DevMailHandler
from tests.fixtures import Drainer, free_port
from tests.helpers import bearer, create_tenant, login

HOSTILE_HTML = '<p onclick="x()">Hi "there"</p><script>alert(document.cookie)</script>'


@pytest.fixture
def devmail(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """The real development sink (mailer.dev.smtp_sink) on a free port, writing into a temp folder."""
    directory = tmp_path / "devmail"
    port = free_port()
    controller = Controller(DevMailHandler(directory), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield directory, port
    finally:
        controller.stop()


@pytest.fixture
def dev_app(app_factory, devmail):
    directory, port = devmail
    return app_factory(DEBUG=True, DEVMAIL_DIR=str(directory), SMTP_HOST="127.0.0.1", SMTP_PORT=port)


def send(port: int, subject: str, to: str, html: str | None = None) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "app@example.test", to, subject
    mail.set_content("plain words of " + subject)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.send_message(mail)


def test_not_registered_outside_debug(app, client):
    assert "dev" not in app.blueprints
    assert client.get("/dev/inbox").status_code == 404


def test_mail_sent_through_the_api_arrives_in_the_inbox(dev_app, devmail, redis):
    """The make-run experience: API → worker → dev SMTP sink → /dev/inbox."""
    client = dev_app.test_client()
    create_tenant(dev_app)
    token = login(client, "acme", "admin@acme.test")
    client.post("/v1/messages", headers=bearer(token),
                json={"to": ["ann@example.com"], "subject": "Welcome aboard", "text": "hello", "html": "<b>hello</b>"})
    Drainer(dev_app, redis)()  # a worker of this app, so it delivers to the dev sink
    page = client.get("/dev/inbox")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Welcome aboard" in body and "ann@example.com" in body


def test_inbox_lists_newest_first(dev_app, devmail):
    directory, port = devmail
    send(port, "First one", "ann@example.com")
    [first] = directory.glob("*.eml")
    os.utime(first, (first.stat().st_atime - 60, first.stat().st_mtime - 60))
    send(port, "Second one", "bob@example.com")
    body = dev_app.test_client().get("/dev/inbox").get_data(as_text=True)
    assert body.index("Second one") < body.index("First one")
    assert body.index("bob@example.com") < body.index("ann@example.com")


def test_message_page_sandboxes_html_and_shows_text_and_source(dev_app, devmail):
    directory, port = devmail
    send(port, "Rich mail", "ann@example.com", html=HOSTILE_HTML)
    [path] = directory.glob("*.eml")
    response = dev_app.test_client().get(f"/dev/inbox/{path.name}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in page  # the mail's script only exists escaped, inside srcdoc
    iframe = page[page.index("<iframe"):page.index("</iframe>")]
    assert " sandbox " in iframe and "allow-scripts" not in iframe
    assert 'srcdoc="&lt;p onclick=&#34;x()&#34;&gt;Hi &#34;there&#34;&lt;/p&gt;&lt;script&gt;' in iframe
    assert "plain words of Rich mail" in page  # text part
    assert "X-Mailer-Envelope-To: ann@example.com" in page  # raw source


@pytest.mark.parametrize("name", ["..%2Fsecret.eml", "..", ".hidden.eml", "notes.txt", "missing.eml",
                                  "%2Fetc%2Fpasswd"])
def test_message_names_cannot_leave_the_folder(dev_app, devmail, tmp_path, name):
    (tmp_path / "secret.eml").write_bytes(b"Subject: outside\r\n\r\nnot yours")
    (devmail[0] / "notes.txt").write_bytes(b"x")
    response = dev_app.test_client().get(f"/dev/inbox/{name}")
    assert response.status_code == 404
    assert b"not yours" not in response.data
