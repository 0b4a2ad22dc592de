"""Readable device labels ("Firefox on Windows") from User-Agent strings, for the sessions page."""

from __future__ import annotations

from functools import lru_cache

import ua_parser

UNKNOWN_DEVICE = "Unknown device"


@lru_cache(maxsize=1024)
def device_label(user_agent: str) -> str:
    """A short label for the browser and operating system behind `user_agent`."""
    if not user_agent:
        return UNKNOWN_DEVICE
    result = ua_parser.parse(user_agent[:512])
    browser = result.user_agent.family if result.user_agent else ""
    system = result.os.family if result.os else ""
    if result.device and result.device.family not in {"Other", "Spider"} and result.device.brand:
        system = system or result.device.family
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or UNKNOWN_DEVICE


def warm_up() -> None:
    """Load the parser's patterns now (a startup hook), not on the first sign-in."""
    device_label("Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
