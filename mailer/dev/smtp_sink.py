"""A development SMTP sink: keeps every message as an .eml file under instance/devmail/."""

from __future__ import annotations

import logging
import time
import uuid
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger(__name__)


class DevMailHandler:
    """aiosmtpd handler writing each message (with its envelope) to a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        headers = (
            f"X-Mailer-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Mailer-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        (self.directory / name).write_bytes(headers + content)
        parsed = message_from_bytes(content, policy=default_policy)
        log.info("devmail %s to=%s subject=%r", name, ",".join(envelope.rcpt_tos), parsed.get("Subject", ""))
        return "250 OK: queued as " + name


def run_dev_smtp(directory: Path, host: str, port: int) -> None:
    controller = Controller(DevMailHandler(directory), hostname=host, port=port)
    controller.start()
    print(f"dev SMTP sink on {host}:{port}, keeping mail in {directory}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
