"""Tests of the audit log against a real PostgreSQL."""
