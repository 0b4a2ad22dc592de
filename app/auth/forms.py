"""Forms of the account pages: parse what was posted, say in words what is wrong.

Each form takes only the fields it declares (no mass assignment, requirement 70) and keeps what
the user typed, except passwords, so a page re-rendered with errors is not blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.auth.core.identity import InvalidEmail, canonical_email, normalize_email
from app.auth.core.passkey_names import NAME_MAX as PASSKEY_NAME_MAX
from app.auth.core.passwords import PasswordProblem, check_password_policy
from app.auth.core.policy import SecurityPolicy
from app.auth.core.redirects import safe_redirect_target

DISPLAY_NAME_MAX = 100
EMAIL_MAX = 320


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    return value if isinstance(value, str) else ""


def _checked(data: Mapping[str, Any], name: str) -> bool:
    return _text(data, name) in {"on", "true", "1"}


def context_words(email: str, app_name: str) -> list[str]:
    """Words a password must not be: the app's name and the address's local part [6]."""
    return [word for word in (app_name, email.split("@", 1)[0]) if word]


def password_problems(
    password: str, *, policy: SecurityPolicy, email: str, app_name: str
) -> list[PasswordProblem]:
    """What is wrong with a new password for the account at `email` (most useful reason first)."""
    return check_password_policy(password, policy=policy, context_words=context_words(email, app_name))


def _address(data: Mapping[str, Any], errors: dict[str, str]) -> tuple[str, str]:
    """The posted `email` normalized and its canonical form; a reason in `errors["email"]` if invalid."""
    typed = _text(data, "email").strip()[:EMAIL_MAX]
    try:
        email = normalize_email(typed)
        return email, canonical_email(email)
    except InvalidEmail as exc:
        errors["email"] = str(exc) or "Enter a valid email address."
        return typed, ""


@dataclass
class RegistrationForm:
    """Email and password for a new account."""

    email: str = ""
    password: str = field(default="", repr=False)
    errors: dict[str, str] = field(default_factory=dict)
    password_problems: list[PasswordProblem] = field(default_factory=list)
    canonical: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, policy: SecurityPolicy, app_name: str) -> RegistrationForm:
        """Read and validate."""
        form = cls(password=_text(data, "password"))
        form.email, form.canonical = _address(data, form.errors)
        form.password_problems = password_problems(
            form.password, policy=policy, email=form.email, app_name=app_name
        )
        if form.password_problems:
            form.errors["password"] = form.password_problems[0].message
        return form


@dataclass
class SignInForm:
    """Email, password, remember-me and where to go next."""

    email: str = ""
    password: str = field(default="", repr=False)
    remember: bool = False
    next: str = ""
    """A same-site path to return to; empty: the adapter's `login_redirect_url`."""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> SignInForm:
        """Read the fields; validation is the sign-in itself (all failures look alike)."""
        return cls(
            email=_text(data, "email").strip()[:EMAIL_MAX],
            password=_text(data, "password"),
            remember=_checked(data, "remember"),
            next=safe_redirect_target(_text(data, "next"), default=""),
        )


@dataclass
class CodeForm:
    """A code typed from a mail."""

    code: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> CodeForm:
        """Read the code (spaces and hyphens allowed)."""
        form = cls(code=_text(data, "code").strip()[:32])
        if not form.code:
            form.errors["code"] = "Type the code from the email."
        return form


@dataclass
class PasswordForm:
    """Choosing a password (after confirming from another device)."""

    password: str = field(default="", repr=False)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, data: Mapping[str, Any], *, policy: SecurityPolicy, email: str, app_name: str
    ) -> PasswordForm:
        """Read and check against the password policy."""
        form = cls(password=_text(data, "password"))
        if problems := password_problems(form.password, policy=policy, email=email, app_name=app_name):
            form.errors["password"] = problems[0].message
        return form


@dataclass
class PasswordChangeForm:
    """Current password, new password, and whether to sign out other devices (on by default)."""

    current: str = field(default="", repr=False)
    new: str = field(default="", repr=False)
    sign_out_others: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, data: Mapping[str, Any], *, policy: SecurityPolicy, email: str, app_name: str
    ) -> PasswordChangeForm:
        """Read and check what can be checked without the database."""
        form = cls(
            current=_text(data, "current_password"),
            new=_text(data, "new_password"),
            sign_out_others=_checked(data, "sign_out_others"),
        )
        if not form.current:
            form.errors["current_password"] = "Enter your current password."  # noqa: S105 (a message)
        if problems := password_problems(form.new, policy=policy, email=email, app_name=app_name):
            form.errors["new_password"] = problems[0].message
        return form


@dataclass
class ProfileForm:
    """The editable profile: only the display name."""

    display_name: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ProfileForm:
        """Read and validate; control characters (CR/LF) are refused, not stripped [94]."""
        form = cls(display_name=_text(data, "display_name").strip())
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in form.display_name):
            form.errors["display_name"] = "Use letters, numbers and punctuation only (no line breaks)."
        elif len(form.display_name) > DISPLAY_NAME_MAX:
            form.errors["display_name"] = f"Keep it under {DISPLAY_NAME_MAX} characters."
        return form


@dataclass
class MagicLinkForm:
    """The address to send a sign-in link to."""

    email: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> MagicLinkForm:
        """Read and check the address's syntax (whether an account has it is never said)."""
        form = cls()
        form.email, _ = _address(data, form.errors)
        return form


@dataclass
class NewAddressForm:
    """The address to move the account to."""

    email: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    canonical: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, current_canonical: str) -> NewAddressForm:
        """Read and validate; line breaks and other control characters are refused [94]."""
        form = cls()
        form.email, form.canonical = _address(data, form.errors)
        if form.canonical and form.canonical == current_canonical:
            form.errors["email"] = "That is already your address."
        return form


@dataclass
class PasskeyNameForm:
    """A passkey's new name."""

    name: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PasskeyNameForm:
        """Read and validate; control characters are refused, not stripped [94]."""
        form = cls(name=_text(data, "name").strip())
        if not form.name:
            form.errors["name"] = "Give the passkey a name."
        elif any(ord(ch) < 32 or ord(ch) == 127 for ch in form.name):
            form.errors["name"] = "Use letters, numbers and punctuation only (no line breaks)."
        elif len(form.name) > PASSKEY_NAME_MAX:
            form.errors["name"] = f"Keep it to {PASSKEY_NAME_MAX} characters or fewer."
        return form
