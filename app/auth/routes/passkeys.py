"""Passkeys: manage them in settings, sign in with one, use one as the second factor or for sudo.

The settings page and its rename and remove forms are plain HTML and work without JavaScript.
The ceremonies need the browser's WebAuthn API, so they are JSON endpoints that
`static/js/passkeys.js` calls (POST, with the CSRF token in the `x-csrftoken` header): an
*options* endpoint and a *verify* endpoint each. A verify that worked answers
`{"redirect": "/path"}` (its cookies already set); one that did not answers a 4xx with
`{"error": "..."}`, which the script shows in the page's live region. The rules are the core's
(`app.auth.core.passkeys` and friends); this module says them in words.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.response import Template

from app.auth.core.guards import requires_anonymous, requires_sudo, requires_user
from app.auth.core.impersonation import refuses_impersonation
from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.passkey_challenges import PasskeyRefused
from app.auth.core.passkey_sign_in import (
    answer_with_passkey,
    second_factor_options,
    sign_in_options,
    sign_in_with_passkey,
    sudo_options,
    sudo_with_passkey,
)
from app.auth.core.passkey_store import add_passkey, list_passkeys, remove_passkey, rename_passkey
from app.auth.core.passkeys import registration_options
from app.auth.core.redirects import safe_redirect_target
from app.auth.core.second_factor import factors_of
from app.auth.core.session_store import CurrentSession, load_account
from app.auth.core.sessions import sudo_is_fresh
from app.auth.core.sudo import Replay, clear_replay, read_replay
from app.auth.core.toolkit import Security
from app.auth.forms import PasskeyNameForm
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.web.flash import carry_flashes, flash
from app.web.htmx import render, see_other

SETTINGS_PATH = "/settings/passkeys"

REFUSALS: dict[str, tuple[int, str]] = {
    "expired": (400, "That passkey request expired or was already used. Please try again."),
    "rejected": (400, "That passkey could not be verified. Please try again, or use another way in."),
    "unknown": (400, "That passkey is not registered for this account. Try another one."),
    "no_passkeys": (400, "This account has no passkey yet."),
    "already_registered": (409, "That passkey is already registered."),
    "too_many": (409, "You have as many passkeys as an account can have. Remove one to add another."),
    "last_way_in": (
        409,
        "This passkey is the only way into your account. Add another passkey or choose a password first.",
    ),
}
"""What each refusal of the core (`PasskeyRefused.reason`) tells the user, and its status."""

START_OVER = "Your sign-in took too long. Please sign in again."

JSONData = JSONBody[dict[str, Any]]
"""A JSON body sent by passkeys.js."""


def wants_json(request: Request[Any, Any, Any]) -> bool:
    """Whether the script (not a form) asked: the ceremonies' fetch() calls say so in Accept."""
    return "application/json" in request.headers.get("accept", "")


def follow(request: Request[Any, Any, Any], path: str) -> Response[Any]:
    """The script's "it worked, go to `path`" (flash messages ride along, as on a redirect)."""
    response: Response[Any] = Response({"redirect": path}, status_code=200, headers=NO_STORE)
    carry_flashes(request, response)
    return response


def options_answer(options: dict[str, Any]) -> Response[Any]:
    """Ceremony options for the script."""
    return Response(options, status_code=200, headers=NO_STORE)


def resend(replay: Replay) -> Response[Any]:
    """The script's "it worked, now send this form again" (the form the sudo prompt interrupted)."""
    content = {"replay": {"path": replay.path, "fields": replay.fields}}
    return Response(content, status_code=200, headers=NO_STORE)


def start_over() -> Response[Any]:
    """The pre-session lapsed (or was used): back to the sign-in page."""
    return Response({"error": START_OVER, "redirect": "/login"}, status_code=400, headers=NO_STORE)


def passkey_refused(request: Request[Any, Any, Any], exc: PasskeyRefused) -> Response[Any]:
    """A refused ceremony: JSON for the script, a flash on the settings page for a form."""
    status, message = REFUSALS.get(exc.reason, REFUSALS["rejected"])
    if wants_json(request):
        return Response({"error": message}, status_code=status, headers=NO_STORE)
    flash(request, message, "error")
    return see_other(request, SETTINGS_PATH)


def credential_of(data: dict[str, Any]) -> dict[str, Any]:
    """The `credential.toJSON()` the script sent (anything else verifies as nothing)."""
    credential = data.get("credential")
    return credential if isinstance(credential, dict) else {}


def next_of(data: dict[str, Any], default: str = "") -> str:
    """The same-site path the script asked to return to, or `default`."""
    value = data.get("next")
    return safe_redirect_target(value if isinstance(value, str) else None, default=default)


class PasskeyController(Controller):
    """The passkey settings page and signing in with a passkey alone (FEATURE_PASSKEYS)."""

    include_in_schema = False
    exception_handlers = {PasskeyRefused: passkey_refused}

    # --- settings [55][58]

    @get(SETTINGS_PATH, name="settings_passkeys", guards=[requires_user, refuses_impersonation])
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """The user's passkeys; adding, renaming and removing one needs sudo, so it is offered then."""
        security: Security = request.app.state.security
        current: CurrentSession = request.auth
        passkeys = await list_passkeys(db_session, request.user.id)
        sudo_fresh = sudo_is_fresh(current.authenticated_at, security.clock.now(), security.policy)
        return render(
            request,
            "settings/passkeys.html",
            passkeys=passkeys,
            section="passkeys",
            sudo_fresh=sudo_fresh,
            # Only to say how else to confirm it is you (the sudo page asks for the strongest factor).
            factors=None if sudo_fresh else await factors_of(db_session, request.user.id),
            max_passkeys=security.policy.max_passkeys_per_user,
            can_remove_last=request.user.has_password,
            headers=NO_STORE,
        )

    @post(f"{SETTINGS_PATH}/options", name="passkey_register_options", guards=[requires_sudo])
    async def register_start(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Options to create a passkey for this account."""
        user = await load_account(db_session, request.app.state.security, request.user)
        options = await registration_options(
            db_session, request, user, display_name=request.user.display_name
        )
        return options_answer(options)

    @post(f"{SETTINGS_PATH}/verify", name="passkey_register_verify", guards=[requires_sudo])
    async def register_finish(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: JSONData
    ) -> Response[Any]:
        """Store the new passkey; other browsers are signed out and the owner is mailed."""
        user = await load_account(db_session, request.app.state.security, request.user)
        passkey = await add_passkey(db_session, request, user, credential_of(data))
        flash(request, f"Passkey added: “{passkey.name}”. You can rename it below.", "success")
        return follow(request, SETTINGS_PATH)

    @post(f"{SETTINGS_PATH}/{{passkey_id:uuid}}/rename", name="passkey_rename", guards=[requires_sudo])
    async def rename(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        passkey_id: FromPath[UUID],
        data: FormData,
    ) -> Response[Any]:
        """Give a passkey a name its owner will recognise."""
        form = PasskeyNameForm.parse(data)
        if form.errors:
            flash(request, form.errors["name"], "error")
        elif await rename_passkey(db_session, request, request.user.id, passkey_id, form.name):
            flash(request, f"Passkey renamed to “{form.name}”.", "success")
        else:
            raise NotFoundException()
        return see_other(request, SETTINGS_PATH)

    @post(f"{SETTINGS_PATH}/{{passkey_id:uuid}}/delete", name="passkey_delete", guards=[requires_sudo])
    async def delete(
        self, request: Request[Any, Any, Any], db_session: DBSession, passkey_id: FromPath[UUID]
    ) -> Response[Any]:
        """Remove a passkey (never the last way into the account)."""
        user = await load_account(db_session, request.app.state.security, request.user)
        name = await remove_passkey(db_session, request, user, passkey_id)
        if name is None:
            raise NotFoundException()
        flash(request, f"Passkey “{name}” removed. Other devices were signed out.", "success")
        return see_other(request, SETTINGS_PATH)

    # --- signing in without an email address [57]

    @post(
        "/login/passkey/options",
        name="passkey_sign_in_options",
        guards=[requires_anonymous, limit_posts_per_ip],
    )
    async def sign_in_start(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Options for whatever passkey this browser holds for the site."""
        return await sign_in_options(db_session, request, options_answer)

    @post(
        "/login/passkey/verify",
        name="passkey_sign_in_verify",
        guards=[requires_anonymous, limit_posts_per_ip],
    )
    async def sign_in_finish(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: JSONData
    ) -> Response[Any]:
        """Sign in as the passkey's owner (a passkey is both factors)."""
        return await sign_in_with_passkey(
            db_session,
            request,
            credential_of(data),
            redirect=partial(follow, request),
            next_url=next_of(data) or None,
        )


class PasskeyAnswersController(Controller):
    """A registered passkey answering the second step of signing in, or a sudo prompt.

    Outside FEATURE_PASSKEYS on purpose: with passkeys switched off nobody can add one, but a
    passkey someone already registered still protects their account, so it must still be answerable.
    """

    include_in_schema = False
    exception_handlers = {PasskeyRefused: passkey_refused}

    # --- the second factor [16]

    @post(
        "/login/two-factor/passkey/options", name="passkey_second_factor_options", guards=[limit_posts_per_ip]
    )
    async def second_factor_start(
        self, request: Request[Any, Any, Any], db_session: DBSession
    ) -> Response[Any]:
        """Options for the passkeys of the account this browser is signing in to."""
        options = await second_factor_options(db_session, request)
        return start_over() if options is None else options_answer(options)

    @post(
        "/login/two-factor/passkey/verify", name="passkey_second_factor_verify", guards=[limit_posts_per_ip]
    )
    async def second_factor_finish(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: JSONData
    ) -> Response[Any]:
        """Finish signing in with a passkey as the second step."""
        response = await answer_with_passkey(
            db_session,
            request,
            credential_of(data),
            redirect=partial(follow, request),
            trust_browser=data.get("trust_browser") is True,
        )
        return start_over() if response is None else response

    # --- sudo [28]

    @post("/sudo/passkey/options", name="passkey_sudo_options", guards=[requires_user, limit_posts_per_ip])
    async def sudo_start(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Options for the signed-in user's passkeys."""
        return options_answer(await sudo_options(db_session, request))

    @post("/sudo/passkey/verify", name="passkey_sudo_verify", guards=[requires_user, limit_posts_per_ip])
    async def sudo_finish(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: JSONData
    ) -> Response[Any]:
        """A passkey confirms it is you: a fresh sudo window, then back to what you were doing
        (a form the prompt interrupted is handed back for the script to send on)."""
        replay = read_replay(request)
        response = follow(request, next_of(data, default="/settings")) if replay is None else resend(replay)
        await sudo_with_passkey(db_session, request, response, credential_of(data))
        if replay is not None:
            clear_replay(response, request.app.state.security)
        return response
