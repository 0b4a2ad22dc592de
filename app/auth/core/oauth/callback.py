"""What a provider's answer means: sign in, sign up, "sign in first", link, or sudo [15][59]-[67].

`begin` sends the browser to the provider; `finish` takes the answer, in this order, stopping at
the first problem (each is audited, see `problems`):

1. the flow: this browser's, unused, unexpired, for this provider (`flows.take_flow`) [60];
2. the answer: no `error`; its `iss`, when present (required when the provider says it sends
   one), is the flow's issuer [62];
3. the code for tokens, and who signed in (`exchange`, `id_tokens`) [59][61];
4. what to do with that identity, by the flow's purpose:

   - **sign in** [64][65]: a linked identity signs in to its account. A new one becomes a new,
     confirmed account without a password, but only with an address the provider says it
     verified, and never an existing account's: an address that belongs to a confirmed account
     gets "sign in to that account first, then connect this provider" and no session, so a
     provider (or an account there) cannot take over an account by asserting its address. An
     unconfirmed registration of the address is not an account yet: it is claimed as an address
     confirmation from another browser would claim it (its sessions end, its waiting password and
     codes die) [34].
   - **link**: the signed-in user (still the one who started it, under sudo) gains the identity.
   - **sudo**: the signed-in user signed in at the provider again just now (`auth_time`).

Every sign-in ends in `continue_sign_in`, so an account with a second factor is asked for it [15]:
a provider sign-in is one factor, unless the provider is configured with `trust_amr` and its ID
token says `amr: ["mfa", ...]` with an `auth_time` inside this flow [67].
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from litestar import Request, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.crypto import DecryptionError
from app.auth.core.db import release_connection
from app.auth.core.identity import InvalidEmail, canonical_email
from app.auth.core.mail_tokens import Purpose as MailPurpose
from app.auth.core.mail_tokens import retire_tokens
from app.auth.core.models import OAuthFlow, OAuthIdentity, UserSecurityColumns
from app.auth.core.oauth.discovery import ProviderUnreachableError
from app.auth.core.oauth.exchange import Assertion, ProviderRefusedError, redeem_code
from app.auth.core.oauth.flows import (
    Departure,
    FlowError,
    Purpose,
    directory_of,
    flow_started_at,
    start_flow,
    take_flow,
)
from app.auth.core.oauth.id_tokens import InvalidIdTokenError
from app.auth.core.oauth.identities import (
    find_identity,
    keep_tokens,
    notify_connection_changed,
    record_sign_in,
)
from app.auth.core.oauth.problems import Reason, Where, fail
from app.auth.core.oauth.providers import Provider
from app.auth.core.redirects import safe_redirect_target
from app.auth.core.remember_store import forget_user
from app.auth.core.second_factor import continue_sign_in, factors_of
from app.auth.core.session_store import end_all_sessions
from app.auth.core.sessions import SessionKind
from app.auth.core.signin import sign_user_in
from app.auth.core.sudo import grant_sudo
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "Answer",
    "Finished",
    "Outcome",
    "begin",
    "finish",
    "grant_provider_sudo",
    "may_reauthenticate_with_provider",
    "sudo_choices",
)

Redirect = Callable[[str], Response[Any]]

_FLOW_PROBLEMS = {
    "unknown_state": Reason.BAD_STATE,
    "other_browser": Reason.OTHER_BROWSER,
    "expired": Reason.EXPIRED,
    "wrong_provider": Reason.MIXED_UP,
}
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")


@dataclass(frozen=True)
class Answer:
    """The parameters the provider sent the browser back with."""

    state: str = ""
    code: str = ""
    iss: str | None = None
    error: str = ""


class Outcome(StrEnum):
    """What a finished trip did."""

    SIGNED_IN = "signed_in"
    """A session started, or the second step opened (`Finished.response` is the redirect)."""
    ACCOUNT_EXISTS = "account_exists"
    """The address belongs to an account: sign in to it first, then connect the provider."""
    LINKED = "linked"
    ALREADY_LINKED = "already_linked"
    REAUTHENTICATED = "reauthenticated"
    """Sudo may be granted (`grant_provider_sudo`)."""


@dataclass(frozen=True)
class Finished:
    """A trip that ended well; `response` is set when the core already answered (sign-in)."""

    outcome: Outcome
    provider: Provider
    response: Response[Any] | None = None
    next_url: str = ""


def _user_id(request: Request[Any, Any, Any]) -> Any:
    user = request.scope.get("user")
    return user.id if user is not None else None


async def may_reauthenticate_with_provider(db: AsyncSession, request: Request[Any, Any, Any]) -> bool:
    """Whether the signed-in user may pass sudo through a provider: only when a provider is their
    strongest way in (no password, no authenticator app, no passkey; see `sudo`)."""
    if request.user.has_password:
        return False
    return not (await factors_of(db, request.user.id)).required


async def sudo_choices(
    db: AsyncSession, request: Request[Any, Any, Any]
) -> list[tuple[Provider, OAuthIdentity]]:
    """The signed-in user's identities at providers that can re-authenticate them."""
    providers = security_of(request).oauth
    identities = await db.scalars(
        select(OAuthIdentity)
        .where(OAuthIdentity.user_id == request.user.id)
        .order_by(OAuthIdentity.created_at)
    )
    return [
        (providers[item.provider], item)
        for item in identities
        if item.provider in providers and providers[item.provider].can_reauthenticate
    ]


async def begin(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    provider: Provider,
    *,
    purpose: Purpose,
    next_url: str = "",
) -> Departure:
    """Start a trip to `provider` for `purpose` (link and sudo: for the signed-in user)."""
    user_id = _user_id(request) if purpose is not Purpose.SIGN_IN else None
    where = Where(provider.key, purpose.value, user_id)
    if purpose is Purpose.SUDO:
        mine = {item.provider for _, item in await sudo_choices(db, request)}
        if provider.key not in mine:
            await fail(db, request, Reason.NOT_CONNECTED, where)
        if not await may_reauthenticate_with_provider(db, request):
            await fail(db, request, Reason.NOT_ALLOWED, where)
    safe_next = safe_redirect_target(next_url, default="")
    try:
        return await start_flow(db, request, provider, purpose=purpose, user_id=user_id, next_url=safe_next)
    except ProviderUnreachableError:
        await fail(db, request, Reason.UNREACHABLE, where)


async def finish(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    provider: Provider,
    answer: Answer,
    *,
    redirect: Redirect,
) -> Finished:
    """Take the provider's answer to its end (see the module docstring); `OAuthFlowError` otherwise."""
    security = security_of(request)
    flow = await _flow_for(db, request, provider, answer)
    purpose = Purpose(flow.purpose)
    where = Where(provider.key, purpose.value, flow.user_id)
    if answer.error:
        code = answer.error if _ERROR_CODE.fullmatch(answer.error) else "other"
        await fail(db, request, Reason.DENIED, where, error=code)
    if not await _same_issuer(security, provider, answer):
        await fail(db, request, Reason.MIXED_UP, where)
    if not answer.code or len(answer.code) > 2048:
        await fail(db, request, Reason.REFUSED, where)
    await release_connection(db)  # hold no connection while the provider answers
    try:
        assertion = await redeem_code(security, provider, flow, answer.code)
    except ProviderRefusedError as exc:
        await fail(db, request, Reason.REFUSED, where, error=exc.error)
    except ProviderUnreachableError:
        await fail(db, request, Reason.UNREACHABLE, where)
    except InvalidIdTokenError as exc:
        await fail(db, request, Reason.INVALID_TOKEN, where, check=exc.reason)
    except DecryptionError:
        await fail(db, request, Reason.BAD_STATE, where)
    if purpose is Purpose.LINK:
        return await _link(db, request, provider, flow, assertion)
    if purpose is Purpose.SUDO:
        return await _reauthenticate(db, request, provider, flow, assertion)
    return await _sign_in(db, request, provider, flow, assertion, redirect)


async def _flow_for(
    db: AsyncSession, request: Request[Any, Any, Any], provider: Provider, answer: Answer
) -> OAuthFlow:
    try:
        return await take_flow(db, request, provider, answer.state)
    except FlowError as exc:
        await fail(db, request, _FLOW_PROBLEMS[exc.reason], Where(provider.key, "unknown"))


async def _same_issuer(security: Security, provider: Provider, answer: Answer) -> bool:
    """RFC 9207: the answer's `iss` is the provider's; a provider that promises one must send it."""
    if answer.iss is not None:
        return provider.issuer_matches(answer.iss)
    if not provider.is_oidc:
        return True
    try:
        endpoints = await directory_of(security).endpoints(
            provider, security.clock, security.policy.oauth_metadata_ttl
        )
    except ProviderUnreachableError:
        return True  # the token request will fail the same way, and say so
    return not endpoints.iss_parameter


# --- sign in, or sign up


async def _sign_in(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    provider: Provider,
    flow: OAuthFlow,
    assertion: Assertion,
    redirect: Redirect,
) -> Finished:
    security = security_of(request)
    where = Where(provider.key, Purpose.SIGN_IN.value)
    identity = await find_identity(db, assertion.issuer, assertion.subject)
    if identity is not None:
        user = await db.get(security.users, identity.user_id)
        if user is None or not user.can_sign_in or user.confirmed_at is None:
            await fail(
                db, request, Reason.ACCOUNT_UNAVAILABLE, Where(provider.key, where.purpose, identity.user_id)
            )
        record_sign_in(security, provider, identity, assertion)
        return await _signed_in(db, request, provider, flow, assertion, user, redirect)
    if not assertion.email_verified or not assertion.email:
        await fail(db, request, Reason.NO_VERIFIED_EMAIL, where)
    try:
        canonical = canonical_email(assertion.email)
    except InvalidEmail:
        await fail(db, request, Reason.NO_VERIFIED_EMAIL, where)
    users = security.users
    existing = await db.scalar(select(users).where(users.email_canonical == canonical))
    if existing is not None and existing.confirmed_at is not None:
        # Never linked by a matching address [65]: the owner signs in, then connects the provider.
        await audit(
            db,
            request,
            "auth.oauth.account_exists",
            outcome="failure",
            user_id=existing.id,
            provider=provider.key,
        )
        await db.commit()
        return Finished(Outcome.ACCOUNT_EXISTS, provider)
    if existing is not None and not existing.is_active:
        await fail(db, request, Reason.ACCOUNT_UNAVAILABLE, Where(provider.key, where.purpose, existing.id))
    if not security.adapter.is_open_for_signup(request, assertion.email):
        await fail(db, request, Reason.SIGNUP_CLOSED, where)
    try:
        # Account and identity together, or neither: a failure must not leave an account behind.
        async with db.begin_nested():
            user = (
                await _claim(db, request, existing)
                if existing
                else await _new_account(db, request, assertion, canonical)
            )
            await _add_identity(db, request, provider, user, assertion)
    except IntegrityError:  # the address or the identity was taken a moment ago
        if await find_identity(db, assertion.issuer, assertion.subject) is not None:
            await fail(db, request, Reason.IDENTITY_TAKEN, where)
        return Finished(Outcome.ACCOUNT_EXISTS, provider)
    await audit(
        db,
        request,
        "auth.oauth.account_created",
        user_id=user.id,
        provider=provider.key,
        claimed=existing is not None,
    )
    return await _signed_in(db, request, provider, flow, assertion, user, redirect)


async def _new_account(
    db: AsyncSession, request: Request[Any, Any, Any], assertion: Assertion, canonical: str
) -> UserSecurityColumns:
    """A confirmed account without a password, for an address the provider verified."""
    security = security_of(request)
    user = security.users()
    user.email, user.email_canonical = assertion.email[:320], canonical
    user.confirmed_at = security.clock.now()
    security.adapter.populate_user(request, user, {"name": assertion.name})
    db.add(user)
    await db.flush()
    await security.adapter.account_confirmed(db, request, user)
    return user


async def _claim(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns
) -> UserSecurityColumns:
    """An unconfirmed registration of the address: the provider proved the mailbox, so it is
    confirmed, and whatever the registrant left behind is dropped [34]."""
    security = security_of(request)
    await end_all_sessions(db, user.id)
    await forget_user(db, user.id)
    await retire_tokens(db, security, user.id, MailPurpose.CONFIRM_EMAIL)
    user.confirmed_at = security.clock.now()
    user.password_hash = None
    user.password_changed_at = None
    await db.flush()
    await security.adapter.account_confirmed(db, request, user)
    return user


async def _add_identity(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    provider: Provider,
    user: UserSecurityColumns,
    assertion: Assertion,
) -> OAuthIdentity:
    security = security_of(request)
    identity = OAuthIdentity(
        user_id=user.id,
        provider=provider.key,
        issuer=assertion.issuer,
        subject=assertion.subject,
        email=assertion.email[:320],
        email_verified=assertion.email_verified,
        last_used_at=security.clock.now(),
    )
    db.add(identity)
    await db.flush()  # the row id is part of the tokens' associated data
    keep_tokens(security, provider, identity, assertion.tokens)
    return identity


async def _signed_in(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    provider: Provider,
    flow: OAuthFlow,
    assertion: Assertion,
    user: UserSecurityColumns,
    redirect: Redirect,
) -> Finished:
    security = security_of(request)
    next_url = safe_redirect_target(flow.next_url, default="") or None
    if provider.trust_amr and _mfa_at_provider(security, flow, assertion):
        response = redirect(next_url or security.adapter.login_redirect_url(request, user))
        await sign_user_in(db, request, response, user, kind=SessionKind.OAUTH)
        await audit(
            db, request, "auth.oauth.second_factor_at_provider", user_id=user.id, provider=provider.key
        )
    else:
        response = await continue_sign_in(
            db, request, user, kind=SessionKind.OAUTH, redirect=redirect, next_url=next_url
        )
    return Finished(Outcome.SIGNED_IN, provider, response=response)


def _mfa_at_provider(security: Security, flow: OAuthFlow, assertion: Assertion) -> bool:
    """The ID token says the provider used more than one factor, during this flow [67]."""
    return "mfa" in assertion.amr and _fresh(security, flow, assertion)


def _fresh(security: Security, flow: OAuthFlow, assertion: Assertion) -> bool:
    """The person signed in at the provider after this flow began."""
    started = flow_started_at(security, flow) - security.policy.oauth_clock_leeway
    return assertion.auth_time is not None and assertion.auth_time >= started


# --- link, and sudo, for the signed-in user


async def _signed_in_as_starter(
    db: AsyncSession, request: Request[Any, Any, Any], provider: Provider, flow: OAuthFlow
) -> Any:
    user_id = _user_id(request)
    if user_id is None or user_id != flow.user_id:
        await fail(db, request, Reason.WRONG_ACCOUNT, Where(provider.key, flow.purpose, flow.user_id))
    return user_id


async def _link(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    provider: Provider,
    flow: OAuthFlow,
    assertion: Assertion,
) -> Finished:
    security = security_of(request)
    user_id = await _signed_in_as_starter(db, request, provider, flow)
    where = Where(provider.key, Purpose.LINK.value, user_id)
    existing = await find_identity(db, assertion.issuer, assertion.subject)
    if existing is not None:
        if existing.user_id != user_id:
            await fail(db, request, Reason.IDENTITY_TAKEN, where)
        record_sign_in(security, provider, existing, assertion)
        return Finished(Outcome.ALREADY_LINKED, provider)
    same_provider = await db.scalar(
        select(OAuthIdentity.id).where(
            OAuthIdentity.user_id == user_id, OAuthIdentity.provider == provider.key
        )
    )
    if same_provider is not None:
        await fail(db, request, Reason.PROVIDER_TAKEN, where)
    user = await db.get_one(security.users, user_id)
    try:
        async with db.begin_nested():
            await _add_identity(db, request, provider, user, assertion)
    except IntegrityError:  # linked elsewhere a moment ago
        await fail(db, request, Reason.IDENTITY_TAKEN, where)
    await audit(db, request, "auth.oauth.linked", user_id=user_id, provider=provider.key)
    notify_connection_changed(db, request, user, provider.display_name, change="linked")
    return Finished(Outcome.LINKED, provider)


async def _reauthenticate(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    provider: Provider,
    flow: OAuthFlow,
    assertion: Assertion,
) -> Finished:
    security = security_of(request)
    user_id = await _signed_in_as_starter(db, request, provider, flow)
    where = Where(provider.key, Purpose.SUDO.value, user_id)
    identity = await find_identity(db, assertion.issuer, assertion.subject)
    if identity is None or identity.user_id != user_id:
        await fail(db, request, Reason.NOT_CONNECTED, where)
    if not await may_reauthenticate_with_provider(db, request):
        await fail(db, request, Reason.NOT_ALLOWED, where)
    if not _fresh(security, flow, assertion):
        await fail(db, request, Reason.NOT_FRESH, where)
    record_sign_in(security, provider, identity, assertion)
    next_url = safe_redirect_target(flow.next_url, default="/settings")
    return Finished(Outcome.REAUTHENTICATED, provider, next_url=next_url)


async def grant_provider_sudo(
    db: AsyncSession, request: Request[Any, Any, Any], response: Response[Any], finished: Finished
) -> None:
    """Open the sudo window after a re-authentication at the provider (`finish` checked it) [28]."""
    if finished.outcome is not Outcome.REAUTHENTICATED:
        raise ValueError("only a re-authentication at the provider grants sudo")
    await grant_sudo(db, request, response, method=f"oauth:{finished.provider.key}")
