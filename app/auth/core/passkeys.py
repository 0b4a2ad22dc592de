"""Passkeys (WebAuthn): the ceremonies that register one, and that sign in or step up with one.

Every ceremony has two halves. *Options* store a fresh challenge for this ceremony, bound to the
session, the pre-session or (usernameless sign-in) a nonce in the browser, and tell the browser
what to do. *Finishing* spends that challenge first (deleted and committed: single use, 5 min,
only where it was issued; see `passkey_challenges`) [54], then verifies the response.

The relying party is the configured site: the RP id and the origin come from `BASE_URL` through
`Security`, never from the request, and py_webauthn checks both, with the ceremony type, user
presence and user verification, which is always required because a passkey stands for both
factors [55][56]. What py_webauthn leaves to the relying party is done here [55]: only ES256,
EdDSA and RS256 keys; a credential id of at most 1023 bytes that no account, this one or another,
has already; at most `max_passkeys_per_user` per account.

At sign-in the credential is looked up by its id, and its owner must be the account the ceremony
is about: the one named by the response's user handle (usernameless sign-in) or the one signing
in or stepping up (second factor, sudo) [56]. The owner must be active and confirmed. A
signature counter that did not move forward means a cloned authenticator: refused and recorded
as `auth.passkey.sign_count_regressed` [56].

Usernameless sign-in sends no `allowCredentials`, so its options say nothing about any account;
the user handle is 64 random bytes made at the first registration, not the id or the email [57].
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from litestar import Request
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import (
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.auth.core.audit_log import audit
from app.auth.core.models import UserSecurityColumns, WebAuthnCredential
from app.auth.core.passkey_challenges import (
    Ceremony,
    PasskeyRefused,
    issue_challenge,
    session_binding,
    spend_challenge,
    timeout_ms,
)
from app.auth.core.passkey_names import default_name
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "ALGORITHMS",
    "CREDENTIAL_ID_MAX",
    "authentication_options",
    "finish_authentication",
    "finish_registration",
    "registration_options",
)

ALGORITHMS = (
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
)
"""The public-key algorithms a passkey may use (ES256, EdDSA, RS256) [55]."""

CREDENTIAL_ID_MAX = 1023
"""The longest credential id the spec allows (and the column holds) [55]."""


# --- registration [55]


def _descriptor(credential: WebAuthnCredential) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in credential.transports:
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            continue  # a transport this version of py_webauthn does not know: leave it out
    return PublicKeyCredentialDescriptor(id=credential.credential_id, transports=transports or None)


async def _credentials_of(db: AsyncSession, user_id: UUID) -> Sequence[WebAuthnCredential]:
    query = select(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id)
    return (await db.scalars(query.order_by(WebAuthnCredential.created_at))).all()


async def _user_handle(db: AsyncSession, security: Security, user: UserSecurityColumns) -> bytes:
    """The user's random handle [57], made on first use (one conditional UPDATE, so two first
    registrations at once agree on it)."""
    if user.webauthn_user_handle:
        return user.webauthn_user_handle
    users = security.users
    await db.execute(
        update(users)
        .where(users.id == user.id, users.webauthn_user_handle.is_(None))
        .values(webauthn_user_handle=os.urandom(64))
        .execution_options(synchronize_session=False)
    )
    await db.refresh(user, ["webauthn_user_handle"])
    assert user.webauthn_user_handle is not None  # set just above, or by a concurrent twin
    return user.webauthn_user_handle


async def registration_options(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, *, display_name: str = ""
) -> dict[str, Any]:
    """Options for `navigator.credentials.create()` for the signed-in `user` (the route needs sudo).

    A discoverable credential with user verification; the user's existing passkeys are excluded so
    an authenticator that already holds one is not registered twice.
    """
    security = security_of(request)
    existing = await _credentials_of(db, user.id)
    if len(existing) >= security.policy.max_passkeys_per_user:
        raise PasskeyRefused("too_many")
    options = generate_registration_options(
        rp_id=security.webauthn_rp_id,
        rp_name=security.site_name,
        user_id=await _user_handle(db, security, user),
        user_name=user.email,
        user_display_name=display_name or user.email,
        challenge=await issue_challenge(
            db, security, Ceremony.REGISTER, session_binding(request.auth.id), user.id
        ),
        timeout=timeout_ms(security),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(credential) for credential in existing],
        supported_pub_key_algs=list(ALGORITHMS),
    )
    return options_to_json_dict(options)


def _parse_registration(response: Mapping[str, Any]) -> RegistrationCredential:
    try:
        return parse_registration_credential_json(dict(response))
    except (WebAuthnException, ValueError) as exc:
        raise PasskeyRefused("rejected") from exc


async def finish_registration(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, response: Mapping[str, Any]
) -> WebAuthnCredential:
    """Check the response to `registration_options` and store the new passkey (not yet committed).

    Hosts call `passkey_store.add_passkey`, which also records the change (audit, notice, other
    sessions signed out).
    """
    security = security_of(request)
    credential = _parse_registration(response)
    spent = await spend_challenge(
        db,
        security,
        Ceremony.REGISTER,
        session_binding(request.auth.id),
        credential.response.client_data_json,
    )
    if spent.user_id != user.id:
        raise PasskeyRefused("expired")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=spent.challenge,
            expected_rp_id=security.webauthn_rp_id,
            expected_origin=security.webauthn_origin,
            require_user_verification=True,
            supported_pub_key_algs=list(ALGORITHMS),
        )
    except (WebAuthnException, ValueError) as exc:
        raise PasskeyRefused("rejected") from exc
    if len(verified.credential_id) > CREDENTIAL_ID_MAX:
        raise PasskeyRefused("rejected")
    # The user's row is locked, so two registrations at once count each other [55].
    await db.refresh(user, with_for_update=True)
    count = await db.scalar(
        select(func.count(WebAuthnCredential.id)).where(WebAuthnCredential.user_id == user.id)
    )
    if int(count or 0) >= security.policy.max_passkeys_per_user:
        raise PasskeyRefused("too_many")
    taken = await db.scalar(
        select(WebAuthnCredential.id).where(WebAuthnCredential.credential_id == verified.credential_id)
    )
    if taken is not None:  # by this account or any other [55]
        raise PasskeyRefused("already_registered")
    device = security.adapter.device_label(request.headers.get("user-agent", ""))
    passkey = WebAuthnCredential(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[t.value for t in credential.response.transports or []],
        aaguid=verified.aaguid,
        name=default_name(verified.aaguid, device),
        backup_eligible=verified.credential_device_type is CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
    )
    db.add(passkey)
    await db.flush()
    return passkey


# --- authentication [56][57]


async def authentication_options(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    ceremony: Ceremony,
    binding: bytes,
    *,
    user_id: UUID | None = None,
) -> dict[str, Any]:
    """Options for `navigator.credentials.get()`.

    For `SIGN_IN` nobody is known: no `allowCredentials`, the browser offers whatever passkeys
    it holds for this site [57]. For the second factor and sudo, `user_id`'s passkeys are listed.
    """
    security = security_of(request)
    allowed: list[PublicKeyCredentialDescriptor] = []
    if ceremony is not Ceremony.SIGN_IN:
        if user_id is None:
            raise ValueError(f"{ceremony} needs the user it is for")
        allowed = [_descriptor(credential) for credential in await _credentials_of(db, user_id)]
        if not allowed:
            raise PasskeyRefused("no_passkeys")
    options = generate_authentication_options(
        rp_id=security.webauthn_rp_id,
        challenge=await issue_challenge(db, security, ceremony, binding, user_id),
        timeout=timeout_ms(security),
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    answer = options_to_json_dict(options)
    if not allowed:
        answer.pop("allowCredentials", None)  # absent, not empty: nothing about any account [57]
    return answer


def _parse_assertion(response: Mapping[str, Any]) -> AuthenticationCredential:
    try:
        credential = parse_authentication_credential_json(dict(response))
    except (WebAuthnException, ValueError) as exc:
        raise PasskeyRefused("rejected") from exc
    if len(credential.raw_id) > CREDENTIAL_ID_MAX:
        raise PasskeyRefused("rejected")
    return credential


async def finish_authentication(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    ceremony: Ceremony,
    binding: bytes,
    response: Mapping[str, Any],
    *,
    user_id: UUID | None = None,
) -> UserSecurityColumns:
    """Check an assertion; the account it proves (its passkey's counter and last use updated).

    `user_id` is the account that must own the passkey (second factor, sudo); for `SIGN_IN` it is
    None and the passkey's owner must be the account the response's user handle names [56].
    """
    security = security_of(request)
    credential = _parse_assertion(response)
    spent = await spend_challenge(db, security, ceremony, binding, credential.response.client_data_json)
    if spent.user_id != user_id:
        raise PasskeyRefused("expired")
    passkey = await db.scalar(
        select(WebAuthnCredential)
        .where(WebAuthnCredential.credential_id == credential.raw_id)
        .with_for_update()
    )
    if passkey is None:
        raise await _refused(db, request, ceremony, None, "unknown")
    owner = await db.get_one(security.users, passkey.user_id)
    if not _is_owner(owner, ceremony, user_id, credential.response.user_handle):
        raise await _refused(db, request, ceremony, owner.id, "unknown")
    # A deleted account's owner may still prove who they are: the sign-in offers the restore.
    if not (owner.can_sign_in or owner.owner_may_restore) or owner.confirmed_at is None:
        raise await _refused(db, request, ceremony, owner.id, "rejected")
    verified = await _verify_assertion(db, request, ceremony, credential, spent.challenge, passkey)
    passkey.sign_count = verified.new_sign_count
    passkey.backed_up = verified.credential_backed_up
    passkey.last_used_at = security.clock.now()
    return owner


def _is_owner(
    owner: UserSecurityColumns, ceremony: Ceremony, user_id: UUID | None, user_handle: bytes | None
) -> bool:
    """Whether the passkey's owner is the account this ceremony is about [56]."""
    if ceremony is Ceremony.SIGN_IN:
        stored = owner.webauthn_user_handle
        return stored is not None and user_handle is not None and hmac.compare_digest(stored, user_handle)
    return owner.id == user_id


async def _verify_assertion(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    ceremony: Ceremony,
    credential: AuthenticationCredential,
    challenge: bytes,
    passkey: WebAuthnCredential,
) -> VerifiedAuthentication:
    """py_webauthn's checks; a counter that did not move forward is told apart and recorded [56]."""
    security = security_of(request)

    def verify(stored_count: int) -> VerifiedAuthentication:
        return verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=security.webauthn_rp_id,
            expected_origin=security.webauthn_origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=stored_count,
            require_user_verification=True,
        )

    try:
        return verify(passkey.sign_count)
    except (WebAuthnException, ValueError) as exc:
        if passkey.sign_count == 0:  # no counter to have gone backwards: simply wrong
            raise await _refused(db, request, ceremony, passkey.user_id, "rejected") from exc
    # It failed. Had only the counter been wrong, it would pass against a counter of zero: then
    # the signature is genuine and the authenticator has been copied. Anyone can send a made-up
    # counter, but only the key's holder can sign one, so only a signed regression is alerted.
    try:
        presented = verify(0).new_sign_count
    except (WebAuthnException, ValueError) as exc:
        raise await _refused(db, request, ceremony, passkey.user_id, "rejected") from exc
    await audit(
        db,
        request,
        "auth.passkey.sign_count_regressed",
        outcome="failure",
        user_id=passkey.user_id,
        passkey_id=str(passkey.id),
        stored_count=passkey.sign_count,
        presented_count=presented,
    )
    raise await _refused(db, request, ceremony, passkey.user_id, "rejected")


async def _refused(
    db: AsyncSession, request: Request[Any, Any, Any], ceremony: Ceremony, user_id: UUID | None, reason: str
) -> PasskeyRefused:
    """Audit a refused assertion (committed: the request itself fails); the refusal to raise."""
    await audit(
        db, request, "auth.passkey.failed", outcome="failure", user_id=user_id, ceremony=ceremony.value
    )
    await db.commit()
    return PasskeyRefused(reason)
