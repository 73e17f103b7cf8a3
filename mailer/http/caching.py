"""``Cache-Control: no-store`` on every API answer (L12, RFC 6749 §5.1).

Tokens (login, refresh), API keys, webhook secrets and personal data travel in /v1 answers; a rule per route
misses the next one that carries a secret, so the API as a whole is not stored by caches or browsers.
A route that sets its own Cache-Control keeps it.
"""

from __future__ import annotations

from flask import Flask, Response, request

_UNCACHED_PREFIXES = ("/v1/",)


def init_no_store(app: Flask) -> None:
    @app.after_request
    def no_store(response: Response) -> Response:
        if request.path.startswith(_UNCACHED_PREFIXES) and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response
