"""Gatehouse: a forkable Litestar + htmx app with real authentication on a versioned security core."""
