"""Signing in with an identity provider, and the pages around it (the flows are the core's).

- `POST /auth/oauth/<key>/start`: the sign-in and registration buttons; the answer is a page that
  navigates on to the provider (`to_provider`).
- `GET /auth/oauth/<key>/callback`: where the provider sends the browser back. It changes
  nothing: the page hands the provider's answer on in a same-site POST (sent at once by
  `static/js/app.js`, or by its button without JavaScript), which carries the CSRF token and
  runs in a transaction like every other form.
- `POST /auth/oauth/<key>/callback`: the core finishes the trip (`finish`); this answers.
- `GET /login/oauth/account-exists`: "sign in to that account first, then connect the provider".
- `GET /sudo/provider`, `POST /sudo/provider/<key>`: sudo for an account whose only way in is a
  provider (the sudo page links here).

With no provider configured, every route here answers 404 (after the sign-in check, for the pages
that need one: a half-signed-in browser is still sent to its second step).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from litestar.types import ExceptionHandlersMap

from app.auth.core.guards import requires_anonymous, requires_user
from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.oauth.callback import (
    Answer,
    Finished,
    Outcome,
    begin,
    finish,
    grant_provider_sudo,
    may_reauthenticate_with_provider,
    sudo_choices,
)
from app.auth.core.oauth.flows import Departure, Purpose, bind_to_browser
from app.auth.core.oauth.problems import OAuthFlowError, Reason
from app.auth.core.oauth.providers import Provider
from app.auth.core.redirects import safe_redirect_target
from app.auth.core.sudo import clear_replay, read_replay
from app.auth.core.toolkit import security_of
from app.auth.routes.common import NO_STORE, TOKEN_PAGE_HEADERS, FormData
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import render, see_other

CONNECTED_ACCOUNTS_PATH = "/settings/connected-accounts"
ACCOUNT_EXISTS_PATH = "/login/oauth/account-exists"
ANSWER_FIELDS = ("code", "state", "iss", "error")
"""What a provider's answer may carry on to the POST (`error_description` is never shown)."""

PROBLEMS = {
    Reason.DENIED: "You did not allow {provider} to sign you in, so nothing changed.",
    Reason.BAD_STATE: "This sign-in link has already been used or was never ours. Start again.",
    Reason.OTHER_BROWSER: "This sign-in was started in another browser. Start again here.",
    Reason.EXPIRED: "This sign-in took too long and has expired. Start again.",
    Reason.MIXED_UP: "The answer did not come from {provider}. Start again.",
    Reason.UNREACHABLE: "{provider} could not be reached. Try again in a few minutes.",
    Reason.REFUSED: "{provider} did not accept this sign-in. Start again.",
    Reason.INVALID_TOKEN: "{provider}'s answer could not be verified, so nothing changed. Start again.",
    Reason.NO_VERIFIED_EMAIL: (
        "{provider} did not give us a verified email address, so we cannot create an account with it. "
        "Verify your address with {provider}, or create an account with your email address."
    ),
    Reason.SIGNUP_CLOSED: "Registration is not open for this address.",
    Reason.ACCOUNT_UNAVAILABLE: "We cannot sign you in to this account.",
    Reason.IDENTITY_TAKEN: "That {provider} account is already connected to another account.",
    Reason.PROVIDER_TAKEN: "You already have a {provider} account connected. Disconnect it first.",
    Reason.WRONG_ACCOUNT: "You are no longer signed in as the person who started this. Start again.",
    Reason.NOT_CONNECTED: "That {provider} account is not connected to your account.",
    Reason.NOT_FRESH: "{provider} did not ask you to sign in again, so we could not confirm it is you.",
    Reason.NOT_ALLOWED: "Confirm it is you with your password or passkey instead.",
}
"""What the person reads for each failure (the audit log has the reason)."""


def requires_providers(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """No provider configured: none of these pages exists."""
    if not security_of(connection).oauth:
        raise NotFoundException()


def provider_named(request: Request[Any, Any, Any], key: str) -> Provider:
    """The configured provider with this key (404 for any other)."""
    provider = security_of(request).oauth.get(key)
    if provider is None:
        raise NotFoundException()
    return provider


def to_provider(request: Request[Any, Any, Any], provider: Provider, departure: Departure) -> Template:
    """The page that takes the browser on to the provider, tied to this browser by its cookie.

    A navigation (the `Refresh` header, and a link), not a redirect of the form's POST: the CSP's
    `form-action 'self'` stays as strict as it is, whatever origin the provider's endpoint has.
    """
    response = render(
        request,
        "auth/oauth_departure.html",
        provider=provider,
        url=departure.url,
        headers={**TOKEN_PAGE_HEADERS, "Refresh": f"0;url={departure.url}"},
    )
    bind_to_browser(response, departure, security_of(request))
    return response


def problem_page(request: Request[Any, Any, Any], exc: OAuthFlowError) -> Response[Any]:
    """One page for every failed trip to a provider: what happened, and a way back."""
    provider = security_of(request).oauth.get(exc.provider)
    name = provider.display_name if provider is not None else "The provider"
    back = {"link": CONNECTED_ACCOUNTS_PATH, "sudo": "/settings"}.get(exc.purpose)
    if back is None:
        back = "/settings" if request.scope.get("user") is not None else "/login"
    return render(
        request,
        "auth/oauth_problem.html",
        message=PROBLEMS[exc.reason].format(provider=name),
        back=back,
        status=exc.reason.status_code,
        headers=TOKEN_PAGE_HEADERS,
    )


OAUTH_EXCEPTION_HANDLERS: ExceptionHandlersMap = {OAuthFlowError: problem_page}


class OAuthController(Controller):
    """Sign in (or up) with a provider; sudo through one."""

    include_in_schema = False
    exception_handlers = OAUTH_EXCEPTION_HANDLERS

    @post(
        "/auth/oauth/{key:str}/start",
        name="oauth_start",
        guards=[requires_providers, requires_anonymous, limit_posts_per_ip],
    )
    async def start(
        self, request: Request[Any, Any, Any], db_session: DBSession, key: FromPath[str], data: FormData
    ) -> Response[Any]:
        """Off to the provider (its answer comes back to the callback below)."""
        provider = provider_named(request, key)
        departure = await begin(
            db_session, request, provider, purpose=Purpose.SIGN_IN, next_url=data.get("next", "")
        )
        return to_provider(request, provider, departure)

    @get("/auth/oauth/{key:str}/callback", name="oauth_landing", guards=[requires_providers])
    async def landing(self, request: Request[Any, Any, Any], key: FromPath[str]) -> Template:
        """Back from the provider: hand its answer on in a POST (this GET changes nothing)."""
        provider = provider_named(request, key)
        query = request.query_params
        fields = [(name, query[name][:2048]) for name in ANSWER_FIELDS if isinstance(query.get(name), str)]
        return render(
            request, "auth/oauth_callback.html", provider=provider, fields=fields, headers=TOKEN_PAGE_HEADERS
        )

    @post(
        "/auth/oauth/{key:str}/callback",
        name="oauth_callback",
        guards=[requires_providers, limit_posts_per_ip],
    )
    async def callback(
        self, request: Request[Any, Any, Any], db_session: DBSession, key: FromPath[str], data: FormData
    ) -> Response[Any]:
        """The core checks the answer and does what it means; this page says what happened."""
        provider = provider_named(request, key)
        answer = Answer(
            state=data.get("state", ""),
            code=data.get("code", ""),
            iss=data.get("iss"),
            error=data.get("error", ""),
        )
        finished = await finish(db_session, request, provider, answer, redirect=partial(see_other, request))
        return await _answer(db_session, request, finished)

    @get(ACCOUNT_EXISTS_PATH, name="oauth_account_exists", guards=[requires_providers])
    async def account_exists(
        self, request: Request[Any, Any, Any], provider: FromQuery[str] = ""
    ) -> Template:
        """The provider's address has an account here: sign in to it, then connect the provider."""
        return render(
            request,
            "auth/oauth_account_exists.html",
            provider=provider_named(request, provider),
            next=CONNECTED_ACCOUNTS_PATH,
            headers=NO_STORE,
        )

    @get("/sudo/provider", name="oauth_sudo", guards=[requires_user, requires_providers])
    async def sudo_page(
        self, request: Request[Any, Any, Any], db_session: DBSession, next: FromQuery[str | None] = None
    ) -> Template:
        """Confirm it is you by signing in again at a connected provider."""
        return render(
            request,
            "auth/sudo_provider.html",
            choices=await sudo_choices(db_session, request),
            allowed=await may_reauthenticate_with_provider(db_session, request),
            next=safe_redirect_target(next, default="/settings"),
            replay=read_replay(request),
            headers=NO_STORE,
        )

    @post(
        "/sudo/provider/{key:str}",
        name="oauth_sudo_start",
        guards=[requires_user, requires_providers, limit_posts_per_ip],
    )
    async def sudo_start(
        self, request: Request[Any, Any, Any], db_session: DBSession, key: FromPath[str], data: FormData
    ) -> Response[Any]:
        """Off to the provider, which is asked to make the person sign in again."""
        provider = provider_named(request, key)
        departure = await begin(
            db_session, request, provider, purpose=Purpose.SUDO, next_url=data.get("next", "")
        )
        return to_provider(request, provider, departure)


async def _answer(db: DBSession, request: Request[Any, Any, Any], finished: Finished) -> Response[Any]:
    """The page after a successful trip."""
    name = finished.provider.display_name
    if finished.outcome is Outcome.SIGNED_IN and finished.response is not None:
        return finished.response
    if finished.outcome is Outcome.ACCOUNT_EXISTS:
        return see_other(request, f"{ACCOUNT_EXISTS_PATH}?provider={finished.provider.key}")
    if finished.outcome is Outcome.REAUTHENTICATED:
        replay = read_replay(request)
        response: Response[Any] = (
            render(request, "auth/sudo_continue.html", replay=replay, headers=NO_STORE)
            if replay is not None
            else see_other(request, finished.next_url)
        )
        await grant_provider_sudo(db, request, response, finished)
        if replay is not None:
            clear_replay(response, security_of(request))
        return response
    if finished.outcome is Outcome.LINKED:
        flash(request, f"{name} is connected. You can sign in with it from now on.", "success")
    else:
        flash(request, f"That {name} account was already connected.", "info")
    return see_other(request, CONNECTED_ACCOUNTS_PATH)
