"""Signing in through identity providers: OAuth 2 and OpenID Connect [59]-[67].

The modules, in the order a sign-in walks through them:

- `providers`: what a configured provider is (any OpenID Connect provider, or the Google,
  Microsoft and GitHub presets) and the registry the toolkit keeps (`Security.oauth`);
- `discovery`: each provider's endpoints and signing keys, fetched over HTTPS and cached;
- `flows`: one trip to the provider and back: `state`, PKCE verifier and nonce, bound to the
  browser, used once, ten minutes;
- `exchange`: the code for tokens (Authlib's async client), then who the provider says this is;
- `id_tokens`: the ID token checks (signature, issuer, audience, expiry, nonce);
- `identities`: (issuer, subject) linked to users, provider tokens sealed at rest, unlinking;
- `callback`: what the answer means: sign in, sign up, "sign in first, then link", link, sudo.

This package imports nothing at import time (the toolkit imports `providers`), so import from
the modules themselves.
"""
