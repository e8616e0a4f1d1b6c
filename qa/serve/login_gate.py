"""With ``QA_AUTH`` set, every route of the app needs a login — not only the ones Gradio
guards itself. An ASGI middleware in front of everything lets through only the login page and
the static files it is drawn with, and the ``/v1`` API (which checks its own bearer token);
anything else without a valid login session gets 401."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import HTTPConnection

log = logging.getLogger(__name__)

# what the login page itself needs: the page, the login form's target, and static files
PUBLIC_PATHS = frozenset({"/", "/login", "/login/", "/logout", "/favicon.ico", "/theme.css",
                          "/gradio_api/theme.css", "/robots.txt", "/manifest.json"})
PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/")
OWN_AUTH_PREFIXES = ("/v1/",)

Scope = dict[str, Any]


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class LoginGate:
    """``logged_in(connection)`` says whether a request carries a valid login session."""

    def __init__(self, app: Any, logged_in: Callable[[HTTPConnection], bool]) -> None:
        self.app = app
        self.logged_in = logged_in

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path.startswith(OWN_AUTH_PREFIXES) or self.logged_in(HTTPConnection(scope)):
            await self.app(scope, receive, send)
            return
        if path == "/" and scope["type"] == "http":
            await self._login_page(scope, receive, send)
            return
        if is_public(path):
            await self.app(scope, receive, send)
            return
        log.info("refused %s without login", path)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": {"error": "Not authenticated", "auth_message": None}})
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body.encode()})


    async def _login_page(self, scope: Scope, receive: Any, send: Any) -> None:
        """The login page without the app's API description, which Gradio embeds in it even
        for a visitor who is not logged in (every endpoint, with the Library's file names as
        the choices of its inputs); no query string (``?all_endpoints=true``), no compression
        (so the page can be read)."""
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"]
        inner = {**scope, "query_string": b"", "headers": headers}
        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            page = _API_INFO.sub(b"window.gradio_api_info = {};</script>", b"".join(body))
            kept = [(k, v) for k, v in start.get("headers", [])
                    if k.lower() != b"content-length"]
            await send({**start, "headers": [*kept,
                                              (b"content-length", str(len(page)).encode())]})
            await send({"type": "http.response.body", "body": page})

        await self.app(inner, receive, rewrite)


# Gradio's template writes it as JSON with "<" escaped, so it holds no "</script>"
_API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.S)


def gradio_session_check(gradio_app: Any) -> Callable[[HTTPConnection], bool]:
    """Gradio's own test of a login (its session cookie names a token it issued)."""

    def logged_in(connection: HTTPConnection) -> bool:
        cookie_id = getattr(gradio_app, "cookie_id", "")
        token = connection.cookies.get(f"access-token-{cookie_id}") or \
            connection.cookies.get(f"access-token-unsecure-{cookie_id}")
        return bool(token) and token in getattr(gradio_app, "tokens", {})

    return logged_in
