"""Hosted account pages, used when a tenant has no frontend_url of its own:
GET /verify-email?token=… confirms the address; GET/POST /reset-password sets a new password.

Server-rendered, no build step. Tokens come only from the link the user clicked; pages send
`Referrer-Policy: no-referrer` and `Cache-Control: no-store` so the token leaks nowhere, and
the reset form carries a CSRF token bound to a SameSite=Strict cookie.
"""

from mailer.pages.routes import bp

__all__ = ["bp"]
