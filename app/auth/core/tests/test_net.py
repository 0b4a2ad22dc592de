"""Client address resolution: X-Forwarded-For is believed only through trusted proxies [13]."""

from __future__ import annotations

import pytest

from app.auth.core.net import client_ip

PROXY = "10.0.0.10"


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "expected"),
    [
        ("203.0.113.5", None, [], "203.0.113.5"),
        ("203.0.113.5", "1.2.3.4", [], "203.0.113.5"),  # no proxies configured: header ignored
        ("203.0.113.5", "1.2.3.4", [PROXY], "203.0.113.5"),  # peer is not our proxy: header ignored
        (PROXY, "198.51.100.7", [PROXY], "198.51.100.7"),
        (PROXY, "1.2.3.4, 198.51.100.7", [PROXY], "198.51.100.7"),  # spoofed left part is not believed
        (PROXY, "1.2.3.4, 198.51.100.7, 10.0.0.11", ["10.0.0.0/24"], "198.51.100.7"),  # two proxy hops
        (PROXY, "not-an-ip", [PROXY], PROXY),
        (PROXY, None, [PROXY], PROXY),
        ("::1", "2001:db8::5", ["::1"], "2001:db8::5"),
    ],
)
def test_client_ip(peer: str, header: str | None, trusted: list[str], expected: str) -> None:
    assert client_ip(peer, header, trusted) == expected
