"""Documentation metadata recorded on view functions; `spec.py` turns it into OpenAPI.

A route is documented by decorating its view (outermost, above `@bp.get(...)`'s view body
decorators such as `require_role`)::

    @bp.post("/messages")
    @documented(body=MessageRequest, response=MessageAccepted, status=202, summary="Send a message")
    @require_role(Role.USER, Role.ADMIN, Role.SERVICE)
    def create_message(): ...

The same pydantic models that validate requests describe them, so the description cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__mailer_openapi__"


@dataclass(frozen=True)
class Operation:
    """What one HTTP method of a route takes and answers.

    ``errors`` lists extra problem+json statuses; the spec adds the ones every such route can
    answer on its own (401/403 with ``auth``, 400/413/415/422 with a ``body``, 404 with path
    parameters, 422 with ``query``, 429 under /v1).
    """

    summary: str
    body: type[BaseModel] | None = None
    body_required: bool = True
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    auth: bool = True
    query: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    description: str = ""
    content_type: str = "application/json"
    responses: Mapping[int, type[BaseModel] | None] = field(default_factory=dict)


def documented(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: Iterable[int] = (),
    auth: bool = True,
    query: type[BaseModel] | None = None,
    headers: Mapping[str, str] | None = None,
    tags: Iterable[str] = (),
    description: str = "",
    content_type: str = "application/json",
    responses: Mapping[int, type[BaseModel] | None] | None = None,
    methods: Iterable[str] | None = None,
) -> Callable[[F], F]:
    """Record the route's documentation on the view; `methods` limits it to some HTTP methods
    (for a view that serves several), otherwise it covers every method of the route.

    ``responses`` adds statuses answered with a body other than problem+json (e.g. /readyz's 503).
    ``body_required=False`` documents a body the route also accepts being absent (an empty request).
    """
    operation = Operation(
        summary=summary, body=body, body_required=body_required, response=response, status=status,
        errors=tuple(errors), auth=auth, query=query, headers=dict(headers or {}), tags=tuple(tags),
        description=description, content_type=content_type, responses=dict(responses or {}),
    )

    def decorator(view: F) -> F:
        recorded: dict[str, Operation] = dict(getattr(view, ATTRIBUTE, {}))
        for method in methods or ("*",):
            recorded[method.upper()] = operation
        setattr(view, ATTRIBUTE, recorded)
        return view

    return decorator


def operation_for(view: Callable[..., Any], method: str) -> Operation | None:
    """The documentation of ``method`` on ``view``, or None if the route is undocumented."""
    recorded: dict[str, Operation] = getattr(view, ATTRIBUTE, {})
    return recorded.get(method.upper()) or recorded.get("*")
