from mailer.auth.routes import bp

__all__ = ["bp"]
