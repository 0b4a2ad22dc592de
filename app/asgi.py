"""The application factory: `create_app()` builds a Gatehouse app from one `Settings` object.

Nothing happens at import time: run it with `litestar --app app.asgi:create_app run` (what
`make dev` does) or `granian --factory app.asgi:create_app` (what `make serve` does), or call it
from a test with test settings.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.static_files import create_static_files_router
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.auth.core.clock import Clock
from app.auth.core.crypto import derive_key
from app.auth.core.limits import start_limits, stop_limits
from app.auth.core.middleware import AuthenticationMiddleware
from app.auth.core.pacing import hold_paced_answer
from app.auth.core.security_events import LISTENER_KEY as SECURITY_EVENT_LISTENER
from app.auth.core.web_security import (
    CrossSiteRequestMiddleware,
    MalformedHostMiddleware,
    SecurityHeadersMiddleware,
    origin_of,
)
from app.auth.devices import warm_up as warm_up_device_labels
from app.auth.guards import EXCEPTION_HANDLERS as AUTH_EXCEPTION_HANDLERS
from app.auth.routes import CONTROLLERS as AUTH_CONTROLLERS
from app.auth.security import build_security
from app.cli import GatehouseCLI
from app.db import build_db_config, build_db_plugin
from app.features import check_features, enabled, feature_exception_handlers, feature_handlers
from app.health import healthz
from app.jobs import JOB_CIPHER_INFO_KEY, dispatch_outbox, job_cipher
from app.logging import RequestLoggingMiddleware, configure_logging
from app.mail.routes import MailboxController, MailPreviewController
from app.settings import Settings
from app.web.errors import (
    busy_database_handler,
    database_error_handler,
    http_error_handler,
    know_who_is_asking,
    unexpected_error_handler,
)
from app.web.head import HeadAsGetMiddleware
from app.web.routes import AccountLandingController, SiteController
from app.web.slow_clients import BodyDeadlineMiddleware
from app.web.static_files import StaticFileSystem
from app.web.templating import STATIC, build_template_config
from app.worker import start_jobs, stop_jobs

__all__ = ("create_app",)

# Paths whose clients are not browsers with cookies (health probes, later the bearer-token API).
NON_BROWSER_PREFIXES = ("/healthz", "/api/")
API_VERSION = "1.0.0"


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Litestar:
    """Build the app. Without `settings`, read them from the environment and `.env`.

    `clock` replaces the system clock (tests use a `FrozenClock` to travel in time).
    """
    settings = settings or Settings()
    check_features(settings)  # again: a test's `model_copy` skips the settings' own validation
    configure_logging(settings)
    security = build_security(settings, clock)

    route_handlers: list[Any] = [
        SiteController,
        *AUTH_CONTROLLERS,
        # The optional features that are on (FEATURE_*; see app/features.py and docs/features.md).
        *feature_handlers(settings),
        healthz,
        create_static_files_router(
            path="/static",
            directories=[STATIC],
            name="static",
            include_in_schema=False,
            file_system=StaticFileSystem(),
            # URLs carry a content hash (see app.web.templating), so the files may be cached for good.
            cache_control=CacheControlHeader(max_age=31_536_000, public=True),
        ),
    ]
    if not enabled(settings, "orgs"):
        route_handlers.append(AccountLandingController)  # /dashboard, where sign-in lands
    if settings.dev_tools_enabled:
        route_handlers += [MailboxController, MailPreviewController]
    openapi = None
    # --- feature: api
    if enabled(settings, "api"):
        from app.api import openapi_config

        openapi = openapi_config(settings.app_name, API_VERSION)
    # --- end feature: api

    session_info: dict[str, Any] = {JOB_CIPHER_INFO_KEY: job_cipher(settings)}
    # --- feature: webhooks
    if enabled(settings, "webhooks"):
        from app.api.webhooks import announce_security

        # The audit writer hands security events to it; organizations opt in (app.auth.core.security_events).
        session_info[SECURITY_EVENT_LISTENER] = announce_security
    # --- end feature: webhooks
    db_config = build_db_config(settings, after_commit=dispatch_outbox, session_info=session_info)
    app = Litestar(
        route_handlers=route_handlers,
        plugins=[
            build_db_plugin(db_config),
            GatehouseCLI(),
        ],
        template_config=build_template_config(settings, security.policy),
        csrf_config=CSRFConfig(
            secret=derive_key(settings.secret, "gatehouse/csrf/v1").hex(),
            cookie_name="__Host-csrftoken" if settings.cookies_secure else "csrftoken",
            cookie_secure=settings.cookies_secure,
            cookie_httponly=True,  # pages embed the token; scripts never need to read the cookie
            cookie_samesite="lax",
            header_name="x-csrftoken",
            exclude=[f"^{prefix}" for prefix in NON_BROWSER_PREFIXES],
        ),
        allowed_hosts=AllowedHostsConfig(allowed_hosts=settings.hosts),
        middleware=[
            DefineMiddleware(
                CrossSiteRequestMiddleware,
                own_origin=origin_of(settings.base_url),
                exclude_prefixes=NON_BROWSER_PREFIXES,
            ),
            AuthenticationMiddleware,
        ],
        exception_handlers={
            **AUTH_EXCEPTION_HANDLERS,
            **feature_exception_handlers(settings),
            HTTPException: http_error_handler,
            PoolTimeoutError: busy_database_handler,
            DBAPIError: database_error_handler,
            OSError: database_error_handler,
            Exception: unexpected_error_handler,
        },
        after_exception=[know_who_is_asking],
        on_startup=[start_jobs, start_limits, lambda _: warm_up_device_labels()],
        on_shutdown=[stop_jobs, stop_limits],
        request_max_body_size=security.policy.request_body_max_bytes,
        state=State(
            {
                "settings": settings,
                "security": security,
                "db_config": db_config,
                "flash_key": derive_key(settings.secret, "gatehouse/flash/v1"),
            }
        ),
        logging_config=None,
        openapi_config=openapi,
        debug=False,
    )
    # After the database plugin's commit hook, so a paced answer waits for its commit and its mail.
    app.before_send.append(hold_paced_answer)
    # Wrapped around the whole app (not per route) so 404s and other router errors get them too,
    # so HEAD reaches the router as GET (Litestar would answer a HEAD for a GET page 405), and so
    # every read of a body, whoever reads it, has the same deadline.
    hsts = settings.is_prod and settings.base_url.startswith("https://")
    inner: Any = BodyDeadlineMiddleware(app.asgi_handler, seconds=settings.request_body_timeout)
    # Innermost of these, before Litestar builds `request.url`: a Host header it cannot parse is a 400.
    inner = HeadAsGetMiddleware(MalformedHostMiddleware(inner))
    # --- feature: api
    if enabled(settings, "api"):
        from app.api.cors import ApiCorsMiddleware

        inner = ApiCorsMiddleware(inner, settings.api_cors_origins)
    # --- end feature: api
    app.asgi_handler = SecurityHeadersMiddleware(RequestLoggingMiddleware(inner), hsts=hsts)
    return app
