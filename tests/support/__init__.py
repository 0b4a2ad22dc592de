"""Test fixtures: a real PostgreSQL database, the app, an HTTP client, the dev mailbox, an SMTP sink."""
