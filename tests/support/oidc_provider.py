"""A real identity provider for the tests: OpenID Connect and a GitHub look-alike, over real HTTP.

One Werkzeug server on a free port (in a thread, so tests can steer it directly) serves any number
of *tenants*, each its own provider with its own issuer (`<url>/<name>`), client registrations,
RSA signing key, codes and tokens:

- OpenID Connect tenants: discovery, JWKS, `authorize` (an HTML sign-in page with Allow and Deny,
  or an immediate answer when a test set `person`), `token` (client authentication, code, exact
  redirect URI, PKCE S256) and `userinfo`;
- GitHub tenants (`kind="github"`): `login/oauth/authorize`, `login/oauth/access_token`,
  `api/user` and `api/user/emails`.

Tests make a tenant misbehave through `tenant.tamper` (claims and header of the next ID tokens,
and switches such as `skip_pkce_check`), count what the app asked (`discovery_hits`, `jwks_hits`,
`token_requests`) and stop the whole server to play a network failure.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tests.support.mail import free_port


@dataclass
class Person:
    """Who signs in at the provider."""

    sub: str
    email: str | None = "ada@example.com"
    email_verified: bool | None = True
    """None leaves the claim out (Microsoft never sends it)."""
    name: str = "Ada Lovelace"
    amr: list[str] | None = None


@dataclass
class Client:
    """A registered client: the app under test."""

    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)


@dataclass
class Grant:
    """An authorization code and what it was issued for."""

    client_id: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    person: Person
    auth_time: int
    used: bool = False


class Tenant:
    """One provider on the server."""

    def __init__(self, server: IdentityProviderServer, name: str, kind: str = "oidc") -> None:
        self.server = server
        self.name = name
        self.kind = kind
        self.key = RSAKey.generate_key(2048, parameters={"kid": f"{name}-1", "use": "sig", "alg": "RS256"})
        self.rogue_key = RSAKey.generate_key(2048, parameters={"kid": f"{name}-rogue", "alg": "RS256"})
        self.clients: dict[str, Client] = {}
        self.reset()

    def reset(self) -> None:
        """Forget codes, tokens, counters and misbehaviour."""
        self.person: Person | None = None
        self.deny = False
        self.tamper: dict[str, Any] = {}
        self.github_emails: list[dict[str, Any]] | None = None
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, Person] = {}
        self.refresh_tokens: dict[str, Person] = {}
        self.token_requests: list[dict[str, str]] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.discovery_hits = 0
        self.jwks_hits = 0

    @property
    def issuer(self) -> str:
        """This tenant's issuer (the server's URL and the tenant's name)."""
        return f"{self.server.url}/{self.name}"

    def register(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        """Register (or re-register) the app as a client with exactly one redirect URI."""
        self.clients[client_id] = Client(client_id, client_secret, [redirect_uri])

    def setting(self, key: str, client_id: str = "gatehouse", **extra: Any) -> dict[str, Any]:
        """The OAUTH_PROVIDERS entry for this tenant."""
        secret = self.clients[client_id].client_secret
        if self.kind == "github":
            base = {
                "preset": "github",
                "issuer": self.issuer,
                "authorize_url": f"{self.issuer}/login/oauth/authorize",
                "token_url": f"{self.issuer}/login/oauth/access_token",
                "api_url": f"{self.issuer}/api",
            }
        else:
            base = {"issuer": self.issuer, "display_name": self.name.title()}
        return {"key": key, "client_id": client_id, "client_secret": secret, **base, **extra}

    # --- what the tenant hands out

    def id_token(self, grant: Grant, client_id: str) -> str:
        now = self.server.now()
        person = grant.person
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": person.sub,
            "aud": client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": grant.auth_time,
            "name": person.name,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if person.email is not None:
            claims["email"] = person.email
        if person.email_verified is not None:
            claims["email_verified"] = person.email_verified
        if person.amr is not None:
            claims["amr"] = person.amr
        for name, value in self.tamper.get("claims", {}).items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value(now) if callable(value) else value
        alg = self.tamper.get("alg", "RS256")
        if alg == "none":
            return _unsigned(claims)
        if alg == "HS256":  # the classic confusion: the client secret as an HMAC key
            secret = self.clients[client_id].client_secret
            return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret), algorithms=["HS256"])
        key = self.rogue_key if self.tamper.get("unknown_key") else self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, KeySet([key]), algorithms=["RS256"])

    def issue_code(self, params: dict[str, str], person: Person) -> str:
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            code_challenge=params.get("code_challenge"),
            code_challenge_method=params.get("code_challenge_method"),
            nonce=params.get("nonce"),
            person=person,
            auth_time=self.server.now(),
        )
        return code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


class IdentityProviderServer:
    """The provider process's HTTP server, with its tenants."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        """`host` names the server in its URLs (it always listens on 127.0.0.1): a browser test uses
        `localhost`, so the provider is another site than the app at 127.0.0.1, as in real life."""
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.tenants: dict[str, Tenant] = {}
        self.clock_offset = 0
        """Seconds added to the provider's clock (tests that move the app's clock move this too)."""
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def now(self) -> int:
        """The provider's time, in whole seconds."""
        return int(time.time()) + self.clock_offset

    def tenant(self, name: str, kind: str = "oidc") -> Tenant:
        """The tenant called `name`, made on first use."""
        if name not in self.tenants:
            self.tenants[name] = Tenant(self, name, kind)
        return self.tenants[name]

    def start(self) -> None:
        """Serve (again) on the same port."""
        self._server = make_server("127.0.0.1", self.port, self.wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: connections are refused, as with a provider that is down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Every tenant forgets its state and misbehaviour (registrations stay)."""
        self.clock_offset = 0
        for tenant in self.tenants.values():
            tenant.reset()

    # --- HTTP

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        if request.path == "/favicon.ico":
            return Response(status=204)
        name, _, rest = request.path.strip("/").partition("/")
        tenant = self.tenants.get(name)
        if tenant is None:
            return Response("no such tenant", status=404)
        routes = {
            ".well-known/openid-configuration": self.discovery,
            "jwks": self.jwks,
            "authorize": self.authorize,
            "login/oauth/authorize": self.authorize,
            "token": self.token,
            "login/oauth/access_token": self.token,
            "userinfo": self.userinfo,
            "api/user": self.github_user,
            "api/user/emails": self.github_emails,
        }
        handler = routes.get(rest)
        if handler is None:
            return Response("not found", status=404)
        return handler(tenant, request)

    def discovery(self, tenant: Tenant, request: Request) -> Response:
        tenant.discovery_hits += 1
        issuer = tenant.tamper.get("discovery_issuer", tenant.issuer)
        return _json(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{tenant.issuer}/authorize",
                "token_endpoint": f"{tenant.issuer}/token",
                "userinfo_endpoint": f"{tenant.issuer}/userinfo",
                "jwks_uri": f"{tenant.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    def jwks(self, tenant: Tenant, request: Request) -> Response:
        tenant.jwks_hits += 1
        return _json(KeySet([tenant.key]).as_dict(private=False))

    def authorize(self, tenant: Tenant, request: Request) -> Response:
        params = dict(request.form if request.method == "POST" else request.args)
        tenant.authorize_requests.append(dict(params))
        client = tenant.clients.get(params.get("client_id", ""))
        if client is None:
            return Response("unknown client", status=400)
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris and not tenant.tamper.get("lax_redirect"):
            # Never redirect to an unregistered URI (RFC 6749 §4.1.2.1): say so here instead.
            return Response("redirect_uri is not registered for this client", status=400)
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return self._answer(tenant, redirect_uri, params, error="invalid_request")
        if request.method == "GET" and (tenant.person is None and not tenant.deny):
            return self._sign_in_page(tenant, params)
        if tenant.deny or params.get("decision") == "deny":
            return self._answer(tenant, redirect_uri, params, error="access_denied")
        person = tenant.person or Person(
            sub=params.get("sub") or "user-1",
            email=params.get("email") or None,
            email_verified=params.get("email_verified") == "yes",
            name=params.get("name", ""),
            amr=["pwd", "mfa"] if params.get("mfa") == "yes" else None,
        )
        return self._answer(tenant, redirect_uri, params, code=tenant.issue_code(params, person))

    def _answer(self, tenant: Tenant, redirect_uri: str, params: dict[str, str], **answer: str) -> Response:
        query = {**answer, "state": params.get("state", "")}
        if tenant.kind == "oidc" and not tenant.tamper.get("omit_iss_param"):
            query["iss"] = tenant.tamper.get("iss_param", tenant.issuer)
        response = Response(status=302)
        response.headers["Location"] = f"{redirect_uri}?{urlencode(query)}"
        return response

    def _sign_in_page(self, tenant: Tenant, params: dict[str, str]) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
            if k not in {"decision"}
        )
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{tenant.name} sign-in</title></head>
<body><main><h1>Sign in to {html.escape(tenant.name)}</h1>
<form method="post" action="{tenant.issuer}/{"login/oauth/authorize" if tenant.kind == "github" else "authorize"}">{hidden}
<label>Subject <input name="sub" value="user-1"></label>
<label>Email <input name="email" value="ada@example.com"></label>
<label>Name <input name="name" value="Ada Lovelace"></label>
<label><input type="checkbox" name="email_verified" value="yes" checked> Email verified</label>
<label><input type="checkbox" name="mfa" value="yes"> Used a second factor</label>
<button name="decision" value="allow">Allow</button>
<button name="decision" value="deny">Deny</button>
</form></main></body></html>"""
        return Response(page, mimetype="text/html")

    def token(self, tenant: Tenant, request: Request) -> Response:
        form = dict(request.form)
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if request.authorization is not None:
            client_id = request.authorization.username or ""
            client_secret = request.authorization.password or ""
        tenant.token_requests.append({**form, "client_id": client_id})
        client = tenant.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, client_secret):
            return _json({"error": "invalid_client"}, 401)
        if forced := tenant.tamper.get("token_error"):
            return _json({"error": forced}, 400)
        if form.get("grant_type") == "refresh_token":
            return self._refresh(tenant, form, client_id)
        grant = tenant.grants.get(form.get("code", ""))
        if grant is None or grant.used or grant.client_id != client_id:
            return _json({"error": "invalid_grant"}, 400)
        grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            return _json({"error": "invalid_grant", "error_description": "redirect_uri mismatch"}, 400)
        if not tenant.tamper.get("skip_pkce_check"):
            verifier = form.get("code_verifier", "")
            challenge = _b64(hashlib.sha256(verifier.encode()).digest())
            if grant.code_challenge_method != "S256" or challenge != grant.code_challenge:
                return _json({"error": "invalid_grant", "error_description": "PKCE verification failed"}, 400)
        return _json(self._tokens(tenant, grant, client_id))

    def _tokens(self, tenant: Tenant, grant: Grant, client_id: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        tenant.access_tokens[access] = grant.person
        tenant.refresh_tokens[refresh] = grant.person
        tokens: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": tenant.tamper.get("expires_in", 3600),
            "refresh_token": refresh,
        }
        if tenant.kind == "oidc":
            tokens["id_token"] = tenant.id_token(grant, client_id)
        return tokens

    def _refresh(self, tenant: Tenant, form: dict[str, str], client_id: str) -> Response:
        person = tenant.refresh_tokens.pop(form.get("refresh_token", ""), None)
        if person is None:
            return _json({"error": "invalid_grant"}, 400)
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        tenant.access_tokens[access] = person
        tenant.refresh_tokens[refresh] = person
        return _json(
            {"access_token": access, "token_type": "Bearer", "expires_in": 3600, "refresh_token": refresh}
        )

    def _bearer(self, tenant: Tenant, request: Request) -> Person | None:
        header = request.headers.get("Authorization", "")
        return (
            tenant.access_tokens.get(header.removeprefix("Bearer ").strip())
            if header.startswith("Bearer ")
            else None
        )

    def userinfo(self, tenant: Tenant, request: Request) -> Response:
        person = self._bearer(tenant, request)
        if person is None:
            return _json({"error": "invalid_token"}, 401)
        info: dict[str, Any] = {"sub": person.sub, "name": person.name}
        if person.email is not None:
            info["email"] = person.email
        if person.email_verified is not None:
            info["email_verified"] = person.email_verified
        return _json(info)

    def github_user(self, tenant: Tenant, request: Request) -> Response:
        person = self._bearer(tenant, request)
        if person is None:
            return _json({"message": "Bad credentials"}, 401)
        return _json({"id": int(person.sub), "login": person.name.split()[0].lower(), "name": person.name})

    def github_emails(self, tenant: Tenant, request: Request) -> Response:
        person = self._bearer(tenant, request)
        if person is None:
            return _json({"message": "Bad credentials"}, 401)
        if tenant.github_emails is not None:
            return _json(tenant.github_emails)
        if person.email is None:
            return _json([])
        return _json([{"email": person.email, "primary": True, "verified": bool(person.email_verified)}])


@pytest.fixture(scope="session")
def identity_provider() -> Iterator[IdentityProviderServer]:
    """The provider server, for the whole run (tests reset what they change: see `idp`)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in test output
    server = IdentityProviderServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def idp(identity_provider: IdentityProviderServer) -> Iterator[IdentityProviderServer]:
    """The provider server, reset before and after the test, and serving again if a test stopped it."""
    identity_provider.reset()
    yield identity_provider
    if identity_provider._server is None:
        identity_provider.start()
    identity_provider.reset()
