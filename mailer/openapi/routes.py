from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template

from mailer.openapi.spec import build_spec

bp = Blueprint("openapi", __name__)


def current_spec() -> dict[str, Any]:
    """The app's OpenAPI document, built once per app (routes do not change after start)."""
    spec = current_app.extensions.get("openapi_spec")
    if spec is None:
        spec = current_app.extensions["openapi_spec"] = build_spec(current_app)
    return spec


@bp.get("/openapi.json")
def openapi_json() -> Any:
    return jsonify(current_spec())


@bp.get("/docs")
def docs() -> Any:
    # Redoc loads from a CDN in the reader's browser; nothing is vendored or built here.
    return render_template("openapi/docs.html"), 200, {"Referrer-Policy": "no-referrer"}
