"""The servers' request guards, as ASGI middleware (they cover mounted apps too): the request
size limit, and a keyless server's loopback-only rule for the names a request is sent to."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import is_loopback


class BodyLimit:
    """Reads a request's body (at most ``max_bytes``) before the app does: a larger one is
    answered 413 at once, by its ``Content-Length`` or as soon as it grows past the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_bytes:
            await self._refuse(send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(send)
                return
        first: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay() -> Message:
            return first.pop() if first else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        detail = f"the request is larger than {self.max_bytes} bytes"
        await refuse(send, 413, "PayloadTooLarge", detail)


class LoopbackNames:
    """A server without API keys answers only requests sent to a loopback name (``Host``)
    from a loopback page or none (``Origin``): a web page the user visits cannot reach it
    through DNS rebinding (its ``Host`` is the page's name) or a cross-site request (its
    ``Origin``), although the user's browser runs on this machine."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            host = urlsplit("//" + headers.get(b"host", b"").decode("latin-1")).hostname
            origin = headers.get(b"origin")
            sent_from = urlsplit(origin.decode("latin-1")).hostname if origin else "localhost"
            if not (is_loopback(host) and is_loopback(sent_from)):
                detail = "a server without API keys answers requests to and from loopback only"
                await refuse(send, 403, "Forbidden", detail)
                return
        await self.app(scope, receive, send)


async def refuse(send: Send, status: int, error: str, detail: str) -> None:
    """Answer with the servers' error body, ``{"error", "detail"}``, and close."""
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
