"""A real MTA: a private Postfix instance (its own config directory, a loopback port) relays to the test
sink, which refuses a dead mailbox; Postfix's own RFC 3464 bounce goes to the VERP address, routed by a
transport map to the real receiver. Skipped where Postfix is not installed or we are not root."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis

from tests.feedback.rig import BOUNCE_DOMAIN, Receiver, outcomes, recipient_row, suppressions
from tests.fixtures import SmtpSink, drain, free_port
from tests.helpers import bearer, login

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
pytestmark = pytest.mark.skipif(
    not os.path.exists(POSTFIX) or os.geteuid() != 0 or not os.path.exists("/etc/postfix/master.cf"),
    reason="needs Debian's postfix package and root (a private instance, never the system one)",
)

MAIN_CF = """compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mta.mailer.test
mydomain = mailer.test
myorigin = mta.mailer.test
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
local_recipient_maps =
transport_maps = inline:{{ {bounce_domain}=smtp:[127.0.0.1]:{receiver} }}
default_transport = smtp:[127.0.0.1]:{sink}
relay_transport = smtp:[127.0.0.1]:{sink}
smtp_tls_security_level = none
smtpd_tls_security_level = none
maillog_file = /dev/stdout
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
notify_classes =
"""


def _master_cf(port: int) -> str:
    """Debian's master.cf with every service out of chroot and smtpd on our loopback port."""
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        fields = line.split()
        if line[:1].isalnum() and len(fields) >= 8:
            if fields[:2] == ["smtp", "inet"]:
                fields[0] = f"127.0.0.1:{port}"
            fields[4] = "n"
            line = " ".join(fields)
        elif line.startswith("#"):
            continue
        lines.append(line)
    if not any(line.startswith("postlog") for line in lines):
        lines.append("postlog unix-dgram n - n - 1 postlogd")
    return "\n".join(lines) + "\n"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def postfix(receiver: Receiver, smtp_server: SmtpSink) -> Iterator[int]:
    """A private Postfix on a free loopback port; yields the port."""
    root = Path(tempfile.mkdtemp(prefix="mailer-postfix-"))
    root.chmod(0o755)
    (root / "conf").mkdir()
    (root / "queue").mkdir()
    (root / "data").mkdir()
    shutil.chown(root / "data", user=pwd.getpwnam("postfix").pw_uid)
    port = free_port()
    (root / "conf" / "main.cf").write_text(MAIN_CF.format(root=root, bounce_domain=BOUNCE_DOMAIN,
                                                          receiver=receiver.port, sink=smtp_server.port))
    (root / "conf" / "master.cf").write_text(_master_cf(port))
    log = open(root / "maillog", "wb")  # noqa: SIM115 - closed in the teardown below
    proc = subprocess.Popen([POSTFIX, "-c", str(root / "conf"), "start-fg"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "maillog").read_text())
            time.sleep(0.1)
        yield port
    finally:
        subprocess.run([POSTFIX, "-c", str(root / "conf"), "stop"], capture_output=True, timeout=30)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _wait(app: Flask, redis: Redis, check: Any, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError("timed out waiting for Postfix's bounce to be processed")
        time.sleep(0.2)
        drain(app, redis)
    return time.monotonic() - started


def test_a_dead_mailbox_behind_postfix_ends_bounced_and_the_next_message_is_suppressed(
    app_factory: Any, redis: Redis, smtp_server: SmtpSink, receiver: Receiver, postfix: int,
) -> None:
    """Postfix says 250, then its DSN comes back to b-<token>: bounced 5.1.1 within seconds, then suppressed."""
    smtp_server.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 <gone@example.com>: no such user"
    app = app_factory(BOUNCE_DOMAIN=BOUNCE_DOMAIN, SMTP_PORT=postfix)  # same database as the receiver's app (acme)
    client = app.test_client()
    headers = bearer(login(client, "acme", "admin@acme.test"))
    sent = client.post("/v1/messages", json={"to": ["gone@example.com", "ann@example.com"], "subject": "Hi",
                                             "text": "x"}, headers=headers).get_json()
    drain(app, redis)
    rows = {r["email"]: r for r in client.get(f"/v1/messages/{sent['id']}", headers=headers).get_json()["recipients"]}
    gone = rows["gone@example.com"]["id"]
    # Postfix queued it (250); its bounce may already be back and processed within the same drain.
    assert rows["gone@example.com"]["status"] in ("sent", "bounced") and outcomes(app, gone)[0] == "sent"
    seconds = _wait(app, redis, lambda: recipient_row(app, gone).status == "bounced")
    assert seconds < 30
    assert recipient_row(app, rows["ann@example.com"]["id"]).status == "sent"
    assert outcomes(app, gone) == ["sent", "bounced"]
    detail = client.get(f"/v1/messages/{sent['id']}/recipients/{gone}", headers=headers).get_json()
    event = detail["events"][-1]
    assert (event["enhanced_code"], event["smtp_code"]) == ("5.1.1", 550) and "no such user" in event["response"]
    assert ("gone@example.com", "all", "hard_bounce") in suppressions(app)

    again = client.post("/v1/messages", json={"to": ["gone@example.com"], "subject": "Again", "text": "x"},
                        headers=headers).get_json()
    assert again["recipients"][0]["status"] == "failed"
    drain(app, redis)
    row = client.get(f"/v1/messages/{again['id']}", headers=headers).get_json()["recipients"][0]
    assert (row["error_code"], row["attempts"]) == ("suppressed", 0)
