"""Request plumbing: JSON bodies and queries, request ids, pagination, CORS, proxy hops, rate limits (no rules)."""

from __future__ import annotations

from flask import Flask

from mailer.config import Config
from mailer.http.body_limits import init_body_limits
from mailer.http.caching import init_no_store
from mailer.http.cors import init_cors
from mailer.http.json import init_json
from mailer.http.proxy import init_proxy_fix
from mailer.http.rate_limits import init_rate_limits
from mailer.http.request_ids import init_request_ids


def init_http(app: Flask, config: Config) -> None:
    """What every request passes before a blueprint sees it: proxy hops, a request id, a bounded body,
    JSON-only API bodies."""
    init_proxy_fix(app, config)
    init_request_ids(app)
    init_body_limits(app)  # before any hook that may read the body (the rate limiter's key functions)
    init_json(app)
    init_no_store(app)


def init_http_edge(app: Flask, config: Config) -> None:
    """Rate limits and CORS: they wrap the registered views, so they come after the blueprints."""
    init_rate_limits(app)
    init_cors(app, config)
