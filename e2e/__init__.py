"""Playwright end-to-end tests: a real browser against a real Granian server process."""
