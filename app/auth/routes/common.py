"""Small pieces the account routes share: form bodies and cache headers."""

from __future__ import annotations

from typing import Annotated

from litestar.enums import RequestEncodingType
from litestar.params import Body

from app.auth.core.landing import (
    NO_STORE,
    TOKEN_PAGE_HEADERS,
    forget_link_token,
    kept_link_token,
    land_from_mail,
)
from app.auth.core.mail_tokens import CodeProblem
from app.auth.core.signin import sign_user_in

__all__ = (
    "NO_STORE",
    "TOKEN_PAGE_HEADERS",
    "FormData",
    "code_problem_answer",
    "code_problem_text",
    "forget_link_token",
    "kept_link_token",
    "land_from_mail",
    "sign_user_in",
)

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
"""A posted HTML form."""


def code_problem_text(problem: CodeProblem | None, *, throttled: str, expired: str) -> str:
    """What to tell someone whose typed code did not work (the core says why, the host says it)."""
    if problem is None:
        return "That code did not work."
    if problem.kind == "throttled":
        wait = problem.retry_after
        return f"{throttled} Try again in {wait} second{'s' if wait != 1 else ''}."
    if problem.kind == "wrong":
        tries = "1 try" if problem.tries_left == 1 else f"{problem.tries_left} tries"
        return f"That code is not right. {tries} left."
    return expired


def code_problem_answer(problem: CodeProblem | None) -> tuple[int, dict[str, str]]:
    """Status and extra headers for a refused code: 429 with Retry-After while the address must wait.

    Any other refusal (a wrong, expired or malformed code) is the form's own 422.
    """
    if problem is not None and problem.kind == "throttled":
        return 429, {"Retry-After": str(problem.retry_after)}
    return 422, {}
