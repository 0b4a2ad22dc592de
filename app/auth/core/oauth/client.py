"""Authlib's OAuth 2 clients (the async one for requests, the plain one for URLs), imported in one place.

Authlib would rather run on `httpx2` (Python 3.12 and later only) and warns about it when its
httpx integration is imported; on `httpx` it works the same, so that one warning is silenced here.
"""

from __future__ import annotations

import warnings

from authlib.deprecate import AuthlibDeprecationWarning  # first: it installs an "always" filter

with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.client import OAuth2Client

__all__ = ("AsyncOAuth2Client", "OAuth2Client", "OAuthError")
