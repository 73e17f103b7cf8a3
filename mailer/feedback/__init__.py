"""Feedback (API.md §8): VERP return paths, the inbound receiver, bounce/complaint processing,
suppressions and one-click unsubscribe.

The blueprint serves ``/v1/suppressions…`` (admin) and ``/unsubscribe/<token>`` (no auth, form
posts). Everything the pipeline and workers call (tokens, suppressions, reports, processing,
receiver) imports no Flask request state and no blueprint.
"""

from flask import Blueprint

bp = Blueprint("feedback", __name__)

from mailer.feedback import routes  # noqa: E402,F401
