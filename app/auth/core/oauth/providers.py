"""Identity providers: what one is, the presets, and the registry the toolkit keeps [59].

A provider is configured, never discovered from a request: its key names its button and its
callback path (`/auth/oauth/<key>/callback`, one redirect URI per provider, so an answer always
comes back to the flow of the provider it was meant for [62][63]); its issuer is the one value
every ID token and discovery document must carry exactly [61].

Any OpenID Connect provider works from its issuer (discovery is at
`<issuer>/.well-known/openid-configuration`). The presets fill in what is known about three
providers:

- `google`: OpenID Connect; Google's ID tokens may also carry the bare `accounts.google.com` issuer.
- `microsoft`: OpenID Connect on the Microsoft identity platform. `tenant` is a tenant id, or
  `common` / `organizations` (any work or school tenant: the issuer names the token's own tenant,
  checked against its `tid`) or `consumers` (personal accounts).
- `github`: OAuth 2 without OpenID Connect. Who someone is comes from the `/user` API, their address
  from `/user/emails`, and only the *primary* address counts, and only when GitHub says it is
  verified.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = (
    "PRESETS",
    "OAuthProviders",
    "Provider",
    "ProviderConfigError",
    "configure_provider",
    "insecure_urls",
)

ProviderKind = Literal["oidc", "github"]
TokenAuthMethod = Literal["client_secret_basic", "client_secret_post"]

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
TENANT_PLACEHOLDER = "{tenantid}"
MICROSOFT_CONSUMERS_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


class ProviderConfigError(ValueError):
    """A provider's configuration cannot work (the message says which value and why)."""


@dataclass(frozen=True)
class Provider:
    """One configured identity provider."""

    key: str
    """Lower-case letters, digits and dashes; in the callback path, so it never changes once used."""
    display_name: str
    kind: ProviderKind
    client_id: str
    client_secret: str = field(repr=False)
    issuer: str
    """OpenID Connect: the exact `iss` of its ID tokens (may hold `{tenantid}`, see Microsoft).
    GitHub: the issuer identities are recorded under (GitHub has no ID tokens)."""
    scopes: tuple[str, ...]
    discovery_url: str = ""
    authorize_url: str = ""
    """GitHub only (OpenID Connect providers publish theirs in discovery)."""
    token_url: str = ""
    api_url: str = ""
    """GitHub only: the REST API's base URL (`https://api.github.com`, or GitHub Enterprise's)."""
    token_auth_method: TokenAuthMethod = "client_secret_basic"  # noqa: S105 (a method name)
    icon: str = "key"
    """An icon in `static/img/providers/<icon>.svg` (served by the app: no third-party requests)."""
    store_tokens: bool = False
    """Keep the provider's access and refresh tokens, sealed, for calling its API later [66]."""
    trust_amr: bool = False
    """Let the provider's `amr` claim (`mfa`, with a fresh `auth_time`) stand in for the local second
    factor [67]. Off by default: a provider sign-in is one factor."""
    issuer_aliases: tuple[str, ...] = ()
    """Other spellings of the issuer the provider is documented to use (Google's bare host name)."""

    @property
    def is_oidc(self) -> bool:
        """Whether the provider speaks OpenID Connect (ID tokens, discovery, nonce)."""
        return self.kind == "oidc"

    @property
    def can_reauthenticate(self) -> bool:
        """Whether the provider can be asked to make the person sign in again, provably (OIDC
        `prompt=login` with `max_age=0`, answered with `auth_time`): only those may serve for sudo."""
        return self.is_oidc

    def issuer_matches(self, iss: object, tenant: object = None) -> bool:
        """Whether `iss` is this provider's issuer (for Microsoft's multi-tenant issuer, the one of
        `tenant`, the token's `tid`; without a tenant, any well-formed tenant id)."""
        if not isinstance(iss, str):
            return False
        if iss == self.issuer or iss in self.issuer_aliases:
            return True
        if TENANT_PLACEHOLDER not in self.issuer:
            return False
        if tenant is not None:
            return isinstance(tenant, str) and iss == self.issuer.replace(TENANT_PLACEHOLDER, tenant)
        prefix, _, suffix = self.issuer.partition(TENANT_PLACEHOLDER)
        middle = iss[len(prefix) : len(iss) - len(suffix)] if len(iss) > len(prefix) + len(suffix) else ""
        return iss.startswith(prefix) and iss.endswith(suffix) and bool(_TENANT_ID.fullmatch(middle))


_TENANT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_OIDC_SCOPES = ("openid", "email", "profile")

PRESETS: Mapping[str, Mapping[str, Any]] = {
    "google": {
        "kind": "oidc",
        "display_name": "Google",
        "issuer": "https://accounts.google.com",
        "issuer_aliases": ("accounts.google.com",),
        "scopes": _OIDC_SCOPES,
        "icon": "google",
    },
    "microsoft": {
        "kind": "oidc",
        "display_name": "Microsoft",
        "scopes": _OIDC_SCOPES,
        "icon": "microsoft",
    },
    "github": {
        "kind": "github",
        "display_name": "GitHub",
        "issuer": "https://github.com",
        "authorize_url": "https://github.com/login/oauth/authorize",
        "token_url": "https://github.com/login/oauth/access_token",
        "api_url": "https://api.github.com",
        "scopes": ("read:user", "user:email"),
        "token_auth_method": "client_secret_post",
        "icon": "github",
    },
}
"""What is known about the three providers with presets; any value can be overridden."""


def _microsoft(tenant: str) -> dict[str, str]:
    """Issuer and discovery URL for a Microsoft tenant (see the module docstring)."""
    base = "https://login.microsoftonline.com"
    if tenant in {"common", "organizations"}:
        issuer = f"{base}/{TENANT_PLACEHOLDER}/v2.0"
    elif tenant == "consumers":
        issuer = f"{base}/{MICROSOFT_CONSUMERS_TENANT}/v2.0"
    elif _TENANT_ID.fullmatch(tenant):
        issuer = f"{base}/{tenant}/v2.0"
    else:
        raise ProviderConfigError(
            "microsoft: tenant must be a tenant id, or common, organizations or consumers"
        )
    return {"issuer": issuer, "discovery_url": f"{base}/{tenant}/v2.0/.well-known/openid-configuration"}


def configure_provider(key: str, *, preset: str | None = None, **options: Any) -> Provider:
    """A provider from settings: the preset (named, or the key when it is a preset's name), then
    `options` on top. Raises `ProviderConfigError` with a message that names the problem."""
    if not KEY_PATTERN.fullmatch(key):
        raise ProviderConfigError(f"provider key {key!r} must be lower-case letters, digits and dashes")
    chosen = preset if preset is not None else (key if key in PRESETS else None)
    if chosen is not None and chosen not in PRESETS:
        raise ProviderConfigError(f"{key}: unknown preset {chosen!r} (known: {', '.join(PRESETS)})")
    values: dict[str, Any] = {"key": key, "kind": "oidc", "scopes": _OIDC_SCOPES, "display_name": key}
    values.update(PRESETS.get(chosen or "", {}))
    tenant = options.pop("tenant", None)
    if chosen == "microsoft":
        values.update(_microsoft(tenant or "common"))
    elif tenant is not None:
        raise ProviderConfigError(f"{key}: tenant is a setting of the microsoft preset only")
    known = {f.name for f in fields(Provider)}
    unknown = set(options) - known
    if unknown:
        raise ProviderConfigError(f"{key}: unknown setting(s) {', '.join(sorted(unknown))}")
    values.update({name: value for name, value in options.items() if value is not None})
    values["scopes"] = tuple(values["scopes"])
    values["issuer_aliases"] = tuple(values.get("issuer_aliases", ()))
    for required in ("client_id", "client_secret", "issuer"):
        if not values.get(required):
            raise ProviderConfigError(f"{key}: {required} is required")
    provider = Provider(**values)
    return _checked(provider)


def _checked(provider: Provider) -> Provider:
    if provider.kind == "oidc":
        if "openid" not in provider.scopes:
            raise ProviderConfigError(f"{provider.key}: an OpenID Connect provider needs the openid scope")
        discovery = provider.discovery_url or (
            provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        )
        if TENANT_PLACEHOLDER in discovery:
            raise ProviderConfigError(f"{provider.key}: set discovery_url for a multi-tenant issuer")
        provider = replace(provider, discovery_url=discovery)
        urls: tuple[str, ...] = (provider.discovery_url,)
    elif provider.kind == "github":
        urls = (provider.authorize_url, provider.token_url, provider.api_url)
        if not all(urls):
            raise ProviderConfigError(f"{provider.key}: authorize_url, token_url and api_url are required")
    else:
        raise ProviderConfigError(f"{provider.key}: kind must be oidc or github")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ProviderConfigError(f"{provider.key}: {url!r} is not an absolute http(s) URL")
    return provider


def insecure_urls(provider: Provider) -> list[str]:
    """The provider's URLs that are not HTTPS (production refuses them: tokens travel there)."""
    urls = (provider.discovery_url, provider.authorize_url, provider.token_url, provider.api_url)
    return [url for url in urls if url and urlsplit(url).scheme != "https"]


class OAuthProviders(Mapping[str, Provider]):
    """The configured providers by key, in configuration order, with their discovery cache."""

    def __init__(self, providers: Iterable[Provider] = ()) -> None:
        # Imported here: `discovery` needs httpx and joserfc, the toolkit only this registry.
        from app.auth.core.oauth.discovery import Directory

        self._providers: dict[str, Provider] = {}
        for provider in providers:
            if provider.key in self._providers:
                raise ProviderConfigError(f"provider key {provider.key!r} is configured twice")
            self._providers[provider.key] = provider
        self.directory = Directory()
        """Endpoints and signing keys fetched from the providers (see `discovery`)."""

    def __getitem__(self, key: str) -> Provider:
        return self._providers[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)
