"""Gatehouse security core: upstream-owned primitives that forks update by cherry-picking releases.

This package never imports the rest of `app`; the host passes in what it needs.
"""
