"""/console: the admin's overview (a `user` is sent to their messages). The figures come from
notifications.overview (GET /v1/stats's counts and more, kept in Redis and recounted by a job).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, redirect, render_template, url_for

from mailer.console import explain, guard
from mailer.console.routes import bp
from mailer.models import UNDELIVERED, RecipientStatus, Role
from mailer.notifications.overview import current_overview

CHART_HEIGHT, BAR_WIDTH, BAR_GAP, LABEL_SPACE = 160, 16, 6, 28
SERIES = (("delivered", (RecipientStatus.SENT,)), ("failed", UNDELIVERED), ("deferred", (RecipientStatus.DEFERRED,)))


def chart(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacked bars per day (delivered, failed, deferred), drawn as SVG rectangles by the server."""
    totals = [sum(day.get(s, 0) for _, statuses in SERIES for s in statuses) for day in days]
    peak = max([*totals, 1])
    bars = []
    for index, day in enumerate(days):
        x = index * (BAR_WIDTH + BAR_GAP) + 40
        y = CHART_HEIGHT
        for name, statuses in SERIES:
            value = sum(day.get(s, 0) for s in statuses)
            height = round(value / peak * (CHART_HEIGHT - 10), 1)
            if height:
                y -= height
                bars.append({"x": x, "y": round(y, 1), "height": height, "series": name})
        bars_label = day["day"][5:] if index % 5 == 0 or index == len(days) - 1 else None
        if bars_label:
            bars.append({"x": x, "label": bars_label})
    width = len(days) * (BAR_WIDTH + BAR_GAP) + 60  # room for the last day's label
    return {"bars": bars, "width": width, "height": CHART_HEIGHT + LABEL_SPACE, "peak": peak,
            "bar_width": BAR_WIDTH, "base": CHART_HEIGHT}


@bp.get("/")
@bp.get("")  # registered first: url_for builds /console
@guard.signed_in
def overview() -> Any:
    if guard.current_user().role != Role.ADMIN:
        return redirect(url_for("console.messages"))
    figures = current_overview(g.principal.tenant_id)
    days = figures["days"]
    for day in days:
        day["delivered"] = day.get(RecipientStatus.SENT, 0)
        day["failed_total"] = sum(day.get(status, 0) for status in UNDELIVERED)
    failures = [{**f, "meaning": explain.ERROR_MEANING.get(f["error_code"] or "", explain.STATUS_MEANING["failed"]),
                 "reply_meaning": explain.reply_meaning(f["smtp_code"], f["enhanced_code"]),
                 "at": datetime.fromisoformat(f["updated_at"])} for f in figures["failures"]]
    return render_template("console/overview.html", windows=figures["windows"], days=days, chart=chart(days),
                           waiting=figures["waiting"], failures=failures,
                           generated_at=datetime.fromisoformat(figures["generated_at"]), labels=explain.labels())
