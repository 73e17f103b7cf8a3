from mailer.notifications import broadcast_routes, templates_routes  # noqa: F401 - their views join the blueprint
from mailer.notifications.routes import bp

__all__ = ["bp"]
