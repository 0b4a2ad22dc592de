"""The client's address, believed only as far as trusted proxies vouch for it.

Rate limits and session metadata key on the client address. Behind a load balancer the socket peer
is the balancer, and the real client is in `X-Forwarded-For`, but anyone can send that header. So
the header is read from the right, one hop at a time, and only while the hop that added it is a
proxy we configured: the first address not in the trusted set is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from functools import lru_cache

__all__ = ("client_ip",)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: Collection[str]) -> str:
    """The client address for a request from `peer` carrying `forwarded_for` (may be None)."""
    peer = (peer or "").strip()
    if not trusted_proxies or not _is_trusted(peer, tuple(trusted_proxies)):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    candidate = peer
    for hop in reversed(hops):
        if not _valid_ip(hop):
            # A garbled hop cannot be trusted or attributed: stop at the last address we believe.
            return candidate
        candidate = hop
        if not _is_trusted(hop, tuple(trusted_proxies)):
            return hop
    return candidate


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(trusted))


@lru_cache(maxsize=32)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)
