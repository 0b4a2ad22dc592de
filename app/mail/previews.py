"""Sample data for every mail template, so /dev/mail-previews can show each one as it will look.

When you add a template to `templates/emails/`, add its sample here; a test fails until you do.
"""

from __future__ import annotations

from typing import Any

_BASE = "http://localhost:8000"
_WHERE = {
    "when": "26 November 2026 at 14:05 UTC",
    "device": "Firefox on macOS",
    "ip_address": "203.0.113.7",
    "reset_link": f"{_BASE}/forgot-password",
    "sessions_link": f"{_BASE}/settings/sessions",
    "security_link": f"{_BASE}/settings/security",
}

SAMPLES: dict[str, dict[str, Any]] = {
    "test_message": {},
    "confirm_email": {
        "link": f"{_BASE}/confirm-email?token=SAMPLE-TOKEN",
        "code": "482913",
        "code_lifetime": "10 minutes",
        "link_lifetime": "24 hours",
        "resent": False,
    },
    # --- feature: orgs
    "org_invitation": {
        "org_name": "Acme",
        "inviter": "Ada Lovelace",
        "role_name": "Member",
        "link": f"{_BASE}/invitations/accept?token=SAMPLE-TOKEN",
        "lifetime": "7 days",
    },
    # --- end feature: orgs
    "registration_attempt": {"sign_in_link": f"{_BASE}/login", "reset_link": f"{_BASE}/forgot-password"},
    "reset_password": {"link": f"{_BASE}/reset-password?token=SAMPLE-TOKEN", "lifetime": "1 hour"},
    "magic_link": {
        "link": f"{_BASE}/login/email/link?token=SAMPLE-TOKEN",
        "code": "482913",
        "lifetime": "10 minutes",
    },
    "password_changed": {**_WHERE, "how": "changed"},
    "new_sign_in": dict(_WHERE),
    "email_changed": {**_WHERE, "new_email": "ada.lovelace@example.org"},
    "email_change_confirm": {
        "link": f"{_BASE}/settings/email/confirm?token=SAMPLE-TOKEN",
        "link_lifetime": "24 hours",
    },
    "email_change_requested": {
        **_WHERE,
        "new_email": "ada.lovelace@example.org",
        "link_lifetime": "24 hours",
    },
    "email_in_use": {"sign_in_link": f"{_BASE}/login", "reset_link": f"{_BASE}/forgot-password"},
    "mfa_changed": {**_WHERE, "change": "totp_enabled", "name": "", "others_signed_out": True},
    "backup_code_used": {**_WHERE, "remaining": 2},
    "mfa_locked": {**_WHERE, "lock_duration": "15 minutes"},
    "oauth_changed": {**_WHERE, "change": "linked", "provider": "GitHub"},
    # --- feature: api
    "api_token_created": {
        **_WHERE,
        "token_name": "deploy script",
        "public_id": "a1b2c3d4",
        "org_name": "",
        "scopes": ["projects:write"],
        "expires": "1 March 2027",
        "tokens_link": f"{_BASE}/settings/tokens",
    },
    # --- end feature: api
    # --- feature: webhooks
    "webhook_disabled": {"url": "https://hooks.example.com/gatehouse", "since": "28 November 2026"},
    # --- end feature: webhooks
    "support_access": {"minutes": 30, "security_link": f"{_BASE}/settings/security"},
    "org_ownership_transferred": {"org_name": "Acme Corporation", "org_link": f"{_BASE}/o/acme/members"},
    "account_deletion_scheduled": {
        **_WHERE,
        "purge_after": "10 December 2026",
        "cancel_link": f"{_BASE}/account/deletion/cancel?token=SAMPLE-TOKEN",
    },
    "account_restored": dict(_WHERE),
    "data_export_ready": {
        "download_link": f"{_BASE}/settings/account/export/download?token=SAMPLE-TOKEN",
        "link_lifetime": "24 hours",
    },
}
"""Template name → context used for its preview."""


def sample(template: str) -> dict[str, Any]:
    """The preview context of `template` (KeyError when it has none yet)."""
    return SAMPLES[template]
