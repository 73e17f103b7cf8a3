"""`/dev/inbox`: what the development SMTP sink received, MailPit-style. Registered in debug only.

Reads the .eml files `mailer.dev.smtp_sink` writes under ``DEVMAIL_DIR``. A message's HTML is shown
in a sandboxed iframe (``srcdoc``, no script, no same origin) under a CSP that allows no script
at all, so mail HTML cannot run anything in the developer's browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, render_template

from mailer.errors import NotFoundError

bp = Blueprint("dev", __name__, url_prefix="/dev")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.eml$")
MAX_LISTED = 500
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data: cid: https: http:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


@dataclass(frozen=True)
class InboxEntry:
    name: str
    received_at: datetime
    to: str
    sender: str
    subject: str


def inbox_dir() -> Path:
    return Path(current_app.config["MAILER"].DEVMAIL_DIR)


def list_inbox(directory: Path) -> list[InboxEntry]:
    """The newest messages first (by arrival time, then name)."""
    files = [path for path in directory.glob("*.eml") if path.is_file()] if directory.is_dir() else []
    files.sort(key=lambda path: (path.stat().st_mtime_ns, path.name), reverse=True)
    entries = []
    for path in files[:MAX_LISTED]:
        with path.open("rb") as handle:
            headers = BytesHeaderParser(policy=default_policy).parse(handle)
        entries.append(InboxEntry(
            name=path.name,
            received_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
            to=str(headers.get("X-Mailer-Envelope-To") or headers.get("To") or ""),
            sender=str(headers.get("From") or ""),
            subject=str(headers.get("Subject") or ""),
        ))
    return entries


def message_path(directory: Path, name: str) -> Path:
    """The file of that name inside the directory, or NotFoundError (no traversal, no other files)."""
    if not NAME.fullmatch(name):
        raise NotFoundError()
    root = directory.resolve()
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():
        raise NotFoundError()
    return path


def _part(message: EmailMessage, subtype: str) -> str | None:
    body = message.get_body((subtype,))
    return body.get_content() if body is not None else None


def _attachments(message: EmailMessage) -> list[dict[str, Any]]:
    return [
        {"filename": part.get_filename() or "(unnamed)", "content_type": part.get_content_type(),
         "size": len(part.get_payload(decode=True) or b"")}
        for part in message.iter_attachments()
    ]


def _secure(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/inbox")
def inbox() -> Response:
    directory = inbox_dir()
    page = render_template("dev/inbox.html", entries=list_inbox(directory), directory=directory)
    return _secure(Response(page, mimetype="text/html"))


@bp.get("/inbox/<name>")
def show(name: str) -> Response:
    raw = message_path(inbox_dir(), name).read_bytes()
    message: EmailMessage = BytesParser(policy=default_policy).parsebytes(raw)  # type: ignore[assignment]
    page = render_template(
        "dev/message.html", name=name, headers=message, html=_part(message, "html"), text=_part(message, "plain"),
        attachments=_attachments(message), raw=raw.decode("utf-8", "replace"),
    )
    return _secure(Response(page, mimetype="text/html"))
