"""The account pages: registration and confirmation, sign-in and sign-out, sudo, settings."""

from app.auth.routes.account import AccountController, RestoreController
from app.auth.routes.connected_accounts import ConnectedAccountsController
from app.auth.routes.email_change import EmailChangeController
from app.auth.routes.magic import MagicLinkController
from app.auth.routes.oauth import OAuthController
from app.auth.routes.passkeys import PasskeyAnswersController, PasskeyController
from app.auth.routes.recovery import RecoveryController
from app.auth.routes.register import RegistrationController
from app.auth.routes.security import SecurityController, TwoFactorSettingsController
from app.auth.routes.session import SessionController
from app.auth.routes.settings import SettingsController
from app.auth.routes.two_factor import TwoFactorController

CONTROLLERS = (
    RegistrationController,
    SessionController,
    SettingsController,
    RecoveryController,
    EmailChangeController,
    PasskeyAnswersController,
    TwoFactorController,
    SecurityController,
    AccountController,
    RestoreController,
)
"""Always registered. The optional ones (magic link, passkeys, TOTP settings, OAuth) are in
`app.features`, registered when their FEATURE_* setting is on."""

__all__ = (
    "CONTROLLERS",
    "AccountController",
    "ConnectedAccountsController",
    "EmailChangeController",
    "MagicLinkController",
    "OAuthController",
    "PasskeyAnswersController",
    "PasskeyController",
    "RecoveryController",
    "RegistrationController",
    "RestoreController",
    "SecurityController",
    "SessionController",
    "SettingsController",
    "TwoFactorController",
    "TwoFactorSettingsController",
)
