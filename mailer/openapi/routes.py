from __future__ import annotations

import base64
import functools
import hashlib
import os
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template

from mailer.openapi.spec import build_spec

bp = Blueprint("openapi", __name__, static_folder="static", static_url_path="/docs/static")
REDOC_VERSION = "2.5.4"  # npm `redoc`, vendored in static/redoc (see its README)
REDOC_FILE = os.path.join(os.path.dirname(__file__), "static", "redoc", "redoc.standalone.js")
# Scripts from this origin only (the vendored Redoc, pinned by its hash); Redoc styles inline and searches in a
# blob: worker; it fetches /openapi.json from here.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


@functools.lru_cache(maxsize=1)
def redoc_integrity() -> str:
    """The Subresource Integrity value of the vendored Redoc bundle."""
    with open(REDOC_FILE, "rb") as handle:
        return "sha384-" + base64.b64encode(hashlib.sha384(handle.read()).digest()).decode("ascii")


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
    # Redoc is vendored (static/redoc) and served from here: no third-party origin runs script on the API's (L11).
    page = render_template("openapi/docs.html", redoc_integrity=redoc_integrity(), redoc_version=REDOC_VERSION)
    return page, 200, {"Referrer-Policy": "no-referrer", "Content-Security-Policy": DOCS_CSP,
                       "X-Content-Type-Options": "nosniff"}
