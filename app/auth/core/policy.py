"""Every security number Gatehouse uses, in one frozen object.

The defaults are the project's policy (docs/security-posture.md is generated from this module and
a test fails when the two disagree). A deployment may override values through settings, but
`SecurityPolicy.__post_init__` refuses anything below the hard floors, so a typo in an environment
variable cannot quietly weaken the app. Durations are `timedelta`s; counts are ints.

Bracketed numbers in the comments are items of the project's security requirements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

__all__ = ("DEFAULT_POLICY", "Argon2Profile", "PolicyError", "SecurityPolicy", "describe")


class PolicyError(ValueError):
    """A policy value is outside what the project allows."""


@dataclass(frozen=True)
class Argon2Profile:
    """argon2id cost parameters: time cost, memory in KiB, parallelism."""

    time_cost: int
    memory_kib: int
    parallelism: int

    def meets_owasp_floor(self) -> bool:
        """True when the profile is at least as strong as one of OWASP's argon2id rows [1]."""
        # OWASP rows (m KiB, t): any of them with p=1 is acceptable; more is stronger.
        rows = ((47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5))
        return any(self.memory_kib >= m and self.time_cost >= t for m, t in rows)


PRODUCTION_ARGON2 = Argon2Profile(time_cost=3, memory_kib=65_536, parallelism=4)
"""argon2-cffi's RFC 9106 low-memory profile: the default in every environment but tests [1]."""

FAST_TEST_ARGON2 = Argon2Profile(time_cost=1, memory_kib=8, parallelism=1)
"""Only for the test suite, where thousands of hashes must be cheap. Never valid in production."""

_CEILINGS: dict[str, int | timedelta] = {
    "session_absolute_timeout": timedelta(hours=24),  # NIST AAL2 overall limit [20]
    "session_idle_timeout": timedelta(hours=1),  # NIST AAL2 inactivity limit [20]
    "remember_me_lifetime": timedelta(days=30),  # [26]
    "trusted_device_lifetime": timedelta(days=30),  # [27]
    "sudo_window": timedelta(hours=1),
    "confirmation_link_ttl": timedelta(hours=24),  # email codes live at most 24 h [32]
    "email_change_ttl": timedelta(hours=24),  # [45]
    "password_reset_ttl": timedelta(hours=24),  # [36]
    "confirmation_code_ttl": timedelta(minutes=30),  # [33]
    "magic_link_ttl": timedelta(minutes=30),  # out-of-band codes stay short [42]
    "pending_login_ttl": timedelta(minutes=30),  # [16]
    "passkey_challenge_ttl": timedelta(minutes=10),  # [54]
    "oauth_flow_ttl": timedelta(minutes=30),  # [60]
    "oauth_clock_leeway": timedelta(minutes=2),  # [61]
    "oauth_metadata_ttl": timedelta(hours=24),  # a key the provider revoked must stop working
    "invitation_ttl": timedelta(days=30),  # [72]
    "impersonation_max": timedelta(hours=1),  # [75]
    "org_deletion_grace": timedelta(days=90),  # data kept on purpose must not linger for ever
    "api_token_default_ttl": timedelta(days=365),  # [77]
    "api_token_max_ttl": timedelta(days=365),  # one year at most [77]
    "api_jwt_access_ttl": timedelta(minutes=15),  # [79]
    "api_jwt_refresh_ttl": timedelta(days=30),  # [79]
    "webhook_timeout": timedelta(seconds=30),
    "account_deletion_grace": timedelta(days=90),  # personal data is not kept for long after "delete"
    "data_export_link_ttl": timedelta(days=7),
    "webhook_secret_overlap": timedelta(days=7),
    "admin_reauthentication_interval": timedelta(hours=12),  # no longer than a session [74]
    "domain_challenge_ttl": timedelta(days=30),
    "domain_verification_lifetime": timedelta(days=365),
    "login_hard_cap": 100,  # NIST: at most 100 consecutive failures [11]
    "code_max_attempts": 10,  # [33]
    "mfa_max_failures": 10,  # [49]
    "mfa_attempt_max_failures": 10,
    "totp_valid_window": 1,  # [47]
    "ip_auth_posts_per_minute": 1_000,
    "emails_per_address_per_hour": 50,
    "emails_per_ip_per_hour": 500,
    "address_form_min_duration": timedelta(seconds=3),
    "password_hashing_max_wait": timedelta(seconds=30),  # past this a client has given up anyway
}
"""Upper bounds: past these a number no longer protects anything (or breaks a requirement)."""


@dataclass(frozen=True)
class SecurityPolicy:
    """The numbers. Read the field docstrings for what each one governs."""

    # --- passwords [1]-[6]
    argon2: Argon2Profile = PRODUCTION_ARGON2
    """Cost of new password hashes; older hashes are upgraded at the next sign-in [2]."""
    password_min_length: int = 12
    """Fewest code points (after NFKC) a new password may have [4]."""
    password_max_length: int = 128
    """Most code points a password may have; longer ones get an error, never truncation [4]."""
    password_hashing_concurrency: int = 4
    """Hashes computed at once per process; more wait, so a burst of sign-ins cannot starve the app."""
    password_hashing_max_wait: timedelta = timedelta(seconds=5)
    """Longest a request waits for a hashing slot before it is answered 503 "busy, try again"."""

    # --- sign-in throttling and rate limits [11]-[13]
    login_free_failures: int = 5
    """Consecutive failures on one account before delays start [11]."""
    login_first_delay: timedelta = timedelta(seconds=1)
    """Delay after the first failure beyond the free ones; it doubles with each further failure."""
    login_max_delay: timedelta = timedelta(minutes=15)
    """Longest delay between attempts on one account."""
    login_hard_cap: int = 100
    """Consecutive failures after which only a password reset by email unlocks the account [11]."""
    ip_auth_posts_per_minute: int = 10
    """POSTs per minute one client address may make to each authentication endpoint [13]."""
    emails_per_address_per_hour: int = 5
    """Mails one address may be sent per hour by the email-sending endpoints [13]."""
    emails_per_ip_per_hour: int = 20
    """Mail-sending requests one client address may make per hour [13]."""
    address_form_min_duration: timedelta = timedelta(milliseconds=400)
    """Least time the forms that take an address and may mail it (registration, password reset,
    sign-in link, email change) take to answer, so a known address does not answer slower [30][35]."""

    # --- sessions [17]-[25]
    session_token_bytes: int = 32
    """Random bytes in a session token (256 bits); only its SHA-256 is stored [17]."""
    session_idle_timeout: timedelta = timedelta(minutes=30)
    """A session unused for this long ends [20]."""
    session_absolute_timeout: timedelta = timedelta(hours=12)
    """A session ends this long after it started, used or not [20]."""
    session_touch_interval: timedelta = timedelta(minutes=1)
    """`last_seen_at` is written at most this often, so most requests only read."""
    max_sessions_per_user: int = 20
    """Sessions one user may hold; starting another ends the oldest [25]."""

    # --- remember-me and trusted devices [26][27]
    remember_me_lifetime: timedelta = timedelta(days=30)
    """How long "remember me" keeps a browser signed in [26]."""
    remember_me_race_grace: timedelta = timedelta(seconds=30)
    """Two tabs may present the just-rotated validator this long after rotation without it counting as theft."""
    trusted_device_lifetime: timedelta = timedelta(days=30)
    """How long a browser may skip the second factor [27]."""

    # --- step-up [28]
    sudo_window: timedelta = timedelta(minutes=15)
    """How long a re-authentication allows sensitive actions; activity does not extend it [28]."""

    # --- email-delivered tokens [32][33][36][41][44]
    email_token_bytes: int = 32
    """Random bytes in a link token (256 bits); only its SHA-256 is stored."""
    confirmation_link_ttl: timedelta = timedelta(hours=24)
    """Lifetime of the link in a confirmation mail [32]."""
    confirmation_code_ttl: timedelta = timedelta(minutes=10)
    """Lifetime of the code in a confirmation mail [33]."""
    code_digits: int = 6
    """Digits in a code typed from a mail (confirmation, magic link)."""
    code_max_attempts: int = 5
    """Wrong tries a single code survives [33]."""
    password_reset_ttl: timedelta = timedelta(minutes=60)
    """Lifetime of a password-reset link [36]."""
    magic_link_ttl: timedelta = timedelta(minutes=10)
    """Lifetime of a sign-in link and its code [42]."""
    email_change_ttl: timedelta = timedelta(hours=24)
    """Lifetime of the link sent to a new address [45]."""

    # --- second factors [47]-[58]
    totp_valid_window: int = 1
    """Time steps accepted either side of now [47]."""
    mfa_attempt_max_failures: int = 5
    """Wrong second-factor answers one sign-in attempt survives; then the password is asked again [49]."""
    mfa_max_failures: int = 10
    """Consecutive wrong second-factor answers on one account, across attempts, before the MFA lock [49]."""
    mfa_lock_duration: timedelta = timedelta(minutes=15)
    """How long the MFA lock lasts: no second-factor answer is accepted meanwhile, not even a right one."""
    backup_code_count: int = 10
    """Backup codes per set [51]."""
    backup_codes_low: int = 3
    """Fewer unused backup codes than this and the account pages suggest a new set."""
    pending_login_ttl: timedelta = timedelta(minutes=10)
    """How long a "password ok, second factor pending" state lives [16]."""
    passkey_challenge_ttl: timedelta = timedelta(minutes=5)
    """Lifetime of a WebAuthn challenge [54]."""
    max_passkeys_per_user: int = 10
    """Passkeys one user may register."""

    # --- sign-in through identity providers (OAuth 2 / OpenID Connect) [59]-[67]
    oauth_flow_ttl: timedelta = timedelta(minutes=10)
    """How long a trip to an identity provider may take: its `state` works once, in the browser that
    started it, until then [60]."""
    oauth_clock_leeway: timedelta = timedelta(minutes=2)
    """Clock difference tolerated when checking an ID token's `exp`, `iat` and `auth_time` [61]."""
    oauth_metadata_ttl: timedelta = timedelta(hours=1)
    """How long a provider's discovery document and signing keys are reused before being fetched again."""

    # --- organizations, admin, audit, API
    invitation_ttl: timedelta = timedelta(days=7)
    """Lifetime of an organization invitation [72]."""
    invitations_pending_per_org: int = 50
    """Pending invitations one organization may have at once."""
    invitations_per_inviter_per_hour: int = 20
    """Invitations one person may send per hour."""
    domains_per_org: int = 20
    """Domains one organization may claim (verified or not)."""
    domain_challenge_ttl: timedelta = timedelta(days=7)
    """How long a claimed domain may wait for its DNS record; then it must be added again (new token)."""
    domain_verification_lifetime: timedelta = timedelta(days=90)
    """How long a successful DNS check keeps a domain verified; "Verify now" re-checks and renews it.
    A lapsed domain lets nobody join until it is checked again."""
    domain_check_min_interval: timedelta = timedelta(seconds=10)
    """Least time between two DNS checks of one domain (the page cannot be used to hammer a nameserver)."""
    org_deletion_grace: timedelta = timedelta(days=14)
    """How long a deleted organization waits, closed to everyone but restorable by a platform
    administrator, before a periodic job purges it with everything it owns (like account deletion)."""
    impersonation_max: timedelta = timedelta(minutes=30)
    """Longest an impersonation session lives [75]."""
    impersonation_reason_min_length: int = 10
    """Fewest characters the typed reason for an impersonation may have [75]."""
    admin_reauthentication_interval: timedelta = timedelta(hours=1)
    """The admin console asks its administrator to confirm it is them again after this long, however
    busy the session (a shorter session for administrators) [74]."""
    audit_metadata_max_bytes: int = 8_192
    """Largest JSON metadata one audit event may carry."""
    audit_retention: timedelta = timedelta(days=365)
    """How long audit events are kept."""
    api_token_default_ttl: timedelta = timedelta(days=90)
    """Default lifetime of a personal access token [77]."""
    api_token_max_ttl: timedelta = timedelta(days=365)
    """Longest lifetime a token may be given; there are no tokens without an expiry [77]."""
    api_token_requests_per_minute: int = 600
    """API requests one token may make per minute (answers carry `RateLimit-*` headers)."""
    api_token_touch_interval: timedelta = timedelta(minutes=1)
    """A token's "last used" time and address are written at most this often, so most calls only read."""
    api_jwt_access_ttl: timedelta = timedelta(minutes=15)
    """Lifetime of an access token (JWT) of the optional token endpoint [79]."""
    api_jwt_refresh_ttl: timedelta = timedelta(days=30)
    """Lifetime of a refresh token; each use replaces it, and reusing a spent one revokes its grant [79]."""
    webhook_disable_after: timedelta = timedelta(days=3)
    """An endpoint whose deliveries have failed for this long, with no success since, is disabled."""
    webhook_secret_overlap: timedelta = timedelta(hours=24)
    """After a secret is rotated, the old one keeps signing this long, beside the new one."""
    webhook_timeout: timedelta = timedelta(seconds=10)
    """Longest one delivery attempt may take (connect, send, read the answer)."""
    request_body_max_bytes: int = 1_048_576
    """Largest request body the app accepts (larger requests get 413)."""

    # --- account lifecycle
    account_deletion_grace: timedelta = timedelta(days=14)
    """How long a deleted account waits, disabled, before its personal data is purged; signing in
    (password and second factor) during that time may restore it."""
    data_export_link_ttl: timedelta = timedelta(hours=24)
    """How long the mailed link to a data export works (once); the archive is removed after it."""
    """Largest request body the app accepts (larger requests get 413)."""

    def __post_init__(self) -> None:
        """Refuse values outside the bounds: too weak to be safe, or too loose to mean anything."""
        for item in fields(self):
            value = getattr(self, item.name)
            too_small = (isinstance(value, timedelta) and value <= timedelta(0)) or (
                isinstance(value, int) and not isinstance(value, bool) and value <= 0
            )
            if too_small:
                raise PolicyError(f"{item.name} must be positive")
        if self.password_min_length < 8:
            raise PolicyError("password_min_length has a hard floor of 8 [4]")
        if self.password_max_length < 64:
            raise PolicyError("password_max_length must allow at least 64 characters [4]")
        if self.session_token_bytes < 16 or self.email_token_bytes < 16:
            raise PolicyError("tokens need at least 128 bits [17][32]")
        if self.code_digits < 6:
            raise PolicyError("codes need at least 6 digits")
        for name, ceiling in _CEILINGS.items():
            if getattr(self, name) > ceiling:
                raise PolicyError(f"{name} may be at most {ceiling}")
        if self.api_token_default_ttl > self.api_token_max_ttl:
            raise PolicyError("the default token lifetime cannot exceed the longest one [77]")
        if self.session_idle_timeout > self.session_absolute_timeout:
            raise PolicyError("the idle timeout cannot exceed the absolute timeout")

    def with_overrides(self, overrides: Mapping[str, int | float]) -> SecurityPolicy:
        """A copy with some numbers replaced; durations are given in seconds. Floors still apply."""
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for name, value in overrides.items():
            if name not in known or name == "argon2":
                raise PolicyError(f"unknown or non-numeric policy setting {name!r}")
            current = getattr(self, name)
            if isinstance(current, timedelta):
                changes[name] = timedelta(seconds=value)
            elif float(value).is_integer():
                changes[name] = int(value)
            else:
                raise PolicyError(f"{name} must be a whole number")
        return replace(self, **changes)  # __post_init__ re-checks every floor

    def for_production(self) -> SecurityPolicy:
        """This policy, checked for production use (refuses the fast test hashing profile)."""
        if not self.argon2.meets_owasp_floor():
            raise PolicyError("argon2 parameters are below the OWASP floor (m=19 MiB, t=2, p=1) [1]")
        return self


DEFAULT_POLICY = SecurityPolicy()


def describe(policy: SecurityPolicy = DEFAULT_POLICY) -> list[tuple[str, str, str]]:
    """(name, value, explanation) for every number, in declaration order (for the docs table)."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    cls = ast.parse(inspect.getsource(SecurityPolicy)).body[0]
    assert isinstance(cls, ast.ClassDef)
    for node, following in zip(cls.body, [*cls.body[1:], None], strict=True):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[node.target.id] = " ".join(str(following.value.value).split())
    return [(f.name, _format(getattr(policy, f.name)), docs.get(f.name, "")) for f in fields(policy)]


def _format(value: object) -> str:
    if isinstance(value, timedelta):
        if value.total_seconds() % 1:
            return f"{round(value.total_seconds() * 1000)} ms"
        seconds = int(value.total_seconds())
        for unit, size in (("day", 86_400), ("h", 3_600), ("min", 60)):
            if seconds >= size and seconds % size == 0:
                count = seconds // size
                return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
        return f"{seconds} s"
    if isinstance(value, Argon2Profile):
        return f"argon2id t={value.time_cost}, m={value.memory_kib // 1024} MiB, p={value.parallelism}"
    return str(value)
