"""Logging set-up: text in debug, one JSON object per line otherwise.

Every line carries the ``request_id`` (and ``tenant_id`` once known) of the HTTP request it
belongs to, or of the request that enqueued the job it runs in (``job.meta["request_id"]``),
so one request can be followed from the API through the job to each SMTP attempt. Lines are
scrubbed on the way out: addresses are masked (``a***@example.com``), bearer tokens, API keys
and any field named like a secret are redacted.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from flask import Flask, Response, g, has_request_context, request
from rq import get_current_job

from mailer.config import Config

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# A match starts only where a run of its characters starts (the lookbehinds): otherwise each position of a
# long run without "@" (or without ".") would rescan it to its end, O(n²) over a hostile log line (N1).
_EMAIL = re.compile(
    r"(?<![\w.!#$%&'*+?^`{|}~-])(\.*)([\w!#$%&'*+?^`{|}~-])[\w.!#$%&'*+?^`{|}~-]*@([\w-]+(?:\.[\w-]+)+)"
)
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_API_KEY = re.compile(r"\bmk_[A-Za-z0-9_-]{6,}")
_PASSWORD_HASH = re.compile(r"\$argon2(?:id|i|d)\$[A-Za-z0-9+/=$,.-]+")
# Secrets in a URL's query string, e.g. the request line of GET /verify-email?token=… in an access log.
_QUERY_SECRET = re.compile(r"([?&][\w-]*(?:token|key|password|secret)[\w-]*=)[^&\s\"']+", re.IGNORECASE)
# The one-click unsubscribe token is a path segment (/unsubscribe/<token>): request logs, werkzeug's and
# gunicorn's access logs and Flask's exception lines would otherwise carry working links.
_PATH_TOKEN = re.compile(r"(/unsubscribe/)[^/?#\s\"']+")
_SECRET_PARTS = {"password", "passwd", "secret", "token", "key", "authorization", "cookie", "body", "html", "text"}
_SAFE_FIELDS = {"request_id", "tenant_id", "message_id", "recipient_id", "job_id", "idempotency_key_id"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def mask_email(address: str) -> str:
    """ann@example.com → a***@example.com; anything without a domain → ***."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


# Each pattern above needs one of these in the text; a line with none (most) skips the five scans.
_MARKERS = ("@", "=", "eyJ", "mk_", "$argon2", "/unsubscribe/")


def scrub(text: str) -> str:
    """Mask addresses and redact bearer tokens, API keys, unsubscribe tokens and password hashes in free text."""
    if not any(marker in text for marker in _MARKERS):
        return text
    text = _PASSWORD_HASH.sub("[password hash]", text)
    text = _EMAIL.sub(r"\1\2***@\3", text)
    text = _JWT.sub("[jwt]", text)
    text = _QUERY_SECRET.sub(r"\1[redacted]", text)
    text = _PATH_TOKEN.sub(r"\1[redacted]", text)
    return _API_KEY.sub("mk_[redacted]", text)


# The running job's context, set once per job by the worker (mailer.worker) so that log lines
# need not fetch the job from Redis each time.
_job_context: ContextVar[dict[str, str] | None] = ContextVar("mailer_job_context", default=None)


def job_context(job: Any) -> dict[str, str]:
    context = {k: str(v) for k, v in (job.meta or {}).items() if k in ("request_id", "tenant_id")}
    context["job_id"] = job.id
    return context


@contextmanager
def running_job(job: Any) -> Iterator[None]:
    """Log lines inside carry the job's request_id, tenant_id and job_id."""
    token = _job_context.set(job_context(job))
    try:
        yield
    finally:
        _job_context.reset(token)


def current_context() -> dict[str, str]:
    """request_id/tenant_id of the HTTP request or RQ job running now (empty outside both)."""
    context: dict[str, str] = {}
    if has_request_context():
        if g.get("request_id"):
            context["request_id"] = g.request_id
        principal = g.get("principal")
        if principal is not None:
            context["tenant_id"] = str(principal.tenant_id)
        return context
    known = _job_context.get()
    if known is not None:
        return dict(known)
    job = get_current_job()  # a worker that is not ours: ask Redis
    return job_context(job) if job is not None else context


class ContextFilter(logging.Filter):
    """Adds request_id/tenant_id (and job_id in a worker) unless the call passed its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_context().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return True


@functools.lru_cache(maxsize=1024)
def _secret_name(name: str) -> bool:
    return bool(_SECRET_PARTS & set(name.lower().split("_")))


class ScrubFilter(logging.Filter):
    """Masks addresses and redacts secrets in the message and in every extra field."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD or name in _SAFE_FIELDS or name.startswith("_"):
                continue
            if _secret_name(name):
                record.__dict__[name] = "[redacted]"
            elif isinstance(value, str):
                record.__dict__[name] = scrub(value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def build_handler(stream: IO[str], log_format: str) -> logging.Handler:
    """A handler writing scrubbed, context-carrying lines as JSON or text."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    handler.addFilter(ScrubFilter())
    return handler


def configure(config: Config) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_mailer", False) for h in root.handlers):
        return
    handler = build_handler(sys.stderr, config.LOG_FORMAT)
    handler._mailer = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)


def init_request_log(app: Flask) -> None:
    """One line per HTTP request: method, path (never the query string), status, duration."""
    log = logging.getLogger("mailer.request")

    @app.before_request
    def _start_clock() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        started = g.get("request_started")
        log.info("request", extra={
            "method": request.method, "path": request.path, "status": response.status_code,
            "endpoint": request.endpoint,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        })
        return response

