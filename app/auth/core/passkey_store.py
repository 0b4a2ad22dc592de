"""A user's passkeys as rows: list, rename, remove, and what adding or removing one sets off.

Adding or removing a passkey changes how the account can be entered, so it is treated like any
factor change [24]: it is audited, the owner is mailed [93], every other session is signed out
and every trusted browser forgotten (someone who slipped in before the change must not stay in).
The routes require sudo for each of these [28][55][58].

A passkey cannot be removed when it is the last way in: an account without a password whose only
passkey it is [58]. Removing the only *second* factor of an account that has a password is
allowed (it is like turning two-step verification off, under sudo).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from litestar import Request
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core import backup_codes
from app.auth.core.audit_log import audit
from app.auth.core.models import UserSecurityColumns, WebAuthnCredential
from app.auth.core.notices import notify_mfa_changed
from app.auth.core.passkey_challenges import PasskeyRefused
from app.auth.core.passkey_names import NAME_MAX
from app.auth.core.passkeys import finish_registration
from app.auth.core.second_factor import factors_of
from app.auth.core.session_store import end_other_sessions

__all__ = ("add_passkey", "list_passkeys", "remove_passkey", "rename_passkey")


async def list_passkeys(db: AsyncSession, user_id: UUID) -> list[WebAuthnCredential]:
    """The user's passkeys, oldest first (one statement)."""
    query = (
        select(WebAuthnCredential)
        .where(WebAuthnCredential.user_id == user_id)
        .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)
    )
    return list((await db.scalars(query)).all())


async def _factor_changed(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, change: str, name: str
) -> int:
    """Audit, mail the owner, sign out the other sessions, forget trusted browsers [24]."""
    action = "auth.passkey.added" if change == "passkey_added" else "auth.passkey.removed"
    await audit(db, request, action, user_id=user.id, name=name)
    notify_mfa_changed(db, request, user, change, name=name)
    return await end_other_sessions(db, user.id, keep=request.auth.id, forget_trusted_browsers=True)


async def add_passkey(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, response: Mapping[str, Any]
) -> WebAuthnCredential:
    """Register the passkey `response` (to `passkeys.registration_options`) creates, for `user`.

    Raises `PasskeyRefused` when the response does not verify [55]; otherwise the change is
    recorded like any factor change [24].
    """
    passkey = await finish_registration(db, request, user, response)
    await _factor_changed(db, request, user, "passkey_added", passkey.name)
    return passkey


async def rename_passkey(
    db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID, passkey_id: UUID, name: str
) -> bool:
    """Give one of the user's passkeys a new name (already checked by the form). True if it was theirs."""
    renamed = await db.execute(
        update(WebAuthnCredential)
        .where(WebAuthnCredential.id == passkey_id, WebAuthnCredential.user_id == user_id)
        .values(name=name[:NAME_MAX])
        .returning(WebAuthnCredential.id)
        .execution_options(synchronize_session=False)
    )
    if renamed.first() is None:
        return False
    await audit(db, request, "auth.passkey.renamed", user_id=user_id, passkey_id=str(passkey_id))
    return True


async def remove_passkey(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, passkey_id: UUID
) -> str | None:
    """Delete one of the user's passkeys; its name, or None if it is not theirs.

    Raises `PasskeyRefused("last_way_in")` for the only passkey of an account without a password
    [58]. The user's row is locked first, so two removals at once cannot both pass that check.
    """
    await db.refresh(user, with_for_update=True)
    passkeys = await list_passkeys(db, user.id)
    target = next((passkey for passkey in passkeys if passkey.id == passkey_id), None)
    if target is None:
        return None
    if user.password_hash is None and len(passkeys) == 1:
        raise PasskeyRefused("last_way_in")
    await db.delete(target)
    await db.flush()
    if not (await factors_of(db, user.id)).required:
        # Backup codes back up a second factor: with none left they go too, as when the app is removed.
        await backup_codes.remove_codes(db, user.id)
    await _factor_changed(db, request, user, "passkey_removed", target.name)
    return target.name
