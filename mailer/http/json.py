"""JSON in and out: the strict request parser, body and query validation, and JSON values (iso)."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from mailer.errors import InvalidJsonError, UnsupportedMediaTypeError, ValidationError
from mailer.models.types import iso

__all__ = ["iso"]  # moved to models.types (jobs write timestamps too); kept here for its many importers

T = TypeVar("T", bound=BaseModel)
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_JSON_DEPTH = 64


class StrictJSONProvider(DefaultJSONProvider):
    """Request bodies are read as interoperable JSON (I-JSON, RFC 7493) or refused as malformed.

    Python's parser is more lenient than JSON, and each leniency reached a database or a mail
    as a 500: ``NaN``/``Infinity`` and overflowing numbers (``1e999``) are not JSON and
    PostgreSQL's json type refuses them; ``"\\udc00"`` parses to a lone surrogate, which is not
    text and cannot be encoded for the database, a hash or a header; and a document nested
    thousands deep exhausts the recursion of the parser and of everything that walks it.
    Any of these makes ``get_json`` fail like a syntax error (400 invalid_json; None when silent),
    so nothing downstream ever sees one.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _refuse_constant)
        kwargs.setdefault("parse_float", _finite_float)
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the document is nested too deeply") from None
        _check_values(value)
        return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range")
    return value


def _check_values(document: Any) -> None:
    """Refuse lone surrogates in strings and keys, and nesting deeper than MAX_JSON_DEPTH (no recursion)."""
    stack = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise ValueError("a string holds a lone surrogate, which is not Unicode text")
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"the document is nested deeper than {MAX_JSON_DEPTH} levels")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


def init_json(app: Flask) -> None:
    app.json = StrictJSONProvider(app)

    @app.before_request
    def _api_bodies_are_json() -> None:
        # Also on routes that read no body (retry, logout): a form or text body is a client error, not ignored.
        if (request.path.startswith("/v1/") and request.method in ("POST", "PUT", "PATCH")
                and request.content_length and not request.is_json):
            raise UnsupportedMediaTypeError()

    @app.after_request
    def _no_content_type_without_content(response: Response) -> Response:
        # A 204 has no body, so no media type (Flask would label the empty string text/html).
        if response.status_code == 204:
            response.headers.pop("Content-Type", None)
        return response


def field_path(location: tuple[int | str, ...]) -> str:
    """('to', 2, 'email') → 'to[2].email'."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def validation_failed(exc: PydanticValidationError) -> ValidationError:
    errors = [
        {"field": field_path(tuple(err["loc"])), "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]
    return ValidationError("One or more fields are invalid.", errors=errors)


def json_body() -> Any:
    """The request's JSON value: 415 if not declared as JSON, 400 if not parseable."""
    if not request.is_json:
        raise UnsupportedMediaTypeError()
    data = request.get_json(silent=True)
    if data is None:
        raise InvalidJsonError()
    return data


def parse_body(model: type[T]) -> T:
    data = json_body()
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.", errors=[{"field": "body", "message": "not an object"}])
    return validate_value(model, data)


def validate_value(model: type[T], data: Any) -> T:
    """``data`` (parsed JSON) validated by ``model``: 422 naming the fields if not."""
    reject_nul(data)
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise validation_failed(exc) from None


def parse_query(model: type[T]) -> T:
    """The query string validated by ``model`` (the same model documents the parameters): 422 if not."""
    data = {name: request.args.get(name) for name in request.args}
    reject_nul(data)
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise validation_failed(exc) from None


def reject_nul(value: Any, path: tuple[int | str, ...] = ()) -> None:
    """422 for a NUL character in any string or key: no database stores it (PostgreSQL refuses it)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError(errors=[{"field": field_path(path), "message": "must not contain NUL characters"}])
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key, path)
            reject_nul(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_nul(item, (*path, index))
