"""Client-visible failures and the one place that renders them as RFC 9457 problem JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from mailer.smtp.validation import MessageTooLargeError, MessageValidationError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


class MailerError(Exception):
    """A failure the client should see, with its HTTP status and contract code."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}


class InvalidJsonError(MailerError):
    status, code, title = 400, "invalid_json", "Request body is not valid JSON"


class InvalidTokenError(MailerError):
    status, code, title = 400, "invalid_token", "The token is invalid or has been used"


class TokenExpiredError(MailerError):
    status, code, title = 400, "token_expired", "The token has expired"


class UnauthorizedError(MailerError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class InvalidCredentialsError(MailerError):
    status, code, title = 401, "invalid_credentials", "Invalid email or password"


class ForbiddenError(MailerError):
    status, code, title = 403, "forbidden", "Your role does not allow this"


class EmailNotVerifiedError(MailerError):
    status, code, title = 403, "email_not_verified", "The email address has not been verified"


class AccountDisabledError(MailerError):
    status, code, title = 403, "account_disabled", "The account is disabled"


class SignupDisabledError(MailerError):
    status, code, title = 403, "signup_disabled", "Sign-up is closed for this tenant"


class NotFoundError(MailerError):
    status, code, title = 404, "not_found", "Not found"


class IdempotencyConflictError(MailerError):
    status, code, title = 409, "idempotency_conflict", "Idempotency-Key was used with a different body"


class PayloadTooLargeError(MailerError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaTypeError(MailerError):
    status, code, title = 415, "unsupported_media_type", "Content-Type must be application/json"


class ValidationError(MailerError):
    status, code, title = 422, "validation_error", "The request is not valid"


class TemplateError(MailerError):
    status, code, title = 422, "template_error", "The template cannot be rendered"


class RateLimitedError(MailerError):
    status, code, title = 429, "rate_limited", "Too many requests"


class QuotaExceededError(MailerError):
    status, code, title = 429, "quota_exceeded", "The tenant's daily quota is used up"


class UnavailableError(MailerError):
    status, code, title = 503, "unavailable", "A dependency is unavailable"


class TemplateRenderError(Exception):
    """A template that cannot be compiled or rendered (raised by mailer.mail.rendering); `part` and `line` say
    where. Not a MailerError: the pipeline raises it, and the API answers it as a TemplateError (_MAPPED)."""

    def __init__(self, message: str, *, part: str, line: int | None = None) -> None:
        where = f"{part}, line {line}" if line else part
        super().__init__(f"{where}: {message}")
        self.message, self.part, self.line = message, part, line


def problem_body(
    status: int, code: str, title: str, detail: str | None = None, errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The problem JSON document (also embedded per item by POST /v1/messages/batch)."""
    body: dict[str, Any] = {
        "type": f"urn:mailer:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
        "request_id": g.get("request_id"),
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = jsonify(problem_body(status, code, title, detail, errors))
    response.status_code = status
    response.content_type = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _template_error(exc: TemplateRenderError) -> TemplateError:
    """The one shape of a template failure, wherever it is rendered: the part as the field, and the line."""
    error: dict[str, Any] = {"field": exc.part, "message": str(exc)}
    if exc.line:
        error["line"] = exc.line
    return TemplateError(str(exc), errors=[error])


def _invalid_message(exc: MessageValidationError) -> ValidationError:
    errors = [{"field": e.field, "message": e.message} for e in exc.errors]
    return ValidationError("One or more fields are invalid.", errors=errors)


# The lower layers' typed errors and the problem each one is (the one mapping).
_MAPPED: tuple[tuple[type[Exception], Callable[[Any], MailerError]], ...] = (
    (MessageTooLargeError, lambda exc: PayloadTooLargeError(str(exc))),
    (MessageValidationError, _invalid_message),
    (TemplateRenderError, _template_error),
)
MAPPED_ERRORS = (MailerError, *(kind for kind, _ in _MAPPED))


def as_mailer_error(exc: Exception) -> MailerError:
    """The problem a MailerError or a mapped lower-layer error stands for (batch items embed it)."""
    for kind, to_problem in _MAPPED:
        if isinstance(exc, kind):
            return to_problem(exc)
    if isinstance(exc, MailerError):
        return exc
    raise TypeError(f"not a mapped error: {type(exc).__name__}")


# (path prefix, renderer): the paths whose errors are HTML pages (the console), not problem JSON.
ErrorPage = Callable[[int, str, dict[str, str]], Response]


def register_error_page(app: Flask, prefix: str, render: ErrorPage) -> None:
    """Errors under ``prefix`` are rendered by ``render(status, code, headers)`` (a page in its own layout)."""
    app.extensions.setdefault("mailer_error_pages", []).append((prefix, render))


def _answer(status: int, code: str, title: str, detail: str | None = None,
            errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> Response:
    for prefix, render in current_app.extensions.get("mailer_error_pages", ()):
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return render(status, code, headers or {})
    return problem(status, code, title, detail, errors, headers)


def _as_problem(exc: Exception) -> Response:
    error = as_mailer_error(exc)
    return _answer(error.status, error.code, error.title, error.detail, error.errors, error.headers)


def register_error_handlers(app: Flask) -> None:
    for kind in MAPPED_ERRORS:
        app.register_error_handler(kind, _as_problem)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = {}
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        if status == 429:
            return _answer(429, "rate_limited", "Too many requests", exc.description)
        return _answer(status, _HTTP_CODES.get(status, "error"), exc.name, exc.description, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return _answer(500, "internal_error", "Internal server error", "An unexpected error occurred.")
