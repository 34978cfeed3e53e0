"""The graph view's routes: the page at ``/ui`` and its files at ``/ui/<name>``. They need no
API key (they hold no data); the page asks for one and reads the data through the REST
routes, which do."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from ...errors import NotFoundError
from . import ASSETS, SERVED_POLICY, asset, page

router = APIRouter(include_in_schema=False)
_HEADERS = {
    "Content-Security-Policy": SERVED_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.api_route("/ui", methods=["GET", "HEAD"])
async def ui_page() -> HTMLResponse:
    """The graph view (``?user_id=…`` names the scope to draw)."""
    return HTMLResponse(page(), headers={**_HEADERS, "Cache-Control": "no-cache"})


@router.api_route("/ui/{name}", methods=["GET", "HEAD"])
async def ui_file(name: str) -> Response:
    """One of the page's files; their URLs carry a hash of their content, so they are kept."""
    if name not in ASSETS:
        raise NotFoundError(f"no file {name!r} in the graph view")
    cache = {"Cache-Control": "public, max-age=86400"}
    return Response(asset(name), media_type=ASSETS[name], headers={**_HEADERS, **cache})
