"""The one settings object: every knob Gatehouse reads, from the environment or a `.env` file.

Each field's docstring is what `.env.example` and the README's configuration table say about it;
`tests/test_settings.py` checks that the three stay in step. Nothing here runs at import time:
`create_app()` builds a `Settings()` (or takes one from a test).
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Literal
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.auth.core.oauth.providers import Provider, ProviderConfigError, configure_provider, insecure_urls

Environment = Literal["dev", "test", "prod"]

# Values that show up in tutorials and `.env.example`; a production server must never run with them.
_KNOWN_PLACEHOLDER_SECRETS = {"changeme", "secret", "dev", "development", "insecure", "replace-me"}
_MIN_SECRET_BYTES = 32


class OAuthProviderSetting(BaseModel):
    """One identity provider in OAUTH_PROVIDERS (see docs/oauth.md); unset values come from the preset."""

    model_config = ConfigDict(extra="forbid")

    key: str
    """Lower-case letters, digits and dashes; the callback is `<BASE_URL>/auth/oauth/<key>/callback`."""
    preset: Literal["google", "microsoft", "github"] | None = None
    """Defaults to the key when the key is a preset's name."""
    kind: Literal["oidc", "github"] | None = None
    display_name: str | None = None
    client_id: str
    client_secret: SecretStr | None = None
    issuer: str | None = None
    discovery_url: str | None = None
    tenant: str | None = None
    """Microsoft only: a tenant id, `common`, `organizations` or `consumers`."""
    scopes: list[str] | None = None
    icon: str | None = None
    store_tokens: bool = False
    trust_amr: bool = False
    authorize_url: str | None = None
    token_url: str | None = None
    api_url: str | None = None

    def build(self) -> Provider:
        """The core's provider for this entry (raises `ProviderConfigError`)."""
        options = self.model_dump(exclude={"key", "preset", "client_secret"}, exclude_none=True)
        secret = self.client_secret.get_secret_value() if self.client_secret else ""
        return configure_provider(self.key, preset=self.preset, client_secret=secret, **options)


class ApiJwtKeySetting(BaseModel):
    """One signing key of the optional API JWTs (an entry of `API_JWT_KEYS`)."""

    model_config = ConfigDict(extra="forbid")

    kid: str
    alg: Literal["Ed25519", "ES256"] = "Ed25519"
    private_key: SecretStr
    """The private key as PKCS#8 PEM (Ed25519 for `Ed25519`, P-256 for `ES256`)."""


class Settings(BaseSettings):
    """Gatehouse configuration. Environment variables use the upper-case field names."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_env: Environment = "prod"
    """`dev`, `test` or `prod`. Anything but `prod` enables the dev mailbox and relaxed cookies."""

    app_name: str = "Gatehouse"
    """Product name shown in the page title, the header and mail."""

    base_url: str = "http://localhost:8000"
    """Public origin of the app. Links in mail are built from it, never from the request's Host."""

    secret_key: SecretStr | None = None
    """At least 32 random bytes (e.g. `python -c "import secrets; print(secrets.token_urlsafe(48))"`).
    Signs CSRF and flash cookies and derives the job-payload encryption key. Required in prod."""

    database_url: str = ""
    """PostgreSQL URL. Unset under `make dev`/`make test`: an embedded server is started instead."""

    db_pool_size: int = 10
    """Connections per app process, and the most it ever opens (no overflow). No request holds two at
    once, so size it to the requests one worker serves at a time (see docs/performance.md)."""

    db_pool_timeout: int = 5
    """Seconds a request waits for a free connection before it is answered 503 "busy, try again"."""

    db_echo: bool = False
    """Log every SQL statement (development aid)."""

    saq_redis_url: str | None = None
    """When set (e.g. `redis://127.0.0.1:6379/0`), background jobs use a Redis queue instead of PostgreSQL."""

    saq_queue_name: str = "gatehouse"
    """Name of the job queue; separate apps sharing a database or Redis need different names."""

    saq_in_process_worker: bool | None = None
    """Run the job worker inside the web process. Default: on in dev/test, off in prod (`make worker`)."""

    saq_concurrency: int = 10
    """Jobs one worker runs at the same time."""

    saq_shutdown_grace: int = 1
    """Seconds an in-process worker lets running jobs finish at shutdown (interrupted jobs are retried)."""

    ratelimit_redis_url: str | None = None
    """When set, rate-limit counters live in this Redis; otherwise in PostgreSQL."""

    mail_backend: Literal["smtp", "mailbox"] | None = None
    """`smtp` delivers through SMTP_*; `mailbox` stores messages for /dev/mailbox. Default: mailbox outside prod."""

    mail_from: str = "Gatehouse <no-reply@localhost>"
    """From header of every message."""

    mail_retry_delay: float = 5.0
    """Seconds before the first retry of a failed delivery; later retries back off exponentially."""

    mail_retries: int = 8
    """Delivery attempts before a message is given up (and logged as lost)."""

    smtp_host: str = "localhost"
    """SMTP server host."""

    smtp_port: int = 587
    """SMTP server port (587 for STARTTLS, 465 for implicit TLS, 25 or a sink's port for plain)."""

    smtp_username: str | None = None
    """SMTP login; leave unset for servers that do not authenticate."""

    smtp_password: SecretStr | None = None
    """SMTP password."""

    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    """`starttls` upgrades a plain connection, `tls` connects with TLS, `none` sends in the clear (local sinks only)."""

    smtp_timeout: float = 20.0
    """Seconds to wait for the SMTP server before a delivery attempt counts as failed."""

    secure_cookies: bool | None = None
    """`__Host-` cookie names and the Secure flag. Default: on in prod, off in dev/test (plain http://localhost)."""

    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses of reverse proxies whose X-Forwarded-For is believed (JSON list, e.g. `["10.0.0.1"]`)."""

    allowed_hosts: list[str] = Field(default_factory=list)
    """Host headers the app answers to (JSON list). Default: the host of BASE_URL plus localhost in dev/test."""

    api_cors_origins: list[str] = Field(default_factory=list)
    """Origins (e.g. `["https://app.example.com"]`) whose pages may call `/api/` from a browser. Default: none."""

    api_jwt_enabled: bool = False
    """Offer `POST /api/v1/auth/token`: a personal token or a password exchanged for 15-minute JWTs
    and rotating refresh tokens (see docs/api.md). Off: the routes answer 404 and only tokens work."""

    api_jwt_keys: list[ApiJwtKeySetting] = Field(default_factory=list)
    """Signing keys of the API JWTs (JSON list of `{"kid": "2026-12", "alg": "Ed25519", "private_key":
    "-----BEGIN PRIVATE KEY-----..."}`). Required in prod when API_JWT_ENABLED; outside prod an unset
    list uses one key derived from SECRET_KEY. Rotate by adding a key and making it active."""

    api_jwt_active_kid: str | None = None
    """The `kid` of API_JWT_KEYS that signs new tokens (the others only verify). Default: the first."""

    webhook_allow_loopback: bool = False
    """Tests only: let webhook endpoints on 127.0.0.1 receive deliveries (refused outside APP_ENV=test)."""

    request_body_timeout: float = 10.0
    """Seconds a request's body may take to arrive after its headers; a slower client gets 408 and its
    connection is closed (Granian has no body timeout; see docs/deployment.md)."""

    security_policy: dict[str, int | float] = Field(default_factory=dict)
    """JSON object overriding security numbers of `app/auth/core/policy.py`, durations in seconds
    (e.g. `{"session_idle_timeout": 900, "address_form_min_duration": 0.5}`); values outside the
    policy's bounds stop the app at startup."""

    personal_workspace: bool = True
    """Give every new account its own organization ("Ada's workspace") when its address is
    confirmed, so a first sign-in lands in a working app. Off: new people start on "Create an
    organization" (or in the one that invited them)."""

    feature_orgs: bool = True
    """Organizations (workspaces, members, invitations, roles, domains) and their example resource,
    projects. Off: no org pages, no personal workspace, sign-in lands on account settings; the API
    and webhooks need it (see docs/features.md)."""

    feature_admin: bool = True
    """The platform admin console under `/admin/` (and support sign-in as a user). Its organization
    pages need FEATURE_ORGS too."""

    feature_api: bool = True
    """The JSON API under `/api/v1`, its docs, and the API token pages; needs FEATURE_ORGS."""

    feature_webhooks: bool = True
    """Signed webhooks an organization sends to its own endpoints; needs FEATURE_ORGS and FEATURE_API."""

    feature_passkeys: bool = True
    """Passkeys: sign in without a password, add and manage them in settings, confirm sudo with one.
    Off: passkeys people already registered still answer the second step of signing in."""

    feature_totp: bool = True
    """Authenticator-app codes and backup codes, set up under settings. Off: no enrolment pages;
    accounts that already have them are still asked for them when signing in."""

    feature_oauth: bool = True
    """Sign-in with the identity providers of OAUTH_PROVIDERS and the connected-accounts page.
    Off with providers configured stops the app (remove OAUTH_PROVIDERS or switch it on)."""

    feature_magic_link: bool = True
    """Offer sign-in by emailed link and code; off hides the option and the routes answer 404."""

    impersonation_notify_user: bool = False
    """Mail people when support signs in to their account (their security page lists it either way)."""

    oauth_providers: list[OAuthProviderSetting] = Field(default_factory=list)
    """Identity providers to sign in with (JSON list, e.g. `[{"key": "google", "client_id": "...",
    "client_secret": "..."}]`; presets `google`, `microsoft`, `github`, or any OpenID Connect
    provider by `issuer`; see docs/oauth.md). Empty: no buttons, and the OAuth routes answer 404."""

    dns_nameservers: list[str] = Field(default_factory=list)
    """Nameservers (IP addresses, JSON list) that organization domain checks ask. Empty: the
    system's resolver (`/etc/resolv.conf`). Use a resolver that does not cache for long, so a record
    an admin just published is found."""

    dns_port: int = 53
    """Port of DNS_NAMESERVERS (the test suite runs a DNS server on a free local port)."""

    dns_timeout: float = 5.0
    """Seconds a domain check waits for DNS before telling the admin it could not reach it."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Minimum level of log lines."""

    log_json: bool | None = None
    """Log as JSON lines. Default: on in prod, human-readable console lines elsewhere."""

    @field_validator("base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("BASE_URL must be an absolute http(s) URL such as https://app.example.com")
        return value.rstrip("/")

    @field_validator("request_body_timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("REQUEST_BODY_TIMEOUT must be a positive number of seconds")
        return value

    @model_validator(mode="after")
    def _loopback_webhooks_only_in_tests(self) -> Settings:
        """Webhooks to loopback addresses are an SSRF hole anywhere but the test suite."""
        if self.webhook_allow_loopback and self.app_env != "test":
            raise ValueError("WEBHOOK_ALLOW_LOOPBACK is only allowed when APP_ENV=test")
        return self

    @model_validator(mode="after")
    def _jwt_keys_configured_in_production(self) -> Settings:
        """Production signs API JWTs only with configured keys, never with one derived from the secret."""
        if self.api_jwt_enabled and self.is_prod and not self.api_jwt_keys:
            raise ValueError("API_JWT_KEYS is required when API_JWT_ENABLED and APP_ENV=prod")
        kids = [key.kid for key in self.api_jwt_keys]
        if self.api_jwt_active_kid is not None and self.api_jwt_active_kid not in kids:
            raise ValueError("API_JWT_ACTIVE_KID must be the kid of one of API_JWT_KEYS")
        return self

    @model_validator(mode="after")
    def _features_have_what_they_need(self) -> Settings:
        """A switched-on feature whose prerequisite is off (webhooks without orgs, ...) stops the app."""
        from app.features import check_features  # the registry reads these settings: imported late

        check_features(self)
        return self

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> Settings:
        """Production never starts on a missing, short or placeholder secret (requirement 89)."""
        if self.app_env != "prod":
            return self
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if not key:
            raise ValueError("SECRET_KEY is required when APP_ENV=prod")
        if key.lower() in _KNOWN_PLACEHOLDER_SECRETS or len(key.encode()) < _MIN_SECRET_BYTES:
            raise ValueError(
                f"SECRET_KEY must be at least {_MIN_SECRET_BYTES} random bytes, not a placeholder"
            )
        if not self.database_url:
            raise ValueError("DATABASE_URL is required when APP_ENV=prod")
        return self

    @model_validator(mode="after")
    def _check_oauth_providers(self) -> Settings:
        """Every provider must work: production refuses one without its secret or off HTTPS [59]."""
        keys = [entry.key for entry in self.oauth_providers]
        if len(keys) != len(set(keys)):
            raise ValueError("OAUTH_PROVIDERS: each provider needs its own key")
        for entry in self.oauth_providers:
            if entry.client_secret is None or not entry.client_secret.get_secret_value():
                if self.is_prod:
                    raise ValueError(
                        f"OAUTH_PROVIDERS: provider {entry.key!r} has no client_secret; "
                        "set it (from the provider's console) or remove the provider"
                    )
                continue  # outside production it is left out, with a warning (see oauth_provider_list)
            try:
                provider = entry.build()
            except ProviderConfigError as exc:
                raise ValueError(f"OAUTH_PROVIDERS: {exc}") from exc
            if self.is_prod and insecure_urls(provider):
                raise ValueError(
                    f"OAUTH_PROVIDERS: provider {entry.key!r} must use https:// URLs in production"
                )
        return self

    @cached_property
    def oauth_provider_list(self) -> tuple[Provider, ...]:
        """The configured providers that can work (outside production, one without a secret is skipped)."""
        providers = []
        for entry in self.oauth_providers:
            if entry.client_secret is None or not entry.client_secret.get_secret_value():
                structlog.get_logger(__name__).warning("oauth.provider_skipped", provider=entry.key)
                continue
            providers.append(entry.build())
        return tuple(providers)

    @property
    def is_dev(self) -> bool:
        """True in the local development server."""
        return self.app_env == "dev"

    @property
    def is_prod(self) -> bool:
        """True in production."""
        return self.app_env == "prod"

    @property
    def dev_tools_enabled(self) -> bool:
        """Dev mailbox, mail previews and the like: dev and test only."""
        return self.app_env in {"dev", "test"}

    @property
    def cookies_secure(self) -> bool:
        """Whether cookies carry Secure and the `__Host-` prefix."""
        return self.is_prod if self.secure_cookies is None else self.secure_cookies

    @property
    def run_worker_in_process(self) -> bool:
        """Whether the web process also runs the job worker."""
        return (not self.is_prod) if self.saq_in_process_worker is None else self.saq_in_process_worker

    @property
    def effective_mail_backend(self) -> Literal["smtp", "mailbox"]:
        """The mail backend in use."""
        if self.mail_backend:
            return self.mail_backend
        return "smtp" if self.is_prod else "mailbox"

    @property
    def logs_as_json(self) -> bool:
        """Whether log lines are JSON."""
        return self.is_prod if self.log_json is None else self.log_json

    @property
    def hosts(self) -> list[str]:
        """Host names accepted in the Host header."""
        if self.allowed_hosts:
            return self.allowed_hosts
        # The Host header carries the port when it is not the scheme's default.
        url = urlsplit(self.base_url)
        hosts = {url.netloc, url.hostname or "localhost"}
        if not self.is_prod:
            local = ("localhost", "127.0.0.1", "testserver.local")
            hosts.update(local)
            if url.port:
                hosts.update(f"{name}:{url.port}" for name in local)
        return sorted(hosts)

    @cached_property
    def secret(self) -> bytes:
        """The secret key as bytes. Outside prod an unset key falls back to a fixed development key."""
        if self.secret_key:
            return self.secret_key.get_secret_value().encode()
        # Dev and test only (prod is refused above): stable across reloads so cookies survive.
        return hashlib.sha256(b"gatehouse-insecure-development-key").hexdigest().encode()

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL with the asyncpg driver SQLAlchemy uses."""
        return _with_driver(self.database_url, "postgresql+asyncpg")

    @property
    def psycopg_url(self) -> str:
        """DATABASE_URL in the plain form psycopg (the PostgreSQL job queue) uses."""
        return _with_driver(self.database_url, "postgresql")


def _with_driver(url: str, scheme: str) -> str:
    if not url:
        raise ValueError("DATABASE_URL is not set")
    _, rest = url.split("://", 1)
    return f"{scheme}://{rest}"
