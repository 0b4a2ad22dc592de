"""ETags where they are cheap: a strong validator from the JSON the API would send.

`GET` of a project and of `/me` carry an `ETag`; a client that sends it back in `If-None-Match`
gets 304 with no body. `PATCH` and `DELETE` of a project honour `If-Match`: when it does not
name the current version the change is refused with 412, so two editors cannot overwrite each
other unknowingly. The tag is the SHA-256 of the body, so it changes exactly when the answer does.
"""

from __future__ import annotations

from hashlib import sha256
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Response
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from app.api.problems import Problem

__all__ = ("IfMatch", "IfNoneMatch", "check_if_match", "etag_of", "matches", "with_etag")

T = TypeVar("T")

IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match", max_length=1000, description="An ETag from before: 304 if unchanged"
    ),
]
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match", max_length=1000, description="Only change it if this is still its ETag (else 412)"
    ),
]


def etag_of(body: Any) -> str:
    """The strong ETag of an answer's body."""
    return '"' + sha256(msgspec.json.encode(body)).hexdigest()[:32] + '"'


def matches(header: str | None, etag: str, *, weak: bool) -> bool:
    """Whether an `If-None-Match` (`weak`) or `If-Match` header names `etag` (or is `*`)."""
    if header is None:
        return False
    for candidate in (part.strip() for part in header.split(",")):
        if candidate == "*":
            return True
        if weak and candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def with_etag(body: T, if_none_match: str | None) -> Response[T]:
    """The answer with its ETag, or 304 when the client's copy is current."""
    etag = etag_of(body)
    if matches(if_none_match, etag, weak=True):
        return Response(None, status_code=HTTP_304_NOT_MODIFIED, headers={"ETag": etag})  # type: ignore[arg-type]
    return Response(body, headers={"ETag": etag})


def check_if_match(if_match: str | None, current: Any) -> None:
    """Refuse (412) a change whose `If-Match` does not name the current version."""
    if if_match is not None and not matches(if_match, etag_of(current), weak=False):
        raise Problem(412, "It was changed since you read it: read it again, then retry.")
