"""Passkeys: register and manage them, sign in with one, use one as the second factor or for sudo."""

from __future__ import annotations

from litestar import Controller


class PasskeyController(Controller):
    """The passkey pages and their WebAuthn ceremonies."""

    include_in_schema = False
