"""The graph view in a real browser: headless Chromium (Debian's package, installed by
scripts/browser.sh) driven by Playwright, on the page `graphmem serve` serves at /ui and on
the file `graphmem graph --html` writes, for the demo conversation. Screenshots are kept in
tests/artifacts/ (or $GRAPHMEM_ARTIFACTS)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright
from test_server_rest import Live, serve, server_env

from graphmem import Config, Memory
from graphmem.demo import SESSIONS
from graphmem.server import ui
from graphmem.server.auth import add_key

CHROMIUM = os.environ.get("GRAPHMEM_CHROMIUM", "/usr/bin/chromium")
#: as root, on a closed network: no sandbox, no GPU, nothing the browser does by itself
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("GRAPHMEM_ARTIFACTS", ROOT / "tests" / "artifacts"))
QUESTION = "In which city is the company my manager works for based?"
THEN = "2024-04-01"  # before alice moved: Hamburg and sushi hold
LATER = "2024-07-01"  # after: they are superseded
STEP = re.compile(r"\s(-\[([^\]]*)\]->|<-\[([^\]]*)\]-)\s")


@dataclass
class Demo:
    """The demo conversation in a data dir (``root / "gm"``, as ``serve`` wants it), what
    ``Memory`` says of alice's graph, and her graph view written to a file."""

    root: Path
    now: dict[str, Any]  # Memory.graph(include_invalid=True)
    then: dict[str, Any]  # … as of THEN
    later: dict[str, Any]  # … as of LATER
    first: dict[str, Any]  # … as of the earliest event
    last: dict[str, Any]  # … as of the latest event
    times: list[str]  # when relations began or ended
    facts: dict[str, dict[str, Any]]  # fact id → Memory.get
    html: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, embedder: Any, spacy_extractor: Any) -> Demo:
    root = tmp_path_factory.mktemp("ui")
    config = Config.load({"data_dir": root / "gm", "extractor": "offline"})
    with Memory(config, embedder=embedder, offline=spacy_extractor) as m:
        for user, day, text in SESSIONS:
            m.add(text, user_id=user, timestamp=day)
        now = m.graph(user_id="alice", include_invalid=True)
        began = {r["valid_from"] or r["created_at"] for r in now["relations"]}
        times = sorted(began | {r["invalid_at"] for r in now["relations"] if r["invalid_at"]})
        at = (THEN, LATER, times[0], times[-1])
        graphs = [m.graph(user_id="alice", as_of=t, include_invalid=True) for t in at]
        facts = {r["fact_id"]: m.get(r["fact_id"]) for r in now["relations"]}
    html = root / "alice.html"
    cmd = [sys.executable, "-m", "graphmem.cli", "graph", "--user", "alice", "--html", str(html)]
    written = subprocess.run(
        [*cmd, "--data-dir", str(root / "gm")], env=server_env(), capture_output=True, text=True
    )
    assert written.returncode == 0, written.stdout + written.stderr
    return Demo(root, now, *graphs, times, facts, html)


@pytest.fixture(scope="module")
def personal(demo: Demo) -> Iterator[Live]:
    """A keyless server on loopback (a personal one) over the demo's data dir."""
    with serve(demo.root) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `bash scripts/browser.sh` installs it "
            "(GRAPHMEM_SKIP_BROWSER=1 skips the browser tests)"
        )
    with sync_playwright() as p:
        # Playwright gives each launch a fresh temporary profile (--user-data-dir)
        found = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield found
        found.close()


@dataclass
class Tab:
    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextlib.contextmanager
def tab(browser: Browser) -> Iterator[Tab]:
    """A page in a fresh context that records console errors and every request."""
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    t = Tab(context.new_page())
    t.page.on("console", lambda m: t.errors.append(m.text) if m.type == "error" else None)
    t.page.on("pageerror", lambda e: t.errors.append(str(e)))
    t.page.on("request", lambda r: t.requests.append(r.url))
    try:
        yield t
    finally:
        context.close()


def rendered(page: Page, n: int) -> None:
    """Wait until the page has drawn its ``n``-th graph."""
    page.wait_for_selector(f'body[data-renders="{n}"][data-state="ready"]', timeout=60_000)


def drawn(page: Page) -> dict[str, list[str]]:
    return page.evaluate(
        """() => ({
          nodes: graphmem.cy.nodes().map(n => n.id()).sort(),
          edges: graphmem.cy.edges().map(e => e.id()).sort(),
          superseded: graphmem.cy.edges('.superseded').map(e => e.id()).sort(),
          dashed: graphmem.cy.edges().filter(e => e.style('line-style') === 'dashed')
            .map(e => e.id()).sort(),
        })"""
    )


def expected(graph: dict[str, Any], at: str | None = None) -> dict[str, list[str]]:
    """What the page must draw of ``graph``: its entities, its relations, and dashed those
    superseded by ``at`` (by now without it)."""
    gone = sorted(
        r["id"]
        for r in graph["relations"]
        if r["invalid_at"] and (at is None or r["invalid_at"] <= iso_of(at))
    )
    return {
        "nodes": sorted(e["id"] for e in graph["entities"]),
        "edges": sorted(r["id"] for r in graph["relations"]),
        "superseded": gone,
        "dashed": gone,
    }


def iso_of(at: str) -> str:
    return at if "T" in at else at + "T00:00:00+00:00"


def click_entity(page: Page, name: str) -> None:
    """A real mouse click on the node named ``name``."""
    x, y = page.evaluate(
        """name => {
          const node = graphmem.cy.nodes().filter(n => n.data('name') === name)[0];
          const box = document.getElementById('cy').getBoundingClientRect();
          const at = node.renderedPosition();
          return [box.left + at.x, box.top + at.y];
        }""",
        name,
    )
    page.mouse.click(x, y)
    page.wait_for_selector("#entity[data-state=ready]", timeout=60_000)


def entity_facts(demo: Demo, name: str) -> set[str]:
    """The memories of the relations of the entity named ``name``."""
    (node,) = [e["id"] for e in demo.now["entities"] if e["name"] == name]
    ids = {r["fact_id"] for r in demo.now["relations"] if node in (r["source_id"], r["target_id"])}
    return {demo.facts[i]["memory"] for i in ids}


def path_edges(paths: list[str]) -> set[tuple[str, str, str]]:
    """(source, relation, target) of each step of rendered paths."""
    out = set()
    for text in paths:
        parts = STEP.split(text)  # name, arrow, forward rel, backward rel, name, …
        for i in range(0, len(parts) - 1, 4):
            a, forward, backward, b = parts[i], parts[i + 2], parts[i + 3], parts[i + 4]
            out.add((a, forward, b) if forward is not None else (b, backward, a))
    return out


def lit_edges(page: Page) -> set[tuple[str, str, str]]:
    found = page.evaluate(
        """() => graphmem.cy.edges('.path').map(e =>
          [e.source().data('name'), e.data('relationship'), e.target().data('name')])"""
    )
    return {tuple(e) for e in found}


def screenshot(page: Page, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    with capsys.disabled():
        print(f"\nscreenshot: {path}")


@pytest.mark.browser
def test_served_view_draws_the_scope_explains_a_search_and_goes_back_in_time(
    demo: Demo, personal: Live, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(expected(demo.now)["superseded"]) == 2  # Hamburg and sushi, since June
    with tab(browser) as t:
        page = t.page
        page.goto(personal.url + "/ui?user_id=alice")
        rendered(page, 1)
        assert drawn(page) == expected(demo.now)
        assert (
            page.locator("#stats")
            .inner_text()
            .startswith(
                f"{len(demo.now['entities'])} entities · {len(demo.now['relations'])} relations"
            )
        )

        click_entity(page, "Bob")
        shown = page.locator("#entity .fact .memory").all_inner_texts()
        assert set(shown) == entity_facts(demo, "Bob") and shown
        sources = page.locator("#entity .sources li").all_inner_texts()
        assert any("My manager Bob works at Acme Robotics." in s for s in sources)

        page.fill("#query", QUESTION)
        page.click("#search button[type=submit]")
        page.wait_for_selector("#results:not([hidden])", timeout=60_000)
        answer = httpx.post(personal.url + "/search", json={"query": QUESTION, "user_id": "alice"})
        paths = [p for r in answer.json()["results"] for p in r["paths"]]
        assert ("Bob", "WORKS_AT", "Acme Robotics") in path_edges(paths)
        assert lit_edges(page) == path_edges(paths)
        linked = {r["id"] for r in answer.json()["results"] if r["paths"]}
        hit = page.evaluate("graphmem.cy.edges('.hit').map(e => e.data('fact_id'))")
        assert set(hit) == linked & {r["fact_id"] for r in demo.now["relations"]}
        based = [r for r in demo.now["relations"] if r["relationship"] == "BASED_IN"]
        assert based[0]["fact_id"] in hit  # the answer's own relation, beside its path
        assert page.locator("#results .result").count() == len(answer.json()["results"])
        screenshot(page, "graph-view-served.png", capsys)
        for i, r in enumerate(answer.json()["results"]):  # a result alone: its paths
            page.locator("#results .result").nth(i).click()
            assert lit_edges(page) == path_edges(r["paths"])

        page.fill("#asof", THEN)  # a date field: what held on 1 April 2024
        rendered(page, 2)
        assert drawn(page) == expected(demo.then, THEN)
        assert drawn(page) != expected(demo.now)
        page.fill("#asof", LATER)
        rendered(page, 3)
        assert drawn(page) == expected(demo.later, LATER)
        assert drawn(page)["dashed"] and drawn(page) != expected(demo.then, THEN)
        page.click("#asof-now")
        rendered(page, 4)
        assert drawn(page) == expected(demo.now)
        assert t.errors == []
        assert all(u.startswith(personal.url + "/") for u in t.requests), t.requests


@pytest.mark.browser
def test_served_view_asks_for_the_key_of_a_keyed_server(
    demo: Demo, browser: Browser, tmp_path: Path
) -> None:
    shutil.copytree(demo.root / "gm", tmp_path / "gm")
    keys = tmp_path / "keys.json"
    key = add_key(keys, "alice", user_id="alice")
    with serve(tmp_path, "--keys", str(keys)) as live, tab(browser) as t:
        page = t.page
        page.goto(live.url + "/ui")  # the page needs no key; its data does
        page.wait_for_selector("body[data-state=error]")
        assert "needs an API key" in page.locator("#message").inner_text()
        page.fill("#apikey", key)
        page.click("#scope button[type=submit]")
        rendered(page, 1)
        assert drawn(page) == expected(demo.now)  # the key's scope: alice's
        assert page.evaluate("sessionStorage.getItem('graphmem.apiKey')") == key
        assert page.input_value("#apikey") == ""
        unauthorized = [e for e in t.errors if "401" in e]
        assert t.errors == unauthorized  # only the refused first read


@pytest.mark.browser
def test_written_view_works_offline_with_the_same_graph(
    demo: Demo, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    with tab(browser) as t:
        blocked: list[str] = []

        def only_files(route: Route) -> None:
            if route.request.url.startswith("file://"):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        page = t.page
        page.context.route("**/*", only_files)
        page.goto(demo.html.as_uri())
        rendered(page, 1)
        assert drawn(page) == expected(demo.now)
        click_entity(page, "alice")
        shown = page.locator("#entity .fact .memory").all_inner_texts()
        assert set(shown) == entity_facts(demo, "alice")

        page.focus("#asof-slider")  # its steps: each time a relation began or ended, then now
        page.keyboard.press("Home")
        rendered(page, 2)
        assert drawn(page) == expected(demo.first, demo.times[0])
        page.keyboard.press("End")
        rendered(page, 3)
        assert drawn(page) == expected(demo.now)
        page.keyboard.press("ArrowLeft")
        rendered(page, 4)
        assert drawn(page) == expected(demo.last, demo.times[-1])
        assert drawn(page)["dashed"]  # the moves of June, ended as of then
        page.fill("#asof", THEN)
        rendered(page, 5)
        assert drawn(page) == expected(demo.then, THEN)
        page.click("#asof-now")
        rendered(page, 6)

        page.fill("#query", "sushi")  # a file has no search engine: a text match
        page.click("#search button[type=submit]")
        page.wait_for_selector("#results:not([hidden])")
        sushi = {i for i, f in demo.facts.items() if "sushi" in f["memory"]}
        hit = page.evaluate("graphmem.cy.edges('.hit').map(e => e.data('fact_id'))")
        assert set(hit) == sushi and sushi
        screenshot(page, "graph-view-file.png", capsys)
        assert t.errors == []
        assert blocked == [] and t.requests == [demo.html.as_uri()]


def test_served_files_need_no_key_and_allow_no_other_origin(demo: Demo, personal: Live) -> None:
    page = httpx.get(personal.url + "/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    scripts = re.findall(r'<script src="(ui/[^"]+)"', page.text)
    assert [s.split("?")[0] for s in scripts] == ["ui/cytoscape.min.js", "ui/graph.js"]
    for src in scripts:
        got = httpx.get(f"{personal.url}/{src}")
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/javascript")
    assert httpx.get(personal.url + "/ui/graph.html").status_code == 404
    assert httpx.get(personal.url + "/ui/..%2Fauth.py").status_code == 404
    graph = httpx.get(personal.url + "/graph", params={"user_id": "alice", "include_invalid": 1})
    assert graph.json()["relations"] == demo.now["relations"]


def test_a_written_page_is_one_file_whose_data_cannot_end_its_script() -> None:
    hostile = "</script><script>alert(1)</script><!--"
    data = {
        "graph": {"entities": [{"id": "e", "name": hostile}], "relations": [], "as_of": None},
        "facts": {},
        "scope": {"user_id": "alice"},
        "written_at": "2026-01-01T00:00:00+00:00",
    }
    page = ui.standalone(data)
    assert page.count("</script>") == page.count("<script") == 3
    assert "<!--" not in page and hostile not in page
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"(?!data:)", page)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_the_vendored_library_is_the_pinned_one_and_ships_in_the_wheel() -> None:
    script = (ROOT / "scripts" / "vendor_ui.sh").read_text()
    (version,) = re.findall(r"^VERSION=(\S+)$", script, re.MULTILINE)
    library = ui.asset("cytoscape.min.js")
    assert f'"{version}"' in library and "The Cytoscape Consortium" in library[:200]
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = doc["tool"]["setuptools"]["package-data"]["graphmem"]
    for name in [*ui.ASSETS, "graph.html"]:
        assert any(fnmatch(f"server/ui/{name}", glob) for glob in shipped), name
