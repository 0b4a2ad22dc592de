"""Identity provider configuration: presets, the exact issuer (Microsoft's per-tenant one), refusals."""

from __future__ import annotations

import pytest

from app.auth.core.oauth.providers import ProviderConfigError, configure_provider

SECRET = {"client_id": "client", "client_secret": "secret"}


def test_presets_fill_in_what_is_known_and_settings_override_it() -> None:
    google = configure_provider("google", **SECRET)
    assert google.issuer == "https://accounts.google.com"
    assert google.discovery_url == "https://accounts.google.com/.well-known/openid-configuration"
    assert google.is_oidc
    github = configure_provider("gh", preset="github", display_name="GitHub Enterprise", **SECRET)
    assert (github.kind, github.display_name, github.scopes) == (
        "github",
        "GitHub Enterprise",
        ("read:user", "user:email"),
    )
    assert not github.can_reauthenticate


def test_the_issuer_must_match_exactly() -> None:
    corp = configure_provider("corp", issuer="https://id.example.com", **SECRET)
    assert corp.issuer_matches("https://id.example.com")
    for other in (
        "https://id.example.com/",
        "https://ID.example.com",
        "https://id.example.com.evil",
        None,
        1,
    ):
        assert not corp.issuer_matches(other)


def test_googles_documented_bare_issuer_is_accepted() -> None:
    assert configure_provider("google", **SECRET).issuer_matches("accounts.google.com")


def test_a_multi_tenant_microsoft_issuer_is_the_tokens_own_tenant() -> None:
    microsoft = configure_provider("microsoft", tenant="organizations", **SECRET)
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    issuer = f"https://login.microsoftonline.com/{tenant}/v2.0"
    assert microsoft.issuer_matches(issuer, tenant)
    assert not microsoft.issuer_matches(issuer, "9188040d-6c67-4c5b-b112-36a304b66dad"), (
        "another tenant's token"
    )
    assert microsoft.issuer_matches(issuer), (
        "the authorization response carries no tid: any well-formed tenant"
    )
    assert not microsoft.issuer_matches("https://login.microsoftonline.com/evil.example/v2.0")
    single = configure_provider("microsoft", tenant=tenant, **SECRET)
    assert single.issuer == issuer


@pytest.mark.parametrize(
    ("key", "options", "message"),
    [
        ("UPPER", {"preset": "google"}, "lower-case"),
        ("x", {"preset": "facebook"}, "unknown preset"),
        ("x", {"issuer": "https://i.example", "colour": "red"}, "unknown setting"),
        ("x", {}, "issuer is required"),
        ("x", {"issuer": "ftp://i.example"}, "not an absolute http"),
        ("x", {"issuer": "https://i.example", "tenant": "common"}, "microsoft preset only"),
    ],
)
def test_a_configuration_that_cannot_work_is_refused(key: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        configure_provider(key, **{**SECRET, **options})
