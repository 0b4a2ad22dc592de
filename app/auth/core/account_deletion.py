"""Deleting an account: at once disabled, purged after a grace period, restorable until then [23].

- **Request** (`request_deletion`, the owner, under sudo, typing their address): every way in ends
  at once (sessions, remember-me, trusted browsers, pending sign-ins, personal API tokens, unused
  mailed links; see `account_state.revoke_access`), nothing signs in (`can_sign_in`), and the
  purge is due after `account_deletion_grace`. Organizations the owner is the last owner of and
  that have other members must first be handed to another member or deleted (one choice each);
  organizations nobody else is in go with the account at the purge, so a restore brings them back.
  The owner is mailed a link back (`Purpose.CANCEL_DELETION`); it only leads to signing in.
- **Restore by the owner**: the password step sees a restorable account (deleted by its owner),
  asks for the second factor as usual, and only then offers the restore (`restore_step`); the
  browser accepts it with a POST, and the session starts. A leaked password alone, or the mailed
  link alone, brings nothing back.
- **Administrators** delete (same grace period, no link back: only an administrator restores
  such an account) and restore, with a typed reason, never another administrator or themselves.
- **Purge** (`purge_due_accounts`, a periodic job): the user row is deleted, and with it, by
  foreign keys, every row that is theirs; rows that belong to others keep a NULL in place of the
  user. The audit log is append-only and hash-chained: its events keep the user's id, which names
  nobody once the row is gone (docs/account-lifecycle.md lists every table).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from litestar import Request, Response
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.core.account_state import AccountActionError, admin_target, reason_text, revoke_access
from app.auth.core.audit import AuditRecord
from app.auth.core.audit_log import audit, record_event
from app.auth.core.identity import InvalidEmail, canonical_email
from app.auth.core.mail_tokens import Purpose, find_live_token, issue_email_token, retire_tokens, spend_token
from app.auth.core.models import (
    DataExport,
    Membership,
    Organization,
    OrgRole,
    PendingLogin,
    UserSecurityColumns,
)
from app.auth.core.notices import notice_context
from app.auth.core.orgs import OWNER_ROLE_ID, OrgContext, change_role, delete_org
from app.auth.core.second_factor import clear_pre_session_cookie
from app.auth.core.sessions import SessionKind
from app.auth.core.signin import sign_user_in
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "DeletionError",
    "OrgHandover",
    "admin_delete_account",
    "admin_restore_account",
    "cancel_link_user",
    "purge_due_accounts",
    "request_deletion",
    "restore_by_owner",
    "sole_owned_orgs",
    "spend_cancel_link",
)

log = structlog.get_logger(__name__)


class DeletionError(Exception):
    """The deletion cannot go ahead; `reason` says why (`confirm_mismatch`, `org_choice_required`...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OrgHandover:
    """An organization the user is the last owner of, and the members who could own it instead."""

    org_id: UUID
    name: str
    slug: str
    members: tuple[tuple[UUID, str], ...]
    """(membership id, email) of every other member, oldest first."""

    @property
    def shared(self) -> bool:
        """Someone else is in it: it needs a new owner or must be deleted before the account goes."""
        return bool(self.members)


async def sole_owned_orgs(db: AsyncSession, security: Security, user_id: UUID) -> list[OrgHandover]:
    """The organizations `user_id` owns with no other owner, with their other members (two statements)."""
    owners = (
        select(Membership.org_id, func.count().label("owners"))
        .where(Membership.role_id == OWNER_ROLE_ID)
        .group_by(Membership.org_id)
        .subquery()
    )
    orgs = (
        await db.execute(
            select(Organization.id, Organization.name, Organization.slug)
            .join(Membership, (Membership.org_id == Organization.id) & (Membership.user_id == user_id))
            .join(owners, owners.c.org_id == Organization.id)
            .where(Membership.role_id == OWNER_ROLE_ID, owners.c.owners == 1)
            .order_by(Organization.name)
        )
    ).all()
    if not orgs:
        return []
    users = security.users
    others = (
        await db.execute(
            select(Membership.org_id, Membership.id, users.email)
            .join(users, users.id == Membership.user_id)
            .where(Membership.org_id.in_([org.id for org in orgs]), Membership.user_id != user_id)
            .order_by(Membership.created_at)
        )
    ).all()
    return [
        OrgHandover(
            org.id,
            org.name,
            org.slug,
            tuple((row.id, row.email) for row in others if row.org_id == org.id),
        )
        for org in orgs
    ]


async def _owner_context(db: AsyncSession, user_id: UUID, org_id: UUID) -> OrgContext:
    """The owner's `OrgContext` for an organization, as the org pages would build it."""
    row = (
        await db.execute(
            select(Organization, Membership.id.label("membership_id"), OrgRole)
            .join(Membership, (Membership.org_id == Organization.id) & (Membership.user_id == user_id))
            .join(OrgRole, OrgRole.id == Membership.role_id)
            .where(Organization.id == org_id)
        )
    ).one()
    org, role = row.Organization, row.OrgRole
    return OrgContext(
        org_id=org.id, slug=org.slug, name=org.name, personal=org.personal,
        membership_id=row.membership_id, user_id=user_id, role_id=role.id, role_key=role.key,
        role_name=role.name, permissions=frozenset(role.permissions), require_mfa=org.require_mfa,
        allowed_sign_in=tuple(org.allowed_sign_in), session_max_age=org.session_max_age,
        domain_join=org.domain_join,
    )  # fmt: skip


async def _hand_over(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    user: UserSecurityColumns,
    orgs: list[OrgHandover],
    choices: Mapping[UUID, UUID | None],
) -> None:
    """Carry out the owner's choice for each shared organization: a new owner, or deletion now.

    Every choice is checked before any is carried out, so a form missing one changes nothing.
    Organizations nobody else is in wait for the purge (and come back with a restore).
    """
    shared = [org for org in orgs if org.shared]
    for org in shared:
        choice = choices.get(org.org_id, org.org_id)  # absent: not None (delete), not a member either
        if choice is not None and choice not in {membership_id for membership_id, _ in org.members}:
            raise DeletionError("org_choice_required")
    for org in shared:
        ctx = await _owner_context(db, user.id, org.org_id)
        new_owner = choices[org.org_id]
        if new_owner is None:
            await delete_org(db, ctx)
            await audit(
                db, request, "org.deleted", actor_id=user.id, org_id=org.org_id, slug=org.slug,
                reason="account_deleted",
            )  # fmt: skip
            continue
        member = await change_role(db, ctx, new_owner, OWNER_ROLE_ID)
        await audit(
            db, request, "org.member.role_changed", actor_id=user.id, org_id=org.org_id,
            target_type="user", target_id=str(member.user_id), role_id=str(OWNER_ROLE_ID),
            reason="account_deleted",
        )  # fmt: skip


async def _schedule(db: AsyncSession, security: Security, user: UserSecurityColumns, *, by: UUID) -> datetime:
    """Mark the account deleted and take every way in away; the purge date."""
    now = security.clock.now()
    user.deletion_requested_at = now
    user.deletion_requested_by = by
    user.purge_after = now + security.policy.account_deletion_grace
    await revoke_access(db, security, user.id)
    # An export on its way or waiting for its download is personal data nobody can fetch any more.
    await db.execute(delete(DataExport).where(DataExport.user_id == user.id))
    return user.purge_after


def _unschedule(user: UserSecurityColumns) -> None:
    user.deletion_requested_at = None
    user.deletion_requested_by = None
    user.purge_after = None


async def request_deletion(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    *,
    confirm_email: str,
    org_choices: Mapping[UUID, UUID | None],
) -> datetime:
    """The signed-in owner deletes their account (the host asks for sudo); the purge date.

    `confirm_email` is the address as typed to confirm; `org_choices` maps each shared
    organization the user is the last owner of to the membership id of its new owner, or None to
    delete it now. The caller signs this browser out (its session is already gone).
    """
    security = security_of(request)
    user = await db.get_one(security.users, request.user.id, with_for_update=True)
    try:
        typed = canonical_email(confirm_email)
    except InvalidEmail:
        typed = ""
    if typed != user.email_canonical:
        raise DeletionError("confirm_mismatch")
    await _hand_over(db, request, user, await sole_owned_orgs(db, security, user.id), org_choices)
    purge_after = await _schedule(db, security, user, by=user.id)
    issued = await issue_email_token(
        db, security, user=user, purpose=Purpose.CANCEL_DELETION, email=user.email
    )
    context = notice_context(
        request,
        security,
        purge_after=purge_after.strftime("%d %B %Y"),
        cancel_link=security.link("cancel_deletion", issued.token),
    )
    security.adapter.send_mail(db, to=user.email, template="account_deletion_scheduled", context=context)
    await audit(
        db, request, "account.deletion.requested", user_id=user.id, purge_after=purge_after.isoformat()
    )
    return purge_after


# --- the link back


async def cancel_link_user(db: AsyncSession, security: Security, token: str) -> UserSecurityColumns | None:
    """The restorable account a live cancel link belongs to, without spending it (for its page)."""
    row = await find_live_token(db, security, token, Purpose.CANCEL_DELETION)
    if row is None:
        return None
    user = await db.get(security.users, row.user_id)
    return user if user is not None and user.owner_may_restore else None


async def spend_cancel_link(db: AsyncSession, security: Security, token: str) -> UserSecurityColumns | None:
    """Use the cancel link once; the account's owner must then sign in to restore it.

    The link proves only that someone reads the mailbox, so it grants nothing: it restores nothing
    and starts no session (a forwarded or leaked mail cannot undo a deletion). It is single use
    like every mailed link, and dies with the restore or the purge.
    """
    row = await spend_token(db, security, token, Purpose.CANCEL_DELETION)
    if row is None:
        return None
    user = await db.get(security.users, row.user_id)
    return user if user is not None and user.owner_may_restore else None


# --- restore


async def _restored(db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns) -> None:
    security = security_of(request)
    _unschedule(user)
    await retire_tokens(db, security, user.id, Purpose.CANCEL_DELETION)
    security.adapter.send_mail(
        db, to=user.email, template="account_restored", context=notice_context(request, security)
    )


async def restore_by_owner(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    response: Response[Any],
    pending: PendingLogin,
) -> UserSecurityColumns | None:
    """Accept the restore offer: the account is back and this browser signed in.

    `pending` must be the browser's pre-session, loaded locked, after both factors (`restore_step`
    is `ready`); None when it is not, or the account is no longer restorable.
    """
    security = security_of(request)
    if pending.restore_step != "ready" or security.clock.now() >= pending.expires_at:
        return None
    user = await db.get(security.users, pending.user_id, with_for_update=True)
    if user is None or not user.owner_may_restore:
        return None
    await db.execute(delete(PendingLogin).where(PendingLogin.id == pending.id))
    clear_pre_session_cookie(response, security)
    await _restored(db, request, user)
    await audit(db, request, "account.deletion.cancelled", user_id=user.id, by="owner")
    await sign_user_in(
        db, request, response, user, kind=SessionKind(pending.method), remember=pending.remember
    )
    return user


async def admin_delete_account(
    db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID, reason: str
) -> datetime:
    """An administrator deletes an account (same grace period; only an administrator restores it).

    Refused while the user is the last owner of an organization others are in: its ownership
    must move first (the owner's own deletion asks them; an administrator cannot choose for them).
    """
    why = reason_text(reason)
    security = security_of(request)
    user = await admin_target(db, request, user_id)
    if user.awaits_purge:
        raise AccountActionError("already_deleted")
    if any(org.shared for org in await sole_owned_orgs(db, security, user.id)):
        raise AccountActionError("owns_shared_org")
    purge_after = await _schedule(db, security, user, by=request.user.id)
    await audit(
        db, request, "admin.user.deleted", actor_id=request.user.id, user_id=user.id, reason=why,
        purge_after=purge_after.isoformat(),
    )  # fmt: skip
    return purge_after


async def admin_restore_account(
    db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID, reason: str
) -> None:
    """An administrator restores a deleted account before its purge (its owner signs in again)."""
    why = reason_text(reason)
    user = await admin_target(db, request, user_id)
    if not user.awaits_purge:
        raise AccountActionError("not_deleted")
    await _restored(db, request, user)
    await audit(db, request, "admin.user.restored", actor_id=request.user.id, user_id=user.id, reason=why)


# --- purge


async def _purge_one(db: AsyncSession, security: Security, user_id: UUID, now: datetime) -> bool:
    """Purge one due account in `db`'s transaction; False when it is not due (any more) or blocked."""
    users = security.users
    user = await db.scalar(
        select(users).where(users.id == user_id, users.purge_after <= now).with_for_update(skip_locked=True)
    )
    if user is None:
        return False
    orgs = await sole_owned_orgs(db, security, user.id)
    if any(org.shared for org in orgs):
        # Someone joined, or the other owner left, during the grace period: deleting the row would
        # leave an organization without an owner. An administrator must decide; try again later.
        log.warning(
            "account.purge.blocked", user_id=str(user.id), orgs=[str(o.org_id) for o in orgs if o.shared]
        )
        return False
    for org in orgs:
        # Their grace was the account's: dated back by the organizations' own grace, the next
        # organization purge (hourly, with the host's hooks for what the org owns) removes them.
        await delete_org(
            db, await _owner_context(db, user.id, org.org_id), now=now - security.policy.org_deletion_grace
        )
    await db.execute(delete(users).where(users.id == user.id))
    record = AuditRecord(
        occurred_at=now, action="account.purged", outcome="success", target_type="user",
        target_id=str(user.id), details={"orgs_deleted": len(orgs)},
    )  # fmt: skip
    await record_event(db, record, max_detail_bytes=security.policy.audit_metadata_max_bytes)
    return True


async def purge_due_accounts(engine: AsyncEngine, security: Security, *, limit: int = 100) -> int:
    """The periodic purge: each account past its grace period in its own transaction; how many went.

    Idempotent: a purged account has no row left to find, and one purged by another worker at
    the same moment is skipped (`SKIP LOCKED`), so overlapping runs do not collide.
    """
    now = security.clock.now()
    users = security.users
    async with AsyncSession(engine) as db:
        due = (
            await db.scalars(
                select(users.id).where(users.purge_after <= now).order_by(users.purge_after).limit(limit)
            )
        ).all()
    purged = 0
    for user_id in due:
        async with AsyncSession(engine, expire_on_commit=False) as db:
            if await _purge_one(db, security, user_id, now):
                purged += 1
            await db.commit()
    return purged
