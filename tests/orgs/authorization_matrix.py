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


def needs(allowed: dict[str, int], *, admin: int, owner: int | None = None) -> dict[str, int]:
    """A route for the roles in `allowed`'s success: `admin` and `owner` get these statuses (the
    handler's own answer: 303 done, 404 no such object, 422 a form that needs more), everyone
    else of the organization 403."""
    return {
        **allowed,
        "viewer": 403,
        "member": 403,
        "admin": admin,
        "owner": admin if owner is None else owner,
    }


OWNER_ONLY = {"anonymous": 303, "viewer": 403, "member": 403, "admin": 403, "other_owner": 404}
"""Needs `org:delete` (owners), with sudo (fresh here: everyone has just signed in)."""

MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/o/{org_slug:str}"): PAGE,
    ("GET", "/o/{org_slug:str}/members"): PAGE,
    # Leaving works for everyone but the only owner (409); the matrix test gives the membership back.
    ("POST", "/o/{org_slug:str}/members/leave"): {
        **PAGE,
        "viewer": 303,
        "member": 303,
        "admin": 303,
        "owner": 409,
    },
    # The ids in these paths are a project's: no such member or invitation (404), once allowed.
    ("POST", "/o/{org_slug:str}/members/{membership_id:uuid}/role"): needs(PAGE, admin=422),  # no role chosen
    ("POST", "/o/{org_slug:str}/members/{membership_id:uuid}/remove"): needs(PAGE, admin=404),
    ("POST", "/o/{org_slug:str}/members/{membership_id:uuid}/transfer"): {**OWNER_ONLY, "owner": 404},
    ("POST", "/o/{org_slug:str}/invitations"): needs(PAGE, admin=422),  # no address given
    ("POST", "/o/{org_slug:str}/invitations/{invitation_id:uuid}/resend"): needs(PAGE, admin=404),
    ("POST", "/o/{org_slug:str}/invitations/{invitation_id:uuid}/revoke"): needs(PAGE, admin=404),
    ("GET", "/o/{org_slug:str}/settings"): needs(PAGE, admin=200),
    ("POST", "/o/{org_slug:str}/settings/name"): needs(PAGE, admin=303),
    ("POST", "/o/{org_slug:str}/settings/slug"): needs(PAGE, admin=422),  # no address given
    ("POST", "/o/{org_slug:str}/settings/security"): needs(PAGE, admin=303),
    ("POST", "/o/{org_slug:str}/settings/delete"): {**OWNER_ONLY, "owner": 422},  # the slug not typed
    ("GET", "/o/{org_slug:str}/roles"): needs(PAGE, admin=200),
    ("POST", "/o/{org_slug:str}/roles"): needs(PAGE, admin=303),
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
    # Domains need `domains:manage` (admins and owners); the form carries no domain (422), the ids
    # are a project's (404).
    ("GET", "/o/{org_slug:str}/domains"): needs(PAGE, admin=200),
    ("POST", "/o/{org_slug:str}/domains"): needs(PAGE, admin=422),
    ("POST", "/o/{org_slug:str}/domains/{domain_id:uuid}/verify"): needs(PAGE, admin=404),
    ("POST", "/o/{org_slug:str}/domains/{domain_id:uuid}/remove"): needs(PAGE, admin=404),
    ("POST", "/o/{org_slug:str}/domains/joining"): needs(PAGE, admin=422),  # no choice made
    ("GET", "/o/{org_slug:str}/audit"): AUDIT_PAGE,
    ("POST", "/o/{org_slug:str}/audit/export"): AUDIT_PAGE,
    ("GET", "/o/{org_slug:str}/tokens"): needs(PAGE, admin=200),
    ("POST", "/o/{org_slug:str}/tokens"): needs(PAGE, admin=201),  # made from the form's name, shown once
    ("POST", "/o/{org_slug:str}/tokens/{token_id:uuid}/revoke"): needs(PAGE, admin=404),
    ("GET", "/o/{org_slug:str}/webhooks"): needs(PAGE, admin=200),
    ("POST", "/o/{org_slug:str}/webhooks"): needs(PAGE, admin=422),  # no address given
    ("GET", "/o/{org_slug:str}/webhooks/{endpoint_id:uuid}"): needs(PAGE, admin=404),
    ("POST", "/o/{org_slug:str}/webhooks/{endpoint_id:uuid}/rotate"): needs(PAGE, admin=404),
    ("POST", "/o/{org_slug:str}/webhooks/{endpoint_id:uuid}/toggle"): needs(PAGE, admin=404),
    (
        "POST",
        "/o/{org_slug:str}/webhooks/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/redeliver",
    ): needs(PAGE, admin=404),
}
