"""The inbound receiver's bounds (API.md §8): reports per token and per client address per hour, and
concurrent sessions in all and per client address.

Counted in the receiver's process (it is one process, the Procfile's ``inbound``), in fixed one-hour
windows: a report is counted when its RCPT is accepted, so sessions that race each other cannot
store more than the limit between them. A client is its IPv4 address or its IPv6 /64.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from mailer.http.rate_limits import ip_bucket
from mailer.mail.recipient_tokens import TokenAddress

REPORTS_PER_TOKEN_PER_HOUR = 10
REPORTS_PER_CLIENT_PER_HOUR = 1000
MAX_SESSIONS = 100
MAX_SESSIONS_PER_CLIENT = 10
WINDOW_SECONDS = 3600


class ReportLimits:
    """Hourly report counters and open-session counts; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._reports: Counter[str] = Counter()
        self._sessions: Counter[str] = Counter()
        self._open = 0

    def take_report(self, target: TokenAddress, client: str | None) -> bool:
        """Count one report for this token and client; False (nothing counted) when either is at its limit."""
        token_key, client_key = f"t:{target.kind}:{target.recipient_id}", f"c:{ip_bucket(client)}"
        with self._lock:
            window = int(time.time() // WINDOW_SECONDS)
            if window != self._window:  # a new hour: every count starts again (and the old keys go)
                self._window, self._reports = window, Counter()
            if (self._reports[token_key] >= REPORTS_PER_TOKEN_PER_HOUR
                    or self._reports[client_key] >= REPORTS_PER_CLIENT_PER_HOUR):
                return False
            self._reports[token_key] += 1
            self._reports[client_key] += 1
            return True

    def open_session(self, client: str | None) -> bool:
        """Count an opening session; False (not counted) when the receiver or this client is at its cap."""
        key = ip_bucket(client)
        with self._lock:
            if self._open >= MAX_SESSIONS or self._sessions[key] >= MAX_SESSIONS_PER_CLIENT:
                return False
            self._sessions[key] += 1
            self._open += 1
            return True

    def close_session(self, client: str | None) -> None:
        key = ip_bucket(client)
        with self._lock:
            self._sessions[key] -= 1
            self._open -= 1
            if self._sessions[key] <= 0:
                del self._sessions[key]
