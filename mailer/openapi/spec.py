"""Builds the OpenAPI 3.1 document from the app's URL map and the metadata recorded by `documented`.

Every documented route appears, with its request and response bodies taken from the pydantic
models that validate and describe them, its problem+json errors, its path parameters (from the
rule's converters) and the bearer scheme. Nothing here is written by hand per endpoint.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import Rule
from werkzeug.routing.converters import IntegerConverter, PathConverter, UUIDConverter

from mailer.openapi.problem import Problem
from mailer.openapi.registry import Operation, operation_for

REF = "#/components/schemas/{model}"
PROBLEM_JSON = "application/problem+json"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
API_VERSION = "1.0.0"
_PLACEHOLDER = re.compile(r"<(?:[^<>]*:)?([A-Za-z_][A-Za-z0-9_]*)>")


def iter_operations(app: Flask) -> list[tuple[Rule, str, Operation | None]]:
    """Every (rule, method, documentation-or-None) of the app, static files aside."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            found.append((rule, method, operation_for(view, method)))
    return found


def undocumented_api_routes(app: Flask) -> list[str]:
    """`METHOD /path` of every /v1/ route without `documented` metadata (the suite requires none)."""
    return [f"{method} {rule.rule}" for rule, method, op in iter_operations(app)
            if op is None and rule.rule.startswith("/v1/")]


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented route of ``app``."""
    documented = [(rule, method, op) for rule, method, op in iter_operations(app) if op is not None]
    refs, schemas = _component_schemas(documented)
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for rule, method, op in documented:
        item = paths.setdefault(openapi_path(rule), {})
        item[method.lower()] = _operation(rule, method, op, refs, schemas, operation_ids)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mailer",
            "version": API_VERSION,
            "description": "Multi-tenant transactional email. Errors are RFC 9457 problem JSON; "
            "every response carries X-Request-ID.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An access JWT from POST /v1/auth/login, or an API key (`mk_…`).",
                }
            },
            "headers": {
                "X-Request-ID": {"description": "The request's id (the client's, if sane).",
                                 "schema": {"type": "string"}},
            },
        },
    }


def openapi_path(rule: Rule) -> str:
    """`/v1/messages/<uuid:message_id>` → `/v1/messages/{message_id}`."""
    return _PLACEHOLDER.sub(r"{\1}", rule.rule)


def _component_schemas(
    documented: list[tuple[Rule, str, Operation]],
) -> tuple[dict[tuple[type[BaseModel], str], dict[str, Any]], dict[str, Any]]:
    wanted: dict[tuple[type[BaseModel], str], None] = {(Problem, "serialization"): None}
    for _rule, _method, op in documented:
        if op.body is not None:
            wanted[(op.body, "validation")] = None
        if op.query is not None:
            wanted[(op.query, "validation")] = None
        for model in (op.response, *op.responses.values()):
            if model is not None:
                wanted[(model, "serialization")] = None
    keymap, top = models_json_schema(list(wanted), ref_template=REF)  # type: ignore[arg-type]
    return dict(keymap), dict(top.get("$defs", {}))


def _operation(
    rule: Rule, method: str, op: Operation, refs: dict[Any, dict[str, Any]], schemas: dict[str, Any],
    operation_ids: set[str],
) -> dict[str, Any]:
    operation_id = rule.endpoint.replace(".", "_")
    if operation_id in operation_ids:
        operation_id = f"{operation_id}_{method.lower()}"
    operation_ids.add(operation_id)
    body: dict[str, Any] = {
        "operationId": operation_id,
        "summary": op.summary,
        "tags": list(op.tags) or [rule.endpoint.split(".", 1)[0]],
        "security": [{"bearerAuth": []}] if op.auth else [],
        "parameters": _path_parameters(rule) + _query_parameters(op, refs, schemas) + _header_parameters(op),
        "responses": _responses(rule, op, refs),
    }
    if op.description:
        body["description"] = op.description
    if op.body is not None:
        body["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    if not body["parameters"]:
        del body["parameters"]
    return body


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    parameters = []
    for name, converter in rule._converters.items():
        if isinstance(converter, UUIDConverter):
            schema: dict[str, Any] = {"type": "string", "format": "uuid"}
        elif isinstance(converter, IntegerConverter):
            schema = {"type": "integer", "minimum": 0}
        elif isinstance(converter, PathConverter):
            schema = {"type": "string", "minLength": 1}
        else:
            schema = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _query_parameters(op: Operation, refs: dict[Any, dict[str, Any]], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    if op.query is None:
        return []
    name = refs[(op.query, "validation")]["$ref"].rsplit("/", 1)[-1]
    model_schema = schemas[name]
    required = set(model_schema.get("required", ()))
    parameters = []
    for field, schema in model_schema.get("properties", {}).items():
        parameter = {"name": field, "in": "query", "required": field in required, "schema": _not_null(schema)}
        if "description" in schema:
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    return parameters


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query string cannot say null: `X | None` parameters are simply optional."""
    options = schema.get("anyOf")
    if options:
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**rest, **kept[0]}
    return schema


def _header_parameters(op: Operation) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "header", "required": False, "description": text,
         "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,255}$"}}
        for name, text in op.headers.items()
    ]


RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests (or, for quota_exceeded, recipients) allowed in the window.",
                          "schema": {"type": "string"}},
    "X-RateLimit-Remaining": {"description": "What is left of it.", "schema": {"type": "string"}},
    "X-RateLimit-Reset": {"description": "When the window resets, Unix time in seconds.", "schema": {"type": "string"}},
}


def error_statuses(rule: Rule, op: Operation) -> set[int]:
    """The problem+json statuses a route can answer, derived from what it takes plus its own."""
    statuses = set(op.errors)
    if op.auth:
        statuses |= {401, 403}
    if op.body is not None:
        statuses |= {400, 413, 415, 422}
    if op.query is not None:
        statuses.add(422)
    if rule._converters:
        statuses.add(404)
    if rule.rule.startswith("/v1/"):
        statuses.add(429)
    return statuses - set(op.responses) - {op.status}


def _responses(rule: Rule, op: Operation, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    request_id = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
    responses: dict[str, Any] = {}
    for status, model in {op.status: op.response, **op.responses}.items():
        entry: dict[str, Any] = {"description": HTTPStatus(status).phrase, "headers": request_id}
        if model is not None:
            entry["content"] = {op.content_type: {"schema": refs[(model, "serialization")]}}
        elif status != 204:
            entry["content"] = {op.content_type: {"schema": {"type": "string"}}}
        responses[str(status)] = entry
    problem = {"schema": refs[(Problem, "serialization")]}
    for status in sorted(error_statuses(rule, op)):
        headers = dict(request_id)
        if status == 401:
            headers["WWW-Authenticate"] = {"description": 'Bearer error="invalid_token"', "schema": {"type": "string"}}
        if status == 429:
            headers["Retry-After"] = {"description": "Seconds to wait.", "schema": {"type": "string"}}
            headers.update(RATE_LIMIT_HEADERS)
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase, "headers": headers, "content": {PROBLEM_JSON: problem},
        }
    return responses
