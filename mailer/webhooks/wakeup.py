"""Nudging the dispatcher after a commit that wrote webhook events (and never before it: a job that
ran before the commit would not see them).

The listeners are installed when this module is imported, which ``events`` does: wherever events
can be recorded (web or job-only app), the nudge follows their commit.
"""

from __future__ import annotations

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

NUDGE_FLAG = "mailer.webhooks.nudge"  # in Session.info: this transaction wrote webhook deliveries


@event.listens_for(Session, "after_commit")
def _nudge_after_commit(session: Session) -> None:
    if not session.info.pop(NUDGE_FLAG, False) or not has_app_context():
        return
    from mailer.queues import get_redis
    from mailer.webhooks.dispatcher import nudge  # the dispatcher imports the queues, which need the app

    nudge(get_redis(), current_app.config["MAILER"])


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(NUDGE_FLAG, None)


def sweep_webhooks() -> int:
    """Sweep hook (mailer.mail.sweeper): nudge the dispatcher when deliveries are due."""
    from mailer.extensions import db
    from mailer.queues import get_redis
    from mailer.webhooks.dispatcher import sweep_deliveries

    return sweep_deliveries(db.session, get_redis(), current_app.config["MAILER"])
