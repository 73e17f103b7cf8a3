from mailer.notifications import broadcasts, templates_routes  # noqa: F401 - their views join the blueprint
from mailer.notifications.routes import bp

__all__ = ["bp"]
