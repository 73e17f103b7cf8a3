"""The API benchmark's baseline: a bare Flask app whose POST /v1/messages parses the same JSON and answers 202.

Served by the same gunicorn command as Mailer (`gunicorn -w 4 -b … bare_app:app`, from bench/), it is
what a request costs with nothing behind it: WSGI, routing, JSON in and out.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, request

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}


@app.post("/v1/messages")
def create_message() -> Any:
    body = request.get_json()
    recipients = [{"email": to, "status": "queued"} for to in body["to"]]
    return {"id": str(uuid.uuid4()), "status": "queued", "recipients": recipients,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}, 202
