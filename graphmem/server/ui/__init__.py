"""The graph view: one page (``graph.html``, ``graph.css``, ``graph.js``) that draws a scope's
entities and relations with Cytoscape.js (``cytoscape.min.js``, MIT, its licence in the file's
header; vendored at a pinned version by ``scripts/vendor_ui.sh``).

``graphmem serve`` serves it at ``/ui`` (:func:`page`, its files at ``/ui/<name>``, its data
read from the REST routes with the caller's API key); ``graphmem graph --html`` writes it as
one self-contained file with a scope's data inlined (:func:`standalone`), whose content
security policy lets it load nothing at all. Nothing is fetched from elsewhere at run time.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ...errors import NotFoundError
from ...models import iso, now

if TYPE_CHECKING:
    from ...memory import Memory

#: the files the page loads, by name, and their media types
ASSETS = {
    "cytoscape.min.js": "text/javascript",
    "graph.js": "text/javascript",
    "graph.css": "text/css",
}
SCRIPTS = ("cytoscape.min.js", "graph.js")
#: the one style element the drawing library adds to a page (allowed by its hash)
LIBRARY_STYLE = ".__________cytoscape_container { position: relative; }"


@cache
def asset(name: str) -> str:
    """The text of one of the page's files (``ASSETS``)."""
    if name not in ASSETS and name != "graph.html":
        raise KeyError(name)
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


@cache
def version(name: str) -> str:
    """A short hash of a file's content: its URL changes when it does (cached for long)."""
    return hashlib.sha256(asset(name).encode()).hexdigest()[:12]


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


#: the served page may load its own files and call its own server, nothing else
SERVED_POLICY = (
    f"default-src 'none'; script-src 'self'; style-src 'self' {_digest(LIBRARY_STYLE)}; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def page() -> str:
    """The page ``graphmem serve`` serves at ``/ui``: its files are linked from ``ui/``."""
    style = f'<link rel="stylesheet" href="ui/graph.css?v={version("graph.css")}">'
    scripts = "\n".join(f'<script src="ui/{n}?v={version(n)}"></script>' for n in SCRIPTS)
    return _fill("", style, scripts)


def standalone(data: Mapping[str, Any]) -> str:
    """The page as one file with ``data`` inlined (as :func:`file_data` returns it: ``graph``,
    a ``Memory.graph`` with ``include_invalid``; ``facts``, memory id → ``Memory.get``;
    ``scope``; ``limit``; ``written_at``).
    Its policy allows its own inline scripts and style (by hash) and forbids every request."""
    css = asset("graph.css")
    scripts = [asset(n) for n in SCRIPTS]
    policy = (
        "default-src 'none'; "
        f"script-src {' '.join(_digest(s) for s in scripts)}; "
        f"style-src {_digest(css)} {_digest(LIBRARY_STYLE)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    body = f'<script type="application/json" id="graphmem-data">{_json(data)}</script>\n'
    body += "\n".join(f"<script>{s}</script>" for s in scripts)
    csp = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    return _fill(csp, f"<style>{css}</style>", body)


def file_data(memory: Memory, *, limit: int = 1000, **scope: str | None) -> dict[str, Any]:
    """What a written page holds of a scope: its graph with the superseded relations (at most
    ``limit``), and the memory of each relation with its sources."""
    graph = memory.graph(include_invalid=True, limit=limit, **scope)
    facts = {}
    for fact_id in dict.fromkeys(r["fact_id"] for r in graph["relations"]):
        with contextlib.suppress(NotFoundError):  # deleted since the graph was read
            facts[fact_id] = memory.get(fact_id)
    named = {k: v for k, v in scope.items() if v is not None}
    return {
        "graph": graph,
        "facts": facts,
        "scope": named,
        "limit": limit,
        "written_at": iso(now()),
    }


def _fill(csp: str, style: str, scripts: str) -> str:
    html = asset("graph.html")
    for marker, text in (("<!--csp-->", csp), ("<!--style-->", style), ("<!--scripts-->", scripts)):
        html = html.replace(marker, text, 1)
    return html


def _json(data: Mapping[str, Any]) -> str:
    """JSON that cannot end its ``<script>`` element nor open a comment in it."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


__all__ = ["ASSETS", "SERVED_POLICY", "asset", "file_data", "page", "standalone"]
