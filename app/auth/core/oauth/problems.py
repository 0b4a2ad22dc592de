"""Why a trip to an identity provider failed: one exception, audited before it is raised.

Every failure, whatever its cause (the person said no at the provider, a stale or foreign
`state`, a provider that is down, an ID token that fails a check), becomes `OAuthFlowError` with a
`Reason`. It is written to the audit log as `auth.oauth.failed` (reason, provider, purpose: never
a code or a token) and committed at once, because the request that raises it answers with an
error and its transaction is rolled back. The host turns it into one page with a way back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn
from uuid import UUID

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit

__all__ = ("OAuthFlowError", "Reason", "Where", "fail")


class Reason(StrEnum):
    """What went wrong, in the words of the audit log."""

    DENIED = "denied"
    """The person declined at the provider, or the provider answered with an error."""
    BAD_STATE = "bad_state"
    """No live flow has this `state`: made up, or already used (a replay)."""
    OTHER_BROWSER = "other_browser"
    """The flow was started in another browser (login CSRF) [60]."""
    EXPIRED = "expired"
    """The flow is older than `oauth_flow_ttl`."""
    MIXED_UP = "mixed_up"
    """The answer names another provider than the flow went to [62]."""
    UNREACHABLE = "unreachable"
    """The provider did not answer, or not usably."""
    REFUSED = "refused"
    """The provider refused the code (wrong verifier, used code, wrong redirect URI...)."""
    INVALID_TOKEN = "invalid_token"  # noqa: S105 (a reason, not a secret)
    """The ID token failed a check [61]."""
    NO_VERIFIED_EMAIL = "no_verified_email"
    """A new identity without a verified address cannot make an account [65]."""
    SIGNUP_CLOSED = "signup_closed"
    """The adapter does not let this address hold an account."""
    ACCOUNT_UNAVAILABLE = "account_unavailable"
    """The linked account is disabled."""
    IDENTITY_TAKEN = "identity_taken"
    """The identity is linked to another account already."""
    PROVIDER_TAKEN = "provider_taken"
    """The user has another identity at this provider already."""
    WRONG_ACCOUNT = "wrong_account"
    """The browser is no longer signed in as the user who started the link or sudo."""
    NOT_CONNECTED = "not_connected"
    """Sudo through a provider with an identity that is not this user's."""
    NOT_FRESH = "not_fresh"
    """Sudo through a provider that did not make the person sign in again just now."""
    NOT_ALLOWED = "not_allowed"
    """Sudo through a provider for an account that has a stronger factor."""

    @property
    def status_code(self) -> int:
        """The HTTP status of the page that explains it: 502 when the provider is at fault."""
        return 502 if self is Reason.UNREACHABLE else 400


@dataclass(frozen=True)
class Where:
    """Which trip failed: the provider's key, the flow's purpose and, when known, the user."""

    provider: str
    purpose: str
    user_id: UUID | None = None


class OAuthFlowError(Exception):
    """A trip to a provider failed (already audited)."""

    def __init__(self, reason: Reason, *, provider: str, purpose: str) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.provider = provider
        self.purpose = purpose


async def fail(
    db: AsyncSession, request: Request[Any, Any, Any], reason: Reason, where: Where, **details: Any
) -> NoReturn:
    """Audit the failure, commit that, and raise `OAuthFlowError`."""
    await audit(
        db,
        request,
        "auth.oauth.failed",
        outcome="failure",
        user_id=where.user_id,
        reason=reason.value,
        provider=where.provider,
        purpose=where.purpose,
        **details,
    )
    await db.commit()
    raise OAuthFlowError(reason, provider=where.provider, purpose=where.purpose)
