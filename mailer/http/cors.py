"""Which browser origins may call the API: CORS_ORIGINS exactly, no credentials."""

from __future__ import annotations

import re

from flask import Flask
from flask_cors import CORS

from mailer.config import Config

ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"]
EXPOSED_HEADERS = ["X-Request-ID", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]


def init_cors(app: Flask, config: Config) -> None:
    """Only CORS_ORIGINS, echoed exactly; no credentials (the API uses bearer tokens, not cookies)."""
    if not config.CORS_ORIGINS:
        return
    exact = [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in config.CORS_ORIGINS]
    CORS(
        app,
        resources={r"/v1/*": {"origins": exact}},
        supports_credentials=False,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        max_age=600,
        vary_header=True,
    )
