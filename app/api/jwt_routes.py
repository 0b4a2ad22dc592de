"""`/api/v1/auth`: the optional JWT endpoints (token, refresh, revoke), mounted only when switched on.

The flows are the core's (`app.auth.core.jwt_tokens`); here they meet HTTP. These routes take no
bearer token (they are how one gets an access token) and every POST is limited per client
address like the sign-in form; a password exchange is throttled per address as sign-in is.
Answers carry `Cache-Control: no-store`, since they hold secrets.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from app.api.problems import PROBLEMS, Problem
from app.api.schemas import RefreshRequest, TokenPair, TokenRequest
from app.auth.core.jwt_tokens import (
    GrantRefusedError,
    IssuedGrant,
    exchange_api_token,
    exchange_password,
    refresh_grant,
    revoke_grant,
)
from app.auth.core.limits import limit_posts_per_ip
from app.db import DBSession

__all__ = ("AuthController",)

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _pair(issued: IssuedGrant) -> Response[TokenPair]:
    body = TokenPair(
        access_token=issued.access_token,
        token_type="Bearer",  # noqa: S106 (the scheme, not a secret)
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        refresh_expires_in=issued.refresh_expires_in,
        scope=" ".join(issued.scopes),
    )
    return Response(body, status_code=HTTP_200_OK, headers=_NO_STORE)


def _problem(exc: GrantRefusedError) -> Problem:
    problem = Problem(exc.status, exc.detail)
    if exc.retry_after:
        problem.headers = {"Retry-After": str(exc.retry_after)}
    elif exc.status == 401:
        problem.headers = {"WWW-Authenticate": 'Bearer realm="api", error="invalid_grant"'}
    return problem


class AuthController(Controller):
    """Exchange a personal token or a password for JWTs, refresh them, revoke them."""

    path = "/auth"
    tags = ["authentication"]
    guards = [limit_posts_per_ip]
    security = [{}]  # no bearer token needed (the router's default otherwise asks for one)

    @post("/token", responses=PROBLEMS, status_code=HTTP_200_OK, summary="Get an access token")
    async def token(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: JSONBody[TokenRequest]
    ) -> Response[TokenPair]:
        """Exchange a personal access token (`api_token`), or an address and password (`email`,
        `password`, and `code` when the account has two-step verification), for a 15-minute access
        token and a 30-day refresh token."""
        try:
            if data.api_token is not None:
                return _pair(await exchange_api_token(db_session, request, data.api_token))
            if data.email is None or data.password is None:
                raise Problem(
                    422,
                    "Send either `api_token`, or `email` and `password`.",
                    errors=[
                        {"field": "api_token", "message": "api_token, or email and password, is required"}
                    ],
                )
            return _pair(await exchange_password(db_session, request, data.email, data.password, data.code))
        except GrantRefusedError as exc:
            raise _problem(exc) from None

    @post("/refresh", responses=PROBLEMS, status_code=HTTP_200_OK, summary="Refresh an access token")
    async def refresh(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: JSONBody[RefreshRequest]
    ) -> Response[TokenPair]:
        """Spend a refresh token for a new access token and the next refresh token. A refresh token
        works once: presenting a spent one revokes every token of its grant."""
        try:
            return _pair(await refresh_grant(db_session, request, data.refresh_token))
        except GrantRefusedError as exc:
            raise _problem(exc) from None

    @post("/revoke", responses=PROBLEMS, status_code=HTTP_204_NO_CONTENT, summary="Revoke a grant")
    async def revoke(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: JSONBody[RefreshRequest]
    ) -> Response[None]:
        """Revoke the grant of a refresh token: it and every access token it gave stop working. An
        unknown token is answered the same way (RFC 7009)."""
        await revoke_grant(db_session, request, data.refresh_token)
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers=_NO_STORE)
