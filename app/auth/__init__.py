"""Accounts and sign-in (host-owned code on top of the security core in `app.auth.core`)."""
