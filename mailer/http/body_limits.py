"""Request bodies are bounded before anything parses them (API.md §1).

The limit depends on who may call the endpoint: 64 KiB where no bearer token is needed
(anyone on the internet can send those), 1 MiB behind a bearer, and the built-message limit
on the send endpoints. A declared Content-Length over the limit is refused before a byte is
read; a body without one (chunked) is cut off by Werkzeug's limited stream at the same size.
Register it right after the request ids, so that it runs before every hook that may read the
body (the rate limiter's key functions read the body of auth requests).
"""

from __future__ import annotations

from flask import Flask, current_app, request

from mailer.config import Config
from mailer.errors import PayloadTooLargeError
from mailer.openapi.registry import operation_for

PUBLIC_BODY_BYTES = 64 * 1024
AUTHENTICATED_BODY_BYTES = 1024 * 1024
SEND_ENDPOINTS = frozenset({"notifications.create_message", "batch.send_batch",
                            "notifications.create_broadcast"})


def send_body_bytes(config: Config) -> int:
    """A whole message with base64 attachments (4/3 of their size) and the JSON around it."""
    return config.MAX_MESSAGE_BYTES * 3 // 2 + 1024 * 1024


def body_limit(endpoint: str | None, method: str) -> int:
    """The most bytes a request body to ``endpoint`` may have."""
    config: Config = current_app.config["MAILER"]
    if endpoint in SEND_ENDPOINTS:
        return send_body_bytes(config)
    view = current_app.view_functions.get(endpoint or "")
    operation = operation_for(view, method) if view is not None else None
    if operation is not None and operation.auth:
        return AUTHENTICATED_BODY_BYTES
    return PUBLIC_BODY_BYTES  # public, undocumented (hosted pages) or unknown: the small limit


def init_body_limits(app: Flask) -> None:
    @app.before_request
    def _bound_the_body() -> None:
        limit = body_limit(request.endpoint, request.method)
        request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLargeError(f"The request body is over {limit} bytes.")
