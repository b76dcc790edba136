"""The token gate: with `--token`, every request (page, static files, API, live feed) must carry it.

A browser opens `http://HOST:PORT/?token=SECRET` once; the page's response sets an HttpOnly, SameSite=Strict cookie
that the page's own requests then carry (an EventSource cannot send headers). API clients send
`Authorization: Bearer SECRET`. Tokens are compared in constant time.
"""
from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

COOKIE = "skyseg_token"
Scope = dict[str, Any]
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
            except Exception:  # noqa: BLE001 - a malformed cookie header carries no token
                continue
            if COOKIE in cookie:
                found.append(cookie[COOKIE].value)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    found.extend(query.get("token", []))
    return found


class TokenGate:
    """ASGI middleware: 401 with one sentence unless the request carries the token."""

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
        if scope["type"] != "http" or self.allowed(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "this dashboard needs its token: open it as /?token=SECRET, or send the header "
                                    "'Authorization: Bearer SECRET'"}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
