"""Outgoing webhooks: Standard Webhooks signatures, and the SSRF rules for where they may be sent.

**Signatures.** Every delivery carries `webhook-id` (unique per event, the receiver's
idempotency key), `webhook-timestamp` (Unix seconds) and `webhook-signature`: one or more
space-separated `v1,<base64 HMAC-SHA256>` of `"{id}.{timestamp}.{body}"` under the endpoint's
secret (`whsec_<base64 of 32 random bytes>`). While a secret is being rotated the old one keeps
signing too, so a receiver that has not switched yet still verifies, and one that has, as well.
Receivers reject timestamps more than a few minutes away, which stops replays.

**SSRF.** An endpoint is a URL typed by an organization admin, so it could point at the app's own
network (a database port, a cloud metadata service). Every send resolves the host *at send
time*, refuses the whole delivery if any address is not public (loopback, private, link-local
including 169.254.169.254, carrier-grade NAT, multicast, reserved, unspecified), and then connects
to the checked address itself (not a second lookup that DNS rebinding could answer differently),
with the original host name for TLS and `Host`. Production requires https; redirects are never
followed. Only tests may allow loopback (`allow_loopback`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

__all__ = (
    "RETRY_SCHEDULE",
    "SECRET_PREFIX",
    "Attempt",
    "Destination",
    "UnsafeDestinationError",
    "check_url",
    "new_secret",
    "post_signed",
    "resolve_destination",
    "sign",
    "verify",
)

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
)
"""Waits before the 2nd, 3rd, ... attempt (about a day in all); then the delivery has failed."""

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UnsafeDestinationError(ValueError):
    """The URL may not receive webhooks (the message says why; shown to the admin)."""


def new_secret() -> str:
    """A fresh endpoint secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def _signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def sign(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one `v1,...` per secret still valid (newest first)."""
    return " ".join(_signature(secret, msg_id, timestamp, body) for secret in secrets_)


def verify(
    secret: str, msg_id: str, timestamp: int, body: bytes, header: str, now: int, tolerance: int = 300
) -> bool:
    """Whether `header` holds a valid signature by `secret` and the timestamp is within `tolerance` s."""
    if abs(now - timestamp) > tolerance:
        return False
    expected = _signature(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in header.split())


def check_url(url: str, *, require_https: bool) -> str:
    """The URL, if it is one an endpoint may have (scheme, host, no credentials); else raise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or (require_https and parts.scheme != "https"):
        raise UnsafeDestinationError(
            "Use an https:// address." if require_https else "Use an http(s):// address."
        )
    if not parts.hostname or parts.username or parts.password:
        raise UnsafeDestinationError("Give a host name, without a user name or password.")
    if len(url) > 2000:
        raise UnsafeDestinationError("That address is too long.")
    return urlunsplit(parts)


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT)
    )


@dataclass(frozen=True)
class Destination:
    """Where to connect for one delivery: the checked address, and the names TLS and Host need."""

    url: str
    """The URL with the host replaced by the checked address."""
    host: str
    """The original `host[:port]`, for the `Host` header."""
    server_name: str
    """The original host name, for TLS (SNI and the certificate check)."""
    address: str


async def resolve_destination(url: str, *, require_https: bool, allow_loopback: bool = False) -> Destination:
    """Resolve the URL's host now and check every address; the one to connect to, or raise."""
    parts = urlsplit(check_url(url, require_https=require_https))
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeDestinationError("That host name does not resolve.") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeDestinationError("That host name does not resolve.")
    for address in addresses:
        if not (_is_public(address) or (allow_loopback and address.is_loopback)):
            raise UnsafeDestinationError("That address is not on the public internet.")
    chosen = str(addresses[0])
    netloc = f"[{chosen}]" if ":" in chosen else chosen
    if parts.port:
        netloc += f":{parts.port}"
    return Destination(
        url=urlunsplit(parts._replace(netloc=netloc)), host=parts.netloc, server_name=host, address=chosen
    )


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt got: a status code (None when it never got an answer) and details."""

    status_code: int | None
    duration_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        """A 2xx answer; anything else (a redirect included: they are not followed) is a failure."""
        return self.status_code is not None and 200 <= self.status_code < 300


async def post_signed(
    url: str,
    signing_secrets: Sequence[str],
    event_id: str,
    body: bytes,
    *,
    timestamp: int,
    require_https: bool,
    allow_loopback: bool = False,
    seconds: float = 10.0,
) -> Attempt:
    """POST `body` to `url`, signed, to the address checked just now; never follows a redirect."""
    import time

    import httpx

    started = time.monotonic()
    try:
        destination = await resolve_destination(
            url, require_https=require_https, allow_loopback=allow_loopback
        )
    except UnsafeDestinationError as exc:
        return Attempt(None, 0, error=str(exc))
    headers = {
        "Host": destination.host,
        "Content-Type": "application/json",
        "User-Agent": "Gatehouse-Webhooks/1",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(signing_secrets, event_id, timestamp, body),
    }
    try:
        async with httpx.AsyncClient(follow_redirects=False, timeout=seconds, trust_env=False) as client:
            response = await client.post(
                destination.url,
                content=body,
                headers=headers,
                extensions={"sni_hostname": destination.server_name},
            )
            excerpt = response.text[:500]
    except httpx.HTTPError as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        return Attempt(None, elapsed, error=f"{type(exc).__name__}: could not deliver")
    elapsed = int((time.monotonic() - started) * 1000)
    return Attempt(response.status_code, elapsed, excerpt=excerpt)
