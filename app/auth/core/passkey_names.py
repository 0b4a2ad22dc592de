"""What to call a new passkey before its owner names it: the authenticator's make, when we know it.

Every authenticator model carries an AAGUID (a 128-bit model identifier) in its registration. The
big passkey providers publish theirs, so "iCloud Keychain" or "1Password" is usually a better first
name than anything the user would type. The table below is data, not code: a fork adds rows. An
unknown AAGUID (security keys with attestation "none" often send all zeros) falls back to
"Passkey on <device>", from the browser the passkey was added in.

The AAGUIDs are the ones the providers publish (as collected by the community list
passkeydeveloper/passkey-authenticator-aaguids).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ("KNOWN_AUTHENTICATORS", "NAME_MAX", "default_name")

NAME_MAX = 64
"""The longest passkey name (the `webauthn_credentials.name` column)."""

KNOWN_AUTHENTICATORS: Mapping[str, str] = {
    "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
    "adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
    "b5397666-4885-aa6b-cebf-e52262a439a2": "Chromium browser",
    "771b48fd-d3d4-4f74-9232-fc157ab0507a": "Edge on Mac",
    "08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
    "9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
    "6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
    "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
    "dd4ec289-e01d-41c9-bb89-70fa845d4bf2": "iCloud Keychain (managed)",
    "bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
    "d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
    "531126d6-e717-415c-9320-3d9aa6981239": "Dashlane",
    "b84e4048-15dc-4dd0-8640-f4f60813c8af": "NordPass",
    "0ea242b4-43c4-4a1b-8b17-dd6d0b6baec6": "Keeper",
    "f3809540-7f14-49c1-a8b3-8f813b225541": "Enpass",
    "b78a0a55-6ef8-d246-a042-ba0f6d55050c": "LastPass",
    "fdb141b2-5d84-443e-8a35-4698c205a502": "KeePassXC",
    "50726f74-6f6e-5061-7373-50726f746f6e": "Proton Pass",
    "53414d53-554e-4700-0000-000000000000": "Samsung Pass",
}
"""AAGUID (lower-case, with dashes) → the name its maker gives it."""


def default_name(aaguid: str, device_label: str) -> str:
    """The authenticator's name when its AAGUID is known, else "Passkey on <device>"."""
    known = KNOWN_AUTHENTICATORS.get(aaguid.lower())
    if known is not None:
        return known
    return f"Passkey on {device_label or 'an unknown device'}"[:NAME_MAX]
