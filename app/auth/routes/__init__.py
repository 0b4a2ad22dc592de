"""The account pages: registration and confirmation, sign-in and sign-out, sudo, settings."""

from app.auth.routes.recovery import RecoveryController
from app.auth.routes.register import RegistrationController
from app.auth.routes.session import SessionController
from app.auth.routes.settings import SettingsController

CONTROLLERS = (RegistrationController, SessionController, SettingsController, RecoveryController)

__all__ = (
    "CONTROLLERS",
    "RecoveryController",
    "RegistrationController",
    "SessionController",
    "SettingsController",
)
