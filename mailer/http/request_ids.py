"""Every request gets an id: the caller's X-Request-ID when it is sane, else a new one; echoed back."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def init_request_ids(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied if _SANE_REQUEST_ID.match(supplied) else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
        return response
