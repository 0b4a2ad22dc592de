"""The JSON API: `/api/v1` for bearer tokens, its OpenAPI 3.1 schema and its docs page.

`create_app` mounts `api_routes(settings)` (through `app.features`), passes `openapi_config()` to Litestar, and wraps the app in
`ApiCorsMiddleware`. Token handling (issue, check, scopes, rate limits) is the core's
(`app.auth.core.api_tokens`); this package is the routes, the schemas and the error bodies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Router
from litestar.datastructures import MutableScopeHeaders
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from app.api.jwt_routes import AuthController
from app.api.problems import api_exception_handlers
from app.api.routes import InvitationsController, MeController, OrgsController, ProjectsController

if TYPE_CHECKING:
    from app.settings import Settings

__all__ = ("api_router", "api_routes", "openapi_config")

API_PREFIX = "/api/v1"


def api_routes(settings: Settings) -> Router:
    """The API's router for these settings (what `app.features` registers)."""
    return api_router(jwt_enabled=settings.api_jwt_enabled)


def api_router(*, jwt_enabled: bool = False) -> Router:
    """Every `/api/v1` route, with problem-details errors and `RateLimit-*` headers.

    `/api/v1/auth/*` (JWTs) is mounted only with `jwt_enabled`, so switched off it is 404 and
    absent from the schema.
    """
    handlers: list[Any] = [MeController, OrgsController, InvitationsController, ProjectsController]
    if jwt_enabled:
        handlers.append(AuthController)
    return Router(
        path=API_PREFIX,
        route_handlers=handlers,
        exception_handlers=api_exception_handlers(),
        security=[{"bearer": []}],
        middleware=[RateLimitHeadersMiddleware],
    )


class RateLimitHeadersMiddleware:
    """Adds the token's `RateLimit-*` headers (counted by the guard) to every API answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                rate = scope.get("api_rate")
                if rate:
                    headers = MutableScopeHeaders.from_message(message)
                    limit, remaining, reset = rate
                    if "ratelimit-limit" not in headers:
                        headers["RateLimit-Limit"] = str(limit)
                        headers["RateLimit-Remaining"] = str(remaining)
                        headers["RateLimit-Reset"] = str(reset)
                        headers["RateLimit-Policy"] = f"{limit};w=60"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def openapi_config(app_name: str, version: str) -> OpenAPIConfig:
    """OpenAPI 3.1 for the API, served as JSON at `/api/openapi.json` (the docs page reads it)."""
    return OpenAPIConfig(
        title=f"{app_name} API",
        version=version,
        path="/api",
        render_plugins=[JsonRenderPlugin(path="/openapi.json")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="A personal or organization token (gth_...), or an access token (JWT) from /api/v1/auth/token when switched on.",
                )
            }
        ),
        create_examples=False,
    )
