"""Pieces `scripts/loadtest.py` is built from: a browser's cookie jar, who holds which database
connection, the servers' JSON log lines.

Servers, CSRF tokens and percentiles come from `scripts/bench_support.py`; nothing here knows
Gatehouse's routes.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

# --- cookies ---------------------------------------------------------------------------------


class BrowserCookies:
    """One browser's cookies for one origin, kept by hand.

    Gatehouse in prod sets `__Host-` cookies with `Secure`, which httpx rightly keeps off plain
    http; the load test talks to 127.0.0.1 over http, so it plays the browser (and the TLS proxy)
    itself: it stores what Set-Cookie says, forgets what expires, honours `Clear-Site-Data:
    "cookies"`, and sends the rest back. Install `attach` and `absorb` as httpx event hooks.
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def attach(self, request: httpx.Request) -> None:
        """Request hook: carry the cookies."""
        if self.values:
            request.headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.values.items())

    async def absorb(self, response: httpx.Response) -> None:
        """Response hook: apply Clear-Site-Data, then every Set-Cookie."""
        if '"cookies"' in response.headers.get("clear-site-data", "") or '"*"' in response.headers.get(
            "clear-site-data", ""
        ):
            self.values.clear()
        for header in response.headers.get_list("set-cookie"):
            name, value, expired = parse_set_cookie(header)
            if not name:
                continue
            if expired:
                self.values.pop(name, None)
            else:
                self.values[name] = value


def parse_set_cookie(header: str) -> tuple[str, str, bool]:
    """(name, value, whether it deletes the cookie) of one Set-Cookie header."""
    first, *attributes = header.split(";")
    name, _, value = first.partition("=")
    expired = False
    for attribute in attributes:
        key, _, raw = attribute.strip().partition("=")
        key = key.lower()
        if key == "max-age":
            with contextlib.suppress(ValueError):
                expired = int(raw.strip()) <= 0
        elif key == "expires" and not expired:
            with contextlib.suppress(TypeError, ValueError):
                when = parsedate_to_datetime(raw.strip())
                expired = when <= datetime.now(UTC)
    return name.strip(), value.strip(), expired


# --- database connections --------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """One row of pg_stat_activity: the server process and, over TCP, the client's port."""

    pid: int
    client_port: int | None


_SS_UNIX = re.compile(  # Netid State Recv-Q Send-Q Local Inode Peer Inode [users:(...)]
    r"^\S+\s+\S+\s+\d+\s+\d+\s+(?P<local>.+?)\s+(?P<local_id>\d+)"
    r"\s+(?P<peer>.+?)\s+(?P<peer_id>\d+)(?:\s+users:\((?P<users>.*)\))?\s*$"
)
_SS_TCP = re.compile(  # State Recv-Q Send-Q Local:Port Peer:Port [users:(...)]
    r"^\S+\s+\d+\s+\d+\s+(?P<local>\S+)\s+(?P<peer>\S+)(?:\s+users:\((?P<users>.*)\))?\s*$"
)
_SS_PID = re.compile(r"pid=(\d+)")


@dataclass(frozen=True)
class _Socket:
    local: str
    local_id: str  # Unix: the socket's inode; TCP: its port
    peer_id: str  # Unix: the peer's inode; TCP: the peer's port
    pids: tuple[int, ...]


def _sockets(kind: str) -> list[_Socket]:
    """`ss -<kind>pn` as records (kind "x": Unix, "t": TCP); empty when ss is missing or fails."""
    try:
        done = subprocess.run(["ss", f"-{kind}pn"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in done.stdout.splitlines()[1:]:
        match = (_SS_TCP if kind == "t" else _SS_UNIX).match(line)
        if match is None:
            continue
        pids = tuple(int(pid) for pid in _SS_PID.findall(match["users"] or ""))
        if kind == "t":
            local, _, port = match["local"].rpartition(":")
            found.append(_Socket(local, port, match["peer"].rpartition(":")[2], pids))
        else:
            found.append(_Socket(match["local"], match["local_id"], match["peer_id"], pids))
    return found


def client_pids(backends: Iterable[Backend]) -> dict[int, int | None]:
    """Backend pid → pid of the local process at the other end of its socket (None: not found).

    Unix sockets (the embedded server): the backend's socket names its peer's inode, whose owner
    `ss -xp` shows. TCP: the client's port from pg_stat_activity is a local socket's port. Only
    processes of this user are visible, which covers every process the load test started.
    """
    backends = list(backends)
    owners: dict[int, int | None] = {b.pid: None for b in backends}
    if any(b.client_port is None for b in backends):
        unix = _sockets("x")
        by_inode = {s.local_id: s for s in unix}
        for sock in unix:
            if ".s.PGSQL." not in sock.local:
                continue
            peer = by_inode.get(sock.peer_id)
            for pid in sock.pids:
                if pid in owners and peer is not None and peer.pids:
                    owners[pid] = peer.pids[0]
    tcp_ports = {b.client_port: b.pid for b in backends if b.client_port is not None}
    if tcp_ports:
        for sock in _sockets("t"):
            with contextlib.suppress(ValueError):
                backend = tcp_ports.get(int(sock.local_id))
                if backend is not None and sock.pids and sock.pids[0] not in owners:
                    owners[backend] = sock.pids[0]
    return owners


# --- logs ------------------------------------------------------------------------------------


def log_records(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON lines of a log (APP_ENV=prod logs JSON); other lines come as {"raw": line}."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            yield {"raw": line}
            continue
        yield record if isinstance(record, dict) else {"raw": line}


def lines_mentioning(path: Path, needle: str, limit: int = 20) -> list[str]:
    """Up to `limit` lines of the log at `path` that contain `needle`."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if needle in line][:limit]
