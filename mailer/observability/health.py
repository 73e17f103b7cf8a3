"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint
from pydantic import BaseModel
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from mailer.extensions import db
from mailer.http.rate_limits import limiter_health
from mailer.openapi.registry import documented
from mailer.queues import get_redis

bp = Blueprint("health", __name__)


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]]


@bp.get("/healthz")
@documented("Liveness", response=Health, auth=False, tags=("operations",))
def healthz() -> Any:
    return {"status": "ok"}


@bp.get("/readyz")
@documented("Readiness: database and Redis", response=Readiness, responses={503: Readiness}, auth=False,
           tags=("operations",))
def readyz() -> Any:
    checks = {"database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        checks["database"] = "unavailable"
    try:
        get_redis().ping()
    except RedisError:
        checks["redis"] = "unavailable"
    ready = all(value == "ok" for value in checks.values())
    # Beside the contract's checks: with its Redis down the limiter keeps limits in process memory,
    # so the service stays ready, but the fault is shown here.
    body = {"status": "ok" if ready else "unavailable", "checks": checks, "rate_limiter": limiter_health()}
    return body, 200 if ready else 503
