"""Which proxy hops are trusted for the client address (ProxyFix)."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from mailer.config import Config


def init_proxy_fix(app: Flask, config: Config) -> None:
    """Trust exactly PROXY_FIX_X_FOR hops of X-Forwarded-For (0: the socket peer is the client)."""
    if config.PROXY_FIX_X_FOR > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.PROXY_FIX_X_FOR, x_proto=0, x_host=0, x_port=0,
                                x_prefix=0)  # type: ignore[method-assign]
