"""Small pieces the account routes share: form bodies and cache headers."""

from __future__ import annotations

from typing import Annotated

from litestar.enums import RequestEncodingType
from litestar.params import Body

from app.auth.core.landing import (
    NO_STORE,
    TOKEN_PAGE_HEADERS,
    forget_link_token,
    kept_link_token,
    land_from_mail,
)
from app.auth.core.signin import sign_user_in

__all__ = (
    "NO_STORE",
    "TOKEN_PAGE_HEADERS",
    "FormData",
    "forget_link_token",
    "kept_link_token",
    "land_from_mail",
    "sign_user_in",
)

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
"""A posted HTML form."""
