"""A small, real DNS server for the tests: UDP on a free local port, answering from a dict.

The app's resolver (dnspython, pointed here by the `DNS_NAMESERVERS`/`DNS_PORT` settings) sends
real DNS packets over a real socket; this thread parses them with dnspython's `message` module
and answers authoritatively:

- a name with TXT records → those records;
- a name that exists (has records, or is an ancestor of one) but has no TXT → NOERROR, no answer;
- any other name → NXDOMAIN.

`stop()` closes the socket, so a test can see what "DNS is down" looks like.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

__all__ = ("DnsServer", "dns_server")


@dataclass
class DnsServer:
    """TXT records by name (lower-case, no trailing dot), served on 127.0.0.1:`port`."""

    records: dict[str, list[str]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    def set_txt(self, name: str, *values: str) -> None:
        """Publish TXT records at `name` (replacing what was there)."""
        self.records[name.lower().rstrip(".")] = list(values)

    def clear(self) -> None:
        self.records.clear()
        self.queries.clear()

    def start(self) -> DnsServer:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, name="test-dns", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _serve(self) -> None:
        assert self._sock is not None
        while True:
            try:
                packet, client = self._sock.recvfrom(4096)
            except OSError:
                return  # closed by stop()
            try:
                reply = self._answer(dns.message.from_wire(packet))
            except Exception:  # noqa: S112 (a malformed packet gets no answer, as from a real server)
                continue
            try:
                self._sock.sendto(reply.to_wire(), client)
            except OSError:
                return

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.queries.append(name)
        if name in self.records and question.rdtype == dns.rdatatype.TXT:
            quoted = [
                '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in self.records[name]
            ]
            reply.answer.append(
                dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, dns.rdatatype.TXT, quoted)
            )
        elif not any(known == name or known.endswith("." + name) for known in self.records):
            reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DnsServer]:
    """One DNS server for the run; each test that uses it starts with no records (see `dns`)."""
    server = DnsServer().start()
    yield server
    server.stop()
