"""gunicorn's settings file, read from the working directory (`gunicorn wsgi:app` in the Procfile and README).

Only the access log is touched: when one is switched on (``--access-logfile``), its lines are scrubbed like
ours (mailer.logs.scrub), so the request line of ``/unsubscribe/<token>`` never carries the
token and a query string never carries a secret.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from mailer.logs import scrub


class ScrubbedLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        return {name: scrub(value) if isinstance(value, str) else value
                for name, value in super().atoms(resp, req, environ, request_time).items()}


logger_class = ScrubbedLogger
