"""Who may call which organization route: the expected status per role [68].

One row per (method, route template) under `/o/{org_slug}/`. `test_authorization_matrix.py`
enumerates the app's route table, so a new org route without a row here fails the build: add
the row when you add the route. Columns:

- `anonymous`: not signed in (sent to sign in: 303);
- `viewer`: a member whose custom role has no permissions;
- `member`, `admin`, `owner`: the built-in roles (see `BUILTIN_ROLES`);
- `other_owner`: the owner of another organization (404: the org looks like it does not exist).

Success statuses are what a browser gets: 200 for a page, 303 for a form answered with a redirect.
"""

from __future__ import annotations

ROLES = ("anonymous", "viewer", "member", "admin", "owner", "other_owner")

PAGE = {"anonymous": 303, "viewer": 200, "member": 200, "admin": 200, "owner": 200, "other_owner": 404}
"""Any member may see it."""
WRITE_PAGE = {"anonymous": 303, "viewer": 403, "member": 200, "admin": 200, "owner": 200, "other_owner": 404}
"""Needs `projects:write` (every built-in role holds it)."""
WRITE_FORM = {"anonymous": 303, "viewer": 403, "member": 303, "admin": 303, "owner": 303, "other_owner": 404}
"""A form that needs `projects:write`, answered with a redirect."""
AUDIT_PAGE = {"anonymous": 303, "viewer": 403, "member": 403, "admin": 200, "owner": 200, "other_owner": 404}
"""Needs `audit:read` (admins and owners)."""

MANAGERS_ONLY = {"anonymous": 303, "viewer": 403, "member": 403, "other_owner": 404}
"""The refusals of a page for `tokens:manage` or `org:settings` (admins and owners)."""
TOKENS_PAGE = {**MANAGERS_ONLY, "admin": 200, "owner": 200}
TOKENS_CREATE = {**MANAGERS_ONLY, "admin": 201, "owner": 201}
"""Makes a token from the form (its name) and shows it once (201)."""
MANAGERS_MISSING = {**MANAGERS_ONLY, "admin": 404, "owner": 404}
"""A manager's route about a token or endpoint that is not there (the matrix uses a project's id)."""
WEBHOOKS_CREATE = {**MANAGERS_ONLY, "admin": 422, "owner": 422}
"""The matrix form has no address: the form comes back with the error."""

MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/o/{org_slug:str}/projects"): PAGE,
    ("POST", "/o/{org_slug:str}/projects"): WRITE_FORM,
    ("GET", "/o/{org_slug:str}/projects/new"): WRITE_PAGE,
    ("GET", "/o/{org_slug:str}/projects/{project_id:uuid}"): PAGE,
    ("POST", "/o/{org_slug:str}/projects/{project_id:uuid}"): WRITE_FORM,
    ("GET", "/o/{org_slug:str}/projects/{project_id:uuid}/edit"): WRITE_PAGE,
    ("POST", "/o/{org_slug:str}/projects/{project_id:uuid}/archive"): WRITE_FORM,
    ("POST", "/o/{org_slug:str}/projects/{project_id:uuid}/unarchive"): WRITE_FORM,
    ("GET", "/o/{org_slug:str}/projects/{project_id:uuid}/delete"): WRITE_PAGE,
    ("POST", "/o/{org_slug:str}/projects/{project_id:uuid}/delete"): WRITE_FORM,
    ("GET", "/o/{org_slug:str}/audit"): AUDIT_PAGE,
    ("POST", "/o/{org_slug:str}/audit/export"): AUDIT_PAGE,
    ("GET", "/o/{org_slug:str}/tokens"): TOKENS_PAGE,
    ("POST", "/o/{org_slug:str}/tokens"): TOKENS_CREATE,
    ("POST", "/o/{org_slug:str}/tokens/{token_id:uuid}/revoke"): MANAGERS_MISSING,
    ("GET", "/o/{org_slug:str}/webhooks"): TOKENS_PAGE,
    ("POST", "/o/{org_slug:str}/webhooks"): WEBHOOKS_CREATE,
    ("GET", "/o/{org_slug:str}/webhooks/{endpoint_id:uuid}"): MANAGERS_MISSING,
    ("POST", "/o/{org_slug:str}/webhooks/{endpoint_id:uuid}/rotate"): MANAGERS_MISSING,
    ("POST", "/o/{org_slug:str}/webhooks/{endpoint_id:uuid}/toggle"): MANAGERS_MISSING,
    (
        "POST",
        "/o/{org_slug:str}/webhooks/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/redeliver",
    ): MANAGERS_MISSING,
}
