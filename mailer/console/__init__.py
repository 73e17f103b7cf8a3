"""The web console (API.md §12): server-rendered pages at /console, a client of the API's services."""

from mailer.console import account, auth_pages, messages, overview  # noqa: F401 - their views join the blueprint
from mailer.console.admin_pages import PAGES
from mailer.console.routes import bp

__all__ = ["PAGES", "bp"]
