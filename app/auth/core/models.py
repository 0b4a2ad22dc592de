"""The core's tables, and the security columns of the host's `users` table.

Secrets are never stored: session tokens, remember-me validators and mailed tokens are kept as
SHA-256 digests, codes as keyed digests, passwords as argon2id hashes. The audit log is a
hash-chained, append-only table (a database trigger refuses UPDATE and DELETE).

The host defines its `User` model as `class User(UserSecurityColumns, Base)` (the mixin first, so its table name wins) with its own extra
columns, and hands that class to the core at startup (`Security.users`). Every core table links
to `users.id`; the core's migrations (its own Alembic branch, in `migrations/`) create them, and
the host's migrations depend on that branch.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase, UUIDv7Base
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

__all__ = (
    "EMAIL_MAX",
    "USERS_TABLE",
    "ApiGrant",
    "ApiRefreshToken",
    "ApiToken",
    "AuditEvent",
    "AuthSession",
    "BackupCode",
    "CoreBase",
    "DataExport",
    "EmailToken",
    "LoginThrottle",
    "Membership",
    "OAuthFlow",
    "OAuthIdentity",
    "OrgDomain",
    "OrgInvitation",
    "OrgRole",
    "OrgScoped",
    "OrgSlugRedirect",
    "Organization",
    "PasskeyChallenge",
    "PendingLogin",
    "PlatformAdmin",
    "RateLimitCounter",
    "RememberToken",
    "TotpCredential",
    "TrustedBrowser",
    "UserSecurityColumns",
    "WebAuthnCredential",
    "WebhookDelivery",
    "WebhookEndpoint",
)

CoreBase = UUIDv7AuditBase
"""Base of every core table (and the host's): UUIDv7 `id`, `created_at`, `updated_at`, one registry."""

EMAIL_MAX = 320
USERS_TABLE = "users"


class UserSecurityColumns:
    """The columns of `users` the core reads and writes; the host's `User` model mixes this in.

    The host may add columns of its own (with defaults, so the core can create accounts), but
    never writes these except through core flows.
    """

    __tablename__: str | None = USERS_TABLE

    if TYPE_CHECKING:  # provided by the host's base class
        id: Mapped[UUID]
        created_at: Mapped[datetime]

    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    """The address as the user typed it (shown back to them, used to send mail)."""
    email_canonical: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    """The comparison form (see `identity`); uniqueness is enforced on it."""
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    """argon2id (or a legacy bcrypt hash awaiting upgrade). NULL until the address is confirmed."""
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    mfa_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Consecutive wrong second-factor answers, across sign-in attempts (reset by a right one) [49]."""
    mfa_locked_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """While in the future, no second-factor answer is accepted, not even a right one [49]."""
    webauthn_user_handle: Mapped[bytes | None] = mapped_column(LargeBinary(64), unique=True, default=None)
    """The random user handle passkeys carry (64 bytes; not the id, not the email) [57]."""
    sign_in_locked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """Set by an administrator: no way of signing in works until it is cleared (see `account_state`)."""
    deletion_requested_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """When the account was deleted (it is disabled until restored or purged; see `account_deletion`)."""
    deletion_requested_by: Mapped[UUID | None] = mapped_column(default=None)
    """Who deleted it: the owner (who may restore it by signing in) or an administrator (who alone may)."""
    purge_after: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None, index=True)
    """From this time the purge job removes the account's personal data."""

    @property
    def can_sign_in(self) -> bool:
        """Whether any sign-in method may let this account in: active, not locked by an administrator,
        not deleted."""
        return self.is_active and self.sign_in_locked_at is None and self.purge_after is None

    @property
    def awaits_purge(self) -> bool:
        """Deleted, inside the grace period: disabled, and restorable until the purge."""
        return self.purge_after is not None

    @property
    def owner_may_restore(self) -> bool:
        """Deleted by its owner (not by an administrator), not disabled or locked since: signing in
        offers to restore it."""
        return (
            self.purge_after is not None
            and self.deletion_requested_by == self.id
            and self.is_active
            and self.sign_in_locked_at is None
        )


_USER_ID = f"{USERS_TABLE}.id"


class AuthSession(CoreBase):
    """A signed-in browser. The cookie holds a random token; this row holds its SHA-256."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id_created_at", "user_id", "created_at"),)

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    """How it started: `password`, `remembered`, `magic_link`, ... or `impersonation`."""
    last_seen_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    """The absolute end; the idle end is `last_seen_at` + the idle timeout."""
    authenticated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """Last time credentials were presented in this session (sign-in or sudo). NULL when remembered."""
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    device_label: Mapped[str] = mapped_column(String(120), default="")
    remember_token_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("remember_tokens.id", ondelete="SET NULL"), default=None
    )
    """The remember-me token of this browser, if any: signing the session out forgets it too."""
    impersonator_id: Mapped[UUID | None] = mapped_column(
        ForeignKey(_USER_ID, ondelete="CASCADE"), default=None, index=True
    )
    """For an impersonation session: the administrator acting as `user_id` [75]."""
    parent_session_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), default=None
    )
    """For an impersonation session: the administrator's own session, parked until it stops.
    Ending the administrator's session ends the impersonation with it."""


class RememberToken(CoreBase):
    """A "remember me" credential: selector (looked up) + validator (SHA-256 stored), rotated on use."""

    __tablename__ = "remember_tokens"

    selector: Mapped[str] = mapped_column(String(32), unique=True)
    validator_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    previous_validator_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    device_label: Mapped[str] = mapped_column(String(120), default="")


class EmailToken(CoreBase):
    """A single-use token sent by mail: confirm an address, reset a password, sign in, change email.

    The link carries the token (only its SHA-256 is here); the same mail may carry a short code for
    typing, stored as a keyed digest with its own expiry and attempt counter.
    """

    __tablename__ = "email_tokens"
    __table_args__ = (Index("ix_email_tokens_user_id_purpose", "user_id", "purpose"),)

    purpose: Mapped[str] = mapped_column(String(20))
    """`confirm_email`, `reset_password`, `magic_link`, `change_email` or `cancel_deletion`."""
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    """The address the token was sent to (the new address for `change_email`); it must still match."""
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    code_expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    browser_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    """SHA-256 of a random value kept in the requesting browser's cookie: codes only work there."""
    pending_password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    """For `confirm_email`: the password chosen at registration, applied only when this token is used."""


class LoginThrottle(CoreBase):
    """Consecutive sign-in failures for one email address, whether or not an account has it [11][12]."""

    __tablename__ = "login_throttles"

    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    """Keyed digest of the canonical email, so unknown addresses are throttled alike without being stored."""
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    locked_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    requires_reset: Mapped[bool] = mapped_column(Boolean, default=False)


class RateLimitCounter(CoreBase):
    """One fixed-window counter (rule + subject + window); shared by every app process [13]."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), unique=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)


class PendingLogin(CoreBase):
    """The pre-session [16]: the first factor passed, the second is still owed.

    Not a session: the middleware never turns it into a signed-in user, so it reaches only the
    second-step pages. It lives `pending_login_ttl` (10 min), is used once (deleted when the
    session starts) and allows `mfa_attempt_max_failures` wrong answers before the password is
    asked again.
    """

    __tablename__ = "pending_logins"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(20))
    """How the first factor was presented: the `SessionKind` the session will have."""
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    """Start "remember me" with the session (the sign-in form asked for it)."""
    remember_token_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("remember_tokens.id", ondelete="CASCADE"), default=None
    )
    """A remember-me restore: the (already rotated) token the new session belongs to."""
    next_url: Mapped[str] = mapped_column(String(2048), default="")
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    restore_step: Mapped[str] = mapped_column(String(8), default="", server_default="")
    """For an account awaiting deletion: `factor` (the second factor is still owed) or `ready` (fully
    authenticated: the browser may accept the offer to restore). Empty for an ordinary sign-in."""


class TotpCredential(CoreBase):
    """A user's authenticator app: the shared secret, sealed (AES-256-GCM bound to the user) [50].

    `confirmed_at` is NULL while enrolling: the secret is only active once the user has typed a
    code from it. `last_used_step` is the newest accepted time step, so no code works twice [48].
    """

    __tablename__ = "totp_credentials"

    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), unique=True)
    secret_sealed: Mapped[str] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, default=None)


class BackupCode(CoreBase):
    """One single-use backup code: a non-secret 4-character id and a keyed digest of the whole code [51][52]."""

    __tablename__ = "backup_codes"
    __table_args__ = (Index("uq_backup_codes_user_id_lookup", "user_id", "lookup", unique=True),)

    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"))
    lookup: Mapped[str] = mapped_column(String(4))
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class TrustedBrowser(CoreBase):
    """A browser that may skip the second factor for one user until `expires_at` [27]."""

    __tablename__ = "trusted_browsers"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    device_label: Mapped[str] = mapped_column(String(120), default="")
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class WebAuthnCredential(CoreBase):
    """A passkey: the credential id (unique across all users), its public key and signature counter [55][56]."""

    __tablename__ = "webauthn_credentials"

    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(JSONB, default=list)
    aaguid: Mapped[str] = mapped_column(String(36), default="")
    name: Mapped[str] = mapped_column(String(64))
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class PasskeyChallenge(CoreBase):
    """A WebAuthn challenge issued for one ceremony, bound to one session or browser; used once [54]."""

    __tablename__ = "passkey_challenges"

    challenge: Mapped[bytes] = mapped_column(LargeBinary(64), unique=True)
    ceremony: Mapped[str] = mapped_column(String(20))
    """`register`, `sign_in` (no user known yet), `second_factor` or `sudo`."""
    binding_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    """SHA-256 of what the ceremony belongs to: the session id, the pre-session token or a browser nonce."""
    user_id: Mapped[UUID | None] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), default=None)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)


class OAuthIdentity(CoreBase):
    """An account at an identity provider, linked to one user [64].

    Keyed by (issuer, subject), the provider's own stable identifier, never by email: an address
    is what the provider last said (`email`, `email_verified`), kept for display and for the
    sign-up decision only. Provider tokens are kept only when the provider is configured to, sealed
    with AES-256-GCM bound to (user, provider, row), so a ciphertext copied into another row does
    not open [66].
    """

    __tablename__ = "oauth_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_oauth_identities_issuer_subject"),
        UniqueConstraint("user_id", "provider", name="uq_oauth_identities_user_id_provider"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    """The configured provider's key (`google`, `github`, ...): which button and settings it came from."""
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), default="")
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    access_token_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    refresh_token_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class OAuthFlow(CoreBase):
    """One trip to an identity provider and back: used once, by the browser that started it [60]-[62].

    `state_hash` is the SHA-256 of the `state` sent to the provider; `browser_hash` the SHA-256 of
    a random value in the starting browser's `oauth` cookie, so a callback URL carried to another
    browser (login CSRF) finds nothing. The PKCE verifier is sealed, the nonce kept as a digest;
    `issuer` is the provider the flow went to, compared with the answer (mix-up defence).
    """

    __tablename__ = "oauth_flows"

    state_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    browser_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    provider: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(20))
    """`sign_in` (or sign up), `link` (to the signed-in user) or `sudo` (re-authentication)."""
    user_id: Mapped[UUID | None] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), default=None)
    """For `link` and `sudo`: the user who started it, who must still be the one signed in."""
    verifier_sealed: Mapped[str] = mapped_column(String(255))
    nonce_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    next_url: Mapped[str] = mapped_column(String(2048), default="")
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)


class PlatformAdmin(CoreBase):
    """A platform administrator: someone who may open the admin console [74].

    Its own table, not an org role: owning an organization gives no power over other people's
    accounts. Granted and revoked only from the command line (`litestar admin grant|revoke`), so
    there is no default account and no page that makes an administrator [90].
    """

    __tablename__ = "platform_admins"

    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), unique=True)
    can_impersonate: Mapped[bool] = mapped_column(Boolean, default=False)
    """The separate permission to sign in as another user [75]."""


# --- organizations [68]-[73]


class Organization(CoreBase):
    """A workspace: members with roles, invitations, verified domains and its own security policy.

    Addressed by `slug` in the URL (`/o/<slug>/...`), never kept in the session, so two tabs can
    work in two organizations. A renamed slug leaves an `OrgSlugRedirect` behind.
    """

    __tablename__ = "organizations"
    __table_args__ = (
        Index("ix_organizations_deleted_at", "deleted_at", postgresql_where=text("deleted_at IS NOT NULL")),
    )

    slug: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    personal: Mapped[bool] = mapped_column(Boolean, default=False)
    """Made for one person at registration (it can still take members)."""
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    """Members must have an authenticator app or a passkey to open any page of the org."""
    allowed_sign_in: Mapped[list[str]] = mapped_column(JSONB, default=list)
    """Session kinds that may open the org's pages (empty: any); e.g. no `magic_link`."""
    session_max_age: Mapped[int | None] = mapped_column(Integer, default=None)
    """Seconds a session may have lived to open the org's pages (shorter than the global policy only)."""
    security_events: Mapped[list[str]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    """Security events (`security_events.SECURITY_EVENTS`) its webhook endpoints may be sent; empty: none."""
    domain_join: Mapped[str] = mapped_column(String(10), default="off")
    """People with a confirmed address at a verified domain: `off`, `offer` (may join) or `auto`."""
    suspended_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """Set by a platform administrator: no page of the organization opens until it is cleared."""
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """Deleted by its owner or a platform administrator: closed to everyone like a missing org, and
    purged (with everything it owns) once `org_deletion_grace` has passed; until then restorable."""


class OrgSlugRedirect(CoreBase):
    """An old slug that now points at an organization (links keep working after a rename)."""

    __tablename__ = "org_slug_redirects"

    slug: Mapped[str] = mapped_column(String(48), unique=True)
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)


class OrgRole(CoreBase):
    """A named set of permissions. Built-in roles (`owner`, `admin`, `member`) have no org; custom ones do."""

    __tablename__ = "org_roles"
    __table_args__ = (Index("uq_org_roles_org_id_key", "org_id", "key", unique=True),)

    org_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), default=None
    )
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(60))
    permissions: Mapped[list[str]] = mapped_column(JSONB, default=list)


class Membership(CoreBase):
    """A person's place in an organization, with one role."""

    __tablename__ = "memberships"
    __table_args__ = (Index("uq_memberships_org_id_user_id", "org_id", "user_id", unique=True),)

    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    role_id: Mapped[UUID] = mapped_column(ForeignKey("org_roles.id", ondelete="RESTRICT"))


class OrgInvitation(CoreBase):
    """An emailed invitation: 256-bit token (SHA-256 stored), single use, 7 days, one address [72]."""

    __tablename__ = "org_invitations"
    __table_args__ = (Index("ix_org_invitations_org_id_email_canonical", "org_id", "email_canonical"),)

    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    email_canonical: Mapped[str] = mapped_column(String(EMAIL_MAX))
    role_id: Mapped[UUID] = mapped_column(ForeignKey("org_roles.id", ondelete="CASCADE"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    invited_by: Mapped[UUID | None] = mapped_column(ForeignKey(_USER_ID, ondelete="SET NULL"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class OrgDomain(CoreBase):
    """A domain an organization claims; verified by a DNS TXT record holding `verification_token`."""

    __tablename__ = "org_domains"
    __table_args__ = (
        Index("uq_org_domains_org_id_domain", "org_id", "domain", unique=True),
        # One organization at most holds a domain verified: the last word when two verify at once.
        Index(
            "uq_org_domains_verified_domain",
            "domain",
            unique=True,
            postgresql_where=text("verified_at IS NOT NULL"),
        ),
    )

    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253), index=True)
    verification_token: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """When the record was last found (None: never, or it was gone at the last check)."""
    checked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """When DNS was last asked, whatever it answered."""


# --- API tokens [77]


class ApiToken(CoreBase):
    """A bearer token for the API: only its SHA-256 is stored; `public_id` is what lists show [77].

    A personal token (`org_id` NULL) acts as its user, never beyond that user's current rights;
    an organization token (`org_id` set, `user_id` NULL) belongs to the organization and survives
    its creator leaving (but not their removal [73]).
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        Index("ix_api_tokens_org_id_created_at", "org_id", "created_at"),
        CheckConstraint("(user_id IS NULL) <> (org_id IS NULL)", name="one_owner"),
    )

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    """The short non-secret id inside the token (`gth_<public_id>_...`), shown in lists and logs."""
    name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[UUID | None] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    """The owner of a personal token; NULL for an organization token."""
    org_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), default=None
    )
    """The owning organization of an organization token; NULL for a personal token."""
    created_by: Mapped[UUID | None] = mapped_column(
        ForeignKey(_USER_ID, ondelete="SET NULL"), default=None, index=True
    )
    scopes: Mapped[list[str]] = mapped_column(JSONB, default=list)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_used_ip: Mapped[str] = mapped_column(String(45), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class ApiGrant(CoreBase):
    """One exchange for JWTs (a "family"): every access and refresh token it yields names it [79].

    Access tokens carry its id as `sid`, checked on every request, so revoking the grant (a
    reused refresh token, a password change, signing out everywhere, an explicit revoke) stops
    its access tokens at once too. A grant made from a personal token keeps that token's scopes
    and dies with it; one made with a password carries every personal scope (each request still
    caps them at the user's current role).
    """

    __tablename__ = "api_grants"

    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    api_token_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), default=None, index=True
    )
    """The personal token exchanged for this grant; NULL when it was made with a password."""
    method: Mapped[str] = mapped_column(String(20))
    """`password` or `api_token`."""
    scopes: Mapped[list[str]] = mapped_column(JSONB, default=list)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class ApiRefreshToken(CoreBase):
    """A refresh token of a grant: only its SHA-256 is stored; each one may be used once [79].

    Using one marks it `used_at` and issues its child (`parent_id`); presenting a used one again
    means it was copied, so the whole grant is revoked.
    """

    __tablename__ = "api_refresh_tokens"

    grant_id: Mapped[UUID] = mapped_column(ForeignKey("api_grants.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("api_refresh_tokens.id", ondelete="SET NULL"), default=None
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


# --- webhooks


class WebhookEndpoint(CoreBase):
    """Where an organization wants events sent; the secret is sealed (the app must read it to sign)."""

    __tablename__ = "webhook_endpoints"

    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSONB, default=list)
    secret_sealed: Mapped[str] = mapped_column(Text)
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The secret before the last rotation: still signs until `previous_secret_expires_at`."""
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), default=None
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    failing_since: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """When deliveries started failing without a success since (None: healthy)."""
    disabled_reason: Mapped[str] = mapped_column(String(200), default="")


class WebhookDelivery(CoreBase):
    """One event for one endpoint: every attempt's outcome is written back here (the delivery log)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at"),
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where="status = 'pending'"),
    )

    endpoint_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    """The `webhook-id` header: the same on every attempt, so receivers can drop duplicates."""
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    """`pending` (an attempt is due at `next_attempt_at`), `succeeded` or `failed`."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    response_excerpt: Mapped[str] = mapped_column(String(500), default="")


class DataExport(CoreBase):
    """A user's data archive: built by a job, downloaded once through a mailed link, then emptied.

    `archive` is NULL until the job has built it and again once it was downloaded or expired
    (the row stays a week for support questions, like spent mailed tokens). The link's token is
    stored as its SHA-256 only.
    """

    __tablename__ = "data_exports"

    user_id: Mapped[UUID] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    archive: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True), default=None)
    token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True, default=None)
    ready_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    downloaded_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class OrgScoped:
    """Mixin for a host table whose rows belong to one organization (see `tenancy.scoped`) [69]."""

    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)


class AuditEvent(UUIDv7Base):
    """Something security-relevant that happened, who did it, and the hash linking it to the previous event."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_id_seq", "org_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    """Position in the chain (assigned by the database, strictly increasing)."""
    occurred_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    """Dotted name such as `auth.login.succeeded`."""
    outcome: Mapped[str] = mapped_column(String(20))
    """`success` or `failure`."""
    actor_id: Mapped[UUID | None] = mapped_column(default=None, index=True)
    impersonator_id: Mapped[UUID | None] = mapped_column(default=None)
    org_id: Mapped[UUID | None] = mapped_column(default=None)
    """The organization the event happened in (no foreign key: the log outlives deleted organizations)."""
    target_type: Mapped[str] = mapped_column(String(50), default="")
    target_id: Mapped[str] = mapped_column(String(100), default="")
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    """Extra facts (at most 8 KB, no secret-looking keys)."""
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
