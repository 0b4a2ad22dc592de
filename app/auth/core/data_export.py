"""Exporting one's data: a job builds a JSON archive, a mailed link downloads it once.

The archive is personal data gathered in one place, so it is guarded like a credential: the link
carries 256 random bits (only the SHA-256 is stored), works once, for `data_export_link_ttl`,
and only for its owner signed in (a link forwarded or caught by a mail scanner opens nothing).
Downloading empties the row in the same transaction that hands the archive out; an unclaimed
archive is emptied when the link expires (`purge_stale_exports`). One export at a time per user.

The core writes what it owns (profile, sign-in methods, sessions, security events, organization
memberships); the host adds its own sections (`AccountAdapter.export_sections`, e.g. projects).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from litestar import Request
from sqlalchemy import delete, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.models import (
    ApiToken,
    AuditEvent,
    AuthSession,
    DataExport,
    Membership,
    OAuthIdentity,
    Organization,
    OrgRole,
    RememberToken,
    TotpCredential,
    TrustedBrowser,
    UserSecurityColumns,
    WebAuthnCredential,
)
from app.auth.core.tokens import new_token, token_digest
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "EXPORT_FORMAT",
    "ExportError",
    "build_export",
    "download_export",
    "live_export",
    "purge_stale_exports",
    "request_export",
)

EXPORT_FORMAT = "gatehouse.data-export/1"
"""The archive's `format`: bump it when a section changes shape."""
EXPORT_ROW_RETENTION = timedelta(days=7)
"""An emptied export row (no archive left in it) is kept this long, then deleted."""
SECURITY_EVENTS_MAX = 5_000
"""Newest security events put in one archive (the audit log itself keeps them for a year)."""


class ExportError(Exception):
    """An export cannot be asked for now; `reason` is `already_requested`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _live(now: datetime) -> Any:
    """An export still on its way (not built yet) or whose link still works."""
    return (DataExport.downloaded_at.is_(None)) & (
        DataExport.expires_at.is_(None) | (DataExport.expires_at > now)
    )


async def live_export(db: AsyncSession, security: Security, user_id: UUID) -> DataExport | None:
    """The user's export in progress or waiting to be downloaded, if any (for the settings page)."""
    return await db.scalar(
        select(DataExport)
        .where(DataExport.user_id == user_id, _live(security.clock.now()))
        .order_by(DataExport.created_at.desc())
        .limit(1)
    )


async def request_export(db: AsyncSession, request: Request[Any, Any, Any]) -> DataExport:
    """Ask for an archive of the signed-in user's data; the host queues `build_export` for the row."""
    security = security_of(request)
    user = await db.get_one(security.users, request.user.id, with_for_update=True)  # one at a time
    if await live_export(db, security, user.id) is not None:
        raise ExportError("already_requested")
    export = DataExport(user_id=user.id)
    db.add(export)
    await db.flush()
    await audit(db, request, "account.export.requested", user_id=user.id, export=str(export.id))
    return export


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _rows(db: AsyncSession, query: Any) -> list[Any]:
    return list((await db.execute(query)).all())


async def core_sections(db: AsyncSession, user: UserSecurityColumns) -> dict[str, Any]:
    """What the core keeps about `user`, as plain JSON (never a secret, digest or sealed value)."""
    uid = user.id
    sessions = await _rows(
        db, select(AuthSession).where(AuthSession.user_id == uid, AuthSession.impersonator_id.is_(None))
    )
    remembered = await _rows(db, select(RememberToken).where(RememberToken.user_id == uid))
    trusted = await _rows(db, select(TrustedBrowser).where(TrustedBrowser.user_id == uid))
    passkeys = await _rows(db, select(WebAuthnCredential).where(WebAuthnCredential.user_id == uid))
    identities = await _rows(db, select(OAuthIdentity).where(OAuthIdentity.user_id == uid))
    tokens = await _rows(db, select(ApiToken).where(ApiToken.user_id == uid))
    totp = await db.scalar(select(TotpCredential.confirmed_at).where(TotpCredential.user_id == uid))
    memberships = await _rows(
        db,
        select(Organization.name, Organization.slug, OrgRole.name.label("role"), Membership.created_at)
        .join(Membership, Membership.org_id == Organization.id)
        .join(OrgRole, OrgRole.id == Membership.role_id)
        .where(Membership.user_id == uid)
        .order_by(Membership.created_at),
    )
    events = await _rows(
        db,
        select(AuditEvent)
        .where(
            or_(
                AuditEvent.actor_id == uid,
                (AuditEvent.target_type == "user") & (AuditEvent.target_id == str(uid)),
            )
        )
        .order_by(AuditEvent.seq.desc())
        .limit(SECURITY_EVENTS_MAX),
    )
    return {
        "profile": {
            "id": str(uid), "email": user.email, "created_at": _when(user.created_at),
            "confirmed_at": _when(user.confirmed_at), "last_sign_in_at": _when(user.last_login_at),
            "password_set": user.password_hash is not None, "password_changed_at": _when(user.password_changed_at),
        },
        "sign_in_methods": {
            "authenticator_app_since": _when(totp),
            "passkeys": [{"name": p.name, "created_at": _when(p.created_at), "last_used_at": _when(p.last_used_at)} for (p,) in passkeys],
            "identity_providers": [{"provider": i.provider, "email": i.email, "linked_at": _when(i.created_at)} for (i,) in identities],
        },
        "sessions": [
            {"device": s.device_label, "ip_address": s.ip_address, "started_at": _when(s.created_at),
             "last_seen_at": _when(s.last_seen_at), "kind": s.kind} for (s,) in sessions
        ],
        "remembered_browsers": [{"device": r.device_label, "expires_at": _when(r.expires_at)} for (r,) in remembered],
        "trusted_browsers": [{"device": t.device_label, "expires_at": _when(t.expires_at)} for (t,) in trusted],
        "api_tokens": [
            {"name": t.name, "id": t.public_id, "scopes": t.scopes, "created_at": _when(t.created_at),
             "expires_at": _when(t.expires_at), "revoked_at": _when(t.revoked_at)} for (t,) in tokens
        ],
        "organization_memberships": [
            {"organization": m.name, "slug": m.slug, "role": m.role, "joined_at": _when(m.created_at)} for m in memberships
        ],
        "security_events": [
            {"at": _when(e.occurred_at), "action": e.action, "outcome": e.outcome, "ip_address": e.ip_address,
             "user_agent": e.user_agent, "details": e.details} for (e,) in events
        ],
    }  # fmt: skip


async def build_export(db: AsyncSession, security: Security, export_id: UUID) -> bool:
    """The job's work: build the archive, issue the link and mail it; False when there is nothing to do.

    Idempotent: a retried job finds the archive already built (or the row gone) and does nothing,
    so the owner never gets two links for one export. The caller commits.
    """
    export = await db.get(DataExport, export_id, with_for_update=True)
    if export is None or export.ready_at is not None:
        return False
    user = await db.get_one(security.users, export.user_id)
    if not user.can_sign_in:
        await db.delete(export)  # disabled or deleted since asking: nobody could download it
        return False
    archive = {
        "format": EXPORT_FORMAT,
        "generated_at": security.clock.now().isoformat(),
        **await core_sections(db, user),
        **await security.adapter.export_sections(db, user),
    }
    token = new_token(security.policy.email_token_bytes)
    now = security.clock.now()
    export.archive = archive
    export.token_hash = token_digest(token)
    export.ready_at = now
    export.expires_at = now + security.policy.data_export_link_ttl
    context = {
        "download_link": security.link("data_export", token),
        "link_lifetime": security.policy.data_export_link_ttl,
    }
    security.adapter.send_mail(db, to=user.email, template="data_export_ready", context=context)
    return True


async def download_export(
    db: AsyncSession, request: Request[Any, Any, Any], token: str
) -> dict[str, Any] | None:
    """Hand out the signed-in user's archive for this link, once; None when the link does not work.

    The row is locked, checked and emptied in this transaction, so of two downloads racing each
    other only one gets the archive (the other finds it downloaded once the first commits).
    """
    security = security_of(request)
    now = security.clock.now()
    if not token or len(token) > 100:
        return None
    export = await db.scalar(
        select(DataExport)
        .where(
            DataExport.token_hash == token_digest(token),
            DataExport.user_id == request.user.id,
            DataExport.downloaded_at.is_(None),
            DataExport.expires_at > now,
            DataExport.archive.is_not(None),
        )
        .with_for_update()
    )
    if export is None:
        await audit(db, request, "account.export.refused", outcome="failure", user_id=request.user.id)
        return None
    archive = export.archive
    export.archive = null()
    export.downloaded_at = now
    await audit(db, request, "account.export.downloaded", user_id=request.user.id, export=str(export.id))
    return archive


async def purge_stale_exports(db: AsyncSession, now: datetime) -> int:
    """Empty archives whose link expired, and delete rows emptied more than a week ago (periodic)."""
    emptied = await db.execute(
        update(DataExport)
        .where(DataExport.archive.is_not(None), DataExport.expires_at <= now)
        .values(archive=null())
        .execution_options(synchronize_session=False)
    )
    await db.execute(
        delete(DataExport).where(
            DataExport.archive.is_(None),
            or_(
                DataExport.downloaded_at <= now - EXPORT_ROW_RETENTION,
                DataExport.expires_at <= now - EXPORT_ROW_RETENTION,
            ),
        )
    )
    return int(emptied.rowcount or 0)  # type: ignore[attr-defined]
