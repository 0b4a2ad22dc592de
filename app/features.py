"""The optional features and what each one brings: the one list `create_app` builds its routes from.

Every feature is switched by a `FEATURE_<NAME>` setting (default on). A feature's route handlers are
named by dotted path (`"app.widgets:CONTROLLERS"`) and imported only when it is on, so a fork that
deletes a feature's folders (`scripts/remove_feature.py`, docs/features.md) deletes its entry here
and nothing else imports the missing code. A handler that needs a second feature (the admin's
organization pages need organizations) says so in `also_needs`.

What is not here is always on: registration, password sign-in and its second step, settings,
sessions, the security page, dev tools. The second step of signing in stays even with TOTP and
passkeys off: switching a feature off stops new enrolments, it never unprotects an account that
already has a factor (docs/features.md, "Accounts that already use a feature").

Adding a feature: one `Feature(...)` entry below, its setting in `app/settings.py`, and its paths in
`paths` so the removal script can delete them.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.settings import Settings

__all__ = (
    "FEATURES",
    "Feature",
    "FeatureError",
    "Handlers",
    "check_features",
    "dependents_of",
    "enabled",
    "enabled_names",
    "feature_exception_handlers",
    "feature_handlers",
    "mail_enabled",
)


class FeatureError(ValueError):
    """A combination of FEATURE_* settings that cannot work (raised while the settings load)."""


@dataclass(frozen=True)
class Handlers:
    """Route handlers at `target` (`"module:attribute"`: a controller, a router, a handler, a
    tuple of them, or a function returning one), registered when their feature and `also_needs` are on."""

    target: str
    also_needs: tuple[str, ...] = ()

    def load(self, settings: Settings) -> list[Any]:
        """Import the handlers (only now, so a feature that is off costs no import)."""
        module, _, attribute = self.target.partition(":")
        value = getattr(import_module(module), attribute)
        if isinstance(value, tuple | list):
            return list(value)
        if inspect.isfunction(value):  # a factory of the settings, such as `api_routes(settings)`
            return [value(settings)]
        return [value]


@dataclass(frozen=True)
class Feature:
    """One optional feature: its routes, its mails, what it needs, and the files that are only its own."""

    name: str
    summary: str
    handlers: tuple[Handlers, ...]
    requires: tuple[str, ...] = ()
    mails: tuple[str, ...] = ()
    """Templates under `templates/emails/` only this feature sends (the previews leave them out)."""
    exception_handlers: tuple[str, ...] = ()
    """`"module:attribute"` of exception-handler maps the feature's pages need."""
    paths: tuple[str, ...] = field(default=())
    """Folders and files (relative to the checkout) that `scripts/remove_feature.py` deletes."""

    @property
    def setting(self) -> str:
        """The `Settings` field that switches it (`FEATURE_<NAME>` in the environment)."""
        return f"feature_{self.name}"


FEATURES: dict[str, Feature] = {
    feature.name: feature
    for feature in (
        # --- feature: orgs
        Feature(
            name="orgs",
            summary="organizations, members, invitations, roles, domains, and the projects example",
            handlers=(Handlers("app.orgs:CONTROLLERS"),),
            exception_handlers=("app.orgs.errors:EXCEPTION_HANDLERS",),
            mails=("org_invitation",),
            paths=(
                "app/orgs",
                "app/projects",
                "templates/orgs",
                "templates/projects",
                "templates/partials/_org_switcher.html",
                "tests/orgs",
                "migrations/versions/20261201_2b176f224295_host_projects.py",
                "templates/emails/org_invitation.html",
                "templates/emails/org_invitation.txt",
                "tests/admin/test_orgs.py",
                "app/admin/orgs.py",
                "templates/admin/org.html",
                "templates/admin/orgs.html",
                "templates/admin/_org_results.html",
                "e2e/test_orgs.py",
                "e2e/test_projects.py",
                "e2e/test_domains.py",
                "e2e/test_org_audit.py",
                "tests/test_remove_feature.py",
            ),
        ),
        # --- end feature: orgs
        # --- feature: admin
        Feature(
            name="admin",
            summary="the platform admin console under /admin/ and support sign-in as a user",
            handlers=(
                Handlers("app.admin:CONTROLLERS"),
                # --- feature: orgs
                Handlers("app.admin:ORG_CONTROLLERS", also_needs=("orgs",)),
                # --- end feature: orgs
                # --- feature: api
                Handlers("app.admin:TOKEN_CONTROLLERS", also_needs=("api",)),
                # --- end feature: api
            ),
            exception_handlers=("app.admin:EXCEPTION_HANDLERS",),
            mails=("support_access",),
            paths=("app/admin", "templates/admin", "templates/layouts/admin.html", "tests/admin"),
        ),
        # --- end feature: admin
        # --- feature: api
        Feature(
            name="api",
            summary="the JSON API under /api/v1, its docs page, and the API token pages",
            requires=("orgs",),
            handlers=(
                Handlers("app.api:api_routes"),
                Handlers("app.api.docs:api_docs"),
                Handlers("app.api.pages:TokensController"),
                Handlers("app.api.pages:OrgTokensController"),
            ),
            mails=("api_token_created",),
            paths=(
                "app/api",
                "templates/api",
                "templates/settings/tokens.html",
                "templates/orgs/tokens.html",
                "templates/emails/api_token_created.html",
                "templates/emails/api_token_created.txt",
                "tests/api",
                "tests/admin/test_tokens.py",
                "e2e/test_api_tokens.py",
            ),
        ),
        # --- end feature: api
        # --- feature: webhooks
        Feature(
            name="webhooks",
            summary="signed webhooks from an organization to its endpoints",
            requires=("orgs", "api"),
            handlers=(Handlers("app.api.webhook_pages:WebhooksController"),),
            mails=("webhook_disabled",),
            paths=(
                "app/api/webhooks.py",
                "app/api/webhook_pages.py",
                "templates/emails/webhook_disabled.html",
                "templates/emails/webhook_disabled.txt",
                "templates/orgs/webhooks.html",
                "templates/orgs/webhook.html",
                "tests/api/test_webhooks.py",
            ),
        ),
        # --- end feature: webhooks
        # --- feature: passkeys
        Feature(
            name="passkeys",
            summary="passkeys: added in settings, and signing in with one alone",
            handlers=(Handlers("app.auth.routes.passkeys:PasskeyController"),),
            paths=(
                "templates/settings/passkeys.html",
                "templates/auth/_passkey_sign_in.html",
                "e2e/test_passkeys.py",
            ),
        ),
        # --- end feature: passkeys
        # --- feature: totp
        Feature(
            name="totp",
            summary="authenticator-app codes and backup codes, set up in settings",
            handlers=(Handlers("app.auth.routes.security:TwoFactorSettingsController"),),
            paths=(
                "templates/settings/two_factor.html",
                "templates/settings/two_factor_setup.html",
                "templates/settings/backup_codes.html",
                "e2e/test_two_factor.py",
            ),
        ),
        # --- end feature: totp
        # --- feature: oauth
        Feature(
            name="oauth",
            summary="sign-in with identity providers and the connected-accounts page",
            handlers=(
                Handlers("app.auth.routes.oauth:OAuthController"),
                Handlers("app.auth.routes.connected_accounts:ConnectedAccountsController"),
            ),
            mails=("oauth_changed",),
            paths=("tests/auth/test_oauth.py", "tests/auth/test_oauth_linking.py"),
        ),
        # --- end feature: oauth
        # --- feature: magic_link
        Feature(
            name="magic_link",
            summary="sign-in by emailed link and code",
            handlers=(Handlers("app.auth.routes.magic:MagicLinkController"),),
            mails=("magic_link",),
            paths=("tests/auth/test_magic_link.py",),
        ),
        # --- end feature: magic_link
    )
}
"""Every optional feature of this checkout, by name (a fork's removed features are simply absent)."""

REMOVED: dict[str, tuple[str, ...]] = {}
"""Features this fork deleted with `scripts/remove_feature.py`, and the paths that went with them
(the script fills this in; tests that cite a deleted test, as docs do, look here)."""


def enabled(settings: Settings, name: str) -> bool:
    """Whether feature `name` is in this checkout and switched on."""
    return name in FEATURES and bool(getattr(settings, FEATURES[name].setting, False))


def dependents_of(name: str) -> list[str]:
    """The features that need `name`, directly or through another (switch them off with it)."""
    found: list[str] = []
    for feature in FEATURES.values():
        if feature.name not in found and (name in feature.requires or set(feature.requires) & set(found)):
            found.append(feature.name)
    return found


def check_features(settings: Settings) -> None:
    """Refuse switches that cannot work together, naming the setting to change."""
    for feature in FEATURES.values():
        if not enabled(settings, feature.name):
            continue
        missing = [need for need in feature.requires if not enabled(settings, need)]
        if missing:
            needs = " and ".join(f"FEATURE_{need.upper()}" for need in missing)
            raise FeatureError(
                f"{feature.setting.upper()}=true needs {needs}: switch {'them' if len(missing) > 1 else 'it'} "
                f"on, or switch {feature.setting.upper()} off"
            )
    for name in type(settings).model_fields:
        if (
            name.startswith("feature_")
            and getattr(settings, name)
            and name.removeprefix("feature_") not in FEATURES
        ):
            raise FeatureError(f"{name.upper()}=true, but this checkout has no such feature (it was removed)")
    if settings.oauth_providers and not enabled(settings, "oauth"):
        raise FeatureError(
            "OAUTH_PROVIDERS is set but FEATURE_OAUTH is off: remove the providers or switch it on"
        )


def feature_handlers(settings: Settings) -> list[Any]:
    """The route handlers of every feature that is on, in registry order."""
    handlers: list[Any] = []
    for feature in FEATURES.values():
        if not enabled(settings, feature.name):
            continue
        for entry in feature.handlers:
            if all(enabled(settings, need) for need in entry.also_needs):
                handlers += entry.load(settings)
    return handlers


def feature_exception_handlers(settings: Settings) -> dict[Any, Any]:
    """The exception handlers of every feature that is on."""
    handlers: dict[Any, Any] = {}
    for feature in FEATURES.values():
        if enabled(settings, feature.name):
            for target in feature.exception_handlers:
                module, _, attribute = target.partition(":")
                handlers.update(getattr(import_module(module), attribute))
    return handlers


def mail_enabled(settings: Settings, template: str) -> bool:
    """Whether the mail `template` belongs to no feature, or to one that is on."""
    return all(enabled(settings, feature.name) for feature in FEATURES.values() if template in feature.mails)


def enabled_names(settings: Settings) -> frozenset[str]:
    """The names of the features that are on (templates read this as `features`)."""
    return frozenset(name for name in FEATURES if enabled(settings, name))
