"""Error bodies of the API: RFC 9457 problem details, for every error under `/api/`.

Whatever went wrong (no token, a missing scope, an unknown project, a body that does not parse, too
many requests, a route that does not exist), the answer is `application/problem+json` with
`type`, `title`, `status` and, where it helps, `detail` and `errors` (one per invalid field).
Nothing of the exception's internals is ever shown.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from app.auth.core.api_auth import rate_limit_headers
from app.auth.core.orgs import OrgRuleError

__all__ = ("PROBLEMS", "PROBLEM_JSON", "Problem", "ProblemBody", "api_exception_handlers", "problem_response")

PROBLEM_JSON = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Temporarily unavailable",
}
_FORWARDED_HEADERS = (
    "retry-after",
    "allow",
    "www-authenticate",
    "etag",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
)


class FieldError(msgspec.Struct):
    """One invalid field of a request."""

    field: str
    message: str


class ProblemBody(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem-details body."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(
        ProblemBody, description=description, media_type=PROBLEM_JSON, generate_examples=False
    )


PROBLEMS = {
    400: _spec("The request could not be read (a bad cursor, a body that is not JSON)"),
    401: _spec("No valid bearer token"),
    403: _spec("The token or its owner's role lacks the permission"),
    404: _spec("No such resource, or not one this token may see"),
    422: _spec("Invalid fields; `errors` lists them"),
    429: _spec("Too many requests from this token; see Retry-After"),
}
"""The error answers every API operation documents (the handlers pass `responses=PROBLEMS`)."""

READ_PROBLEMS: dict[int, ResponseSpec] = {
    **PROBLEMS,
    304: ResponseSpec(
        None, description="Not modified: `If-None-Match` names the current ETag", generate_examples=False
    ),
}
"""What a read with an `ETag` may answer besides `PROBLEMS`."""

CHANGE_PROBLEMS = {
    **PROBLEMS,
    409: _spec("The change breaks a rule of the organization (e.g. its last owner)"),
    412: _spec("`If-Match` names a version that is no longer the current one"),
}
"""What a change with rules or an `If-Match` precondition may answer besides `PROBLEMS`."""


class Problem(HTTPException):
    """An API error with a message for the caller and, for invalid input, the fields at fault."""

    def __init__(self, status: int, detail: str, *, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(status_code=status, detail=detail)
        self.errors = errors or []


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    *,
    detail: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """A problem-details answer with the request's rate-limit headers."""
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return Response(
        body,
        status_code=status,
        media_type=PROBLEM_JSON,
        headers={**rate_limit_headers(request), **(headers or {}), "Cache-Control": "no-store"},
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in _FORWARDED_HEADERS}
    status = exc.status_code
    # Litestar's own detail for a bare status is its phrase; only our messages are worth showing.
    detail = exc.detail if exc.detail and exc.detail != TITLES.get(status) and status < 500 else None
    return problem_response(
        request, status, detail=detail, errors=getattr(exc, "errors", None), headers=headers
    )


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = [
        {"field": str(item.get("key") or item.get("source") or ""), "message": str(item.get("message", ""))}
        for item in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(item, dict)
    ]
    return problem_response(
        request, 422 if errors else 400, detail="The request is not valid.", errors=errors
    )


def _org_rule(request: Request[Any, Any, Any], exc: OrgRuleError) -> Response[Any]:
    """A rule of the organization core refused the change (the same reasons the pages show)."""
    return problem_response(request, exc.status, detail=exc.reason)


def api_exception_handlers() -> dict[Any, Any]:
    """The API router's exception handlers (errors raised before routing are in `app.web.errors`)."""
    return {ValidationException: _validation_error, HTTPException: _http_error, OrgRuleError: _org_rule}
