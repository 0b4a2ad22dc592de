"""The cross-cutting web layer: security headers, errors, flash messages, htmx helpers, templates."""
