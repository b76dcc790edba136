"""The gate in front of every request: the token, and the checks that keep other web pages from driving the dashboard.

With `--token`, every request (page, static files, API, live feed) must carry it.

A browser opens `http://HOST:PORT/?token=SECRET` once; the page's response sets an HttpOnly, SameSite=Strict cookie
that the page's own requests then carry (an EventSource cannot send headers). API clients send
`Authorization: Bearer SECRET`. Tokens are compared in constant time.

Without a token the server listens on loopback only, where any web page the user has open could still reach it:
a request whose `Host` is not a loopback name is refused (DNS rebinding). A request that changes something (any
method but GET/HEAD) must prove it comes from the dashboard's own page or from a client that holds the token:
either `Authorization: Bearer TOKEN` (a web page cannot attach it to a cross-site request without a CORS preflight,
which this server never grants), or an `Origin` naming this very host and port, with `Sec-Fetch-Site`, where the
browser sends it, saying `same-origin`. Browsers send `Origin` on every such request and a page cannot forge it;
`Origin: null` (sandboxed frames, `data:` and `file:` pages) and a missing `Origin` (no proof at all; old browsers and
stripping extensions look like that) are refused. Scripts without a token send the `Origin` header themselves. The
Origin check was chosen over a CSRF token because it needs no state and no change to the page, and it covers every
route at once, multipart uploads included (which a cross-site form can send without a preflight).
"""
from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable, Dict
from urllib.parse import parse_qs, urlsplit

from skyseg.serve.config import is_loopback

COOKIE = "skyseg_token"
SAFE_METHODS = ("GET", "HEAD")  # they change nothing, so they need no same-origin proof
Scope = Dict[str, Any]  # typing's Dict: a module-level alias is evaluated at import, and JetPack 5 has Python 3.8
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def supplied_tokens(scope: Scope) -> list[str]:
    """Every token the request carries: bearer header, cookie, `?token=` query."""
    found: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                found.append(credential.strip())
        elif name == b"cookie":
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header carries no token
                continue
            if COOKIE in cookie:
                found.append(cookie[COOKIE].value)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    found.extend(query.get("token", []))
    return found


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _host_name(host: str) -> str:
    """`127.0.0.1:8765` → `127.0.0.1`, `[::1]:8765` → `::1`."""
    return urlsplit(f"//{host}").hostname or ""


def bearer_token(scope: Scope) -> str | None:
    """The `Authorization: Bearer` credential, if the request sends one (the only token a script can add)."""
    scheme, _, credential = (_header(scope, b"authorization") or "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else None


def _same_origin_refusal(scope: Scope, host: str, token: str | None) -> str | None:
    """Why a state-changing request lacks a same-origin proof, or None when it has one."""
    bearer = bearer_token(scope)
    if token and bearer is not None and hmac.compare_digest(bearer.encode(), token.encode()):
        return None
    origin = _header(scope, b"origin")
    if origin is None:
        how = "'Authorization: Bearer TOKEN'" if token else f"'Origin: http://{host}'"
        return ("a request that changes this dashboard must come from its own page (browsers send an Origin header) "
                f"or say who sends it: add the header {how}")
    if origin == "null" or urlsplit(origin).netloc != host:
        return f"a request from another site ({origin}) may not change this dashboard"
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        return f"a request from another site (Sec-Fetch-Site: {fetch_site}) may not change this dashboard"
    return None


def refusal(scope: Scope, token: str | None) -> tuple[int, str] | None:
    """(status, sentence) when the request must be refused, else None."""
    host = _header(scope, b"host") or ""
    if not token and not is_loopback(_host_name(host)):
        return 403, (f"this dashboard answers only to loopback names (Host {host!r} refused); start it with --host "
                     "and --token to reach it from elsewhere")
    if scope.get("method") not in SAFE_METHODS:
        why = _same_origin_refusal(scope, host, token)
        if why is not None:
            return 403, why
    return None


class TokenGate:
    """ASGI middleware: 401/403 with one sentence unless the request carries the token and comes from this site."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def allowed(self, scope: Scope) -> bool:
        if not self.token:
            return True
        want = self.token.encode()
        return any(hmac.compare_digest(t.encode(), want) for t in supplied_tokens(scope))

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # no token first (401), then where the request comes from (403)
        refused = refusal(scope, self.token) if self.allowed(scope) else (
            401, "this dashboard needs its token: open it as /?token=SECRET, or send the header "
                 "'Authorization: Bearer SECRET'")
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, message = refused
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
