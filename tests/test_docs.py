"""The documentation keeps up with the code: every setting documented, every page in the
site's navigation, every relative link resolving, one version number everywhere."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import graphmem
from graphmem import Config, SearchConfig

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: site pages that scripts/docs_hooks.py makes from files at the top of the repository
GENERATED = {"index.md", "changelog.md"}
_ROW_KEY = re.compile(r"^\| `(\w+)`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def documented(page: str, header: str) -> set[str]:
    """The keys of a page's tables whose first column is headed ``header``: the first cell of
    each row, in backticks."""
    keys: set[str] = set()
    table = False
    for line in (DOCS / page).read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            table = False
        elif line.startswith(f"| {header} |"):
            table = True
        elif table and (key := _ROW_KEY.match(line)):
            keys.add(key.group(1))
    return keys


@pytest.mark.parametrize(
    ("page", "header", "fields"),
    [
        ("configuration.md", "key (`GRAPHMEM_…`)", set(Config.model_fields)),
        ("retrieval-and-scoring.md", "`SearchConfig` field", set(SearchConfig.model_fields)),
    ],
)
def test_every_setting_is_documented(page: str, header: str, fields: set[str]) -> None:
    keys = documented(page, header)
    assert fields - keys == set(), f"settings missing from docs/{page}"
    assert keys - fields == set(), f"docs/{page} documents settings that do not exist"


def test_every_page_is_in_the_navigation() -> None:
    nav = set(re.findall(r":\s*([\w./-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M))
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages - nav == set(), "pages missing from mkdocs.yml's nav"
    assert nav - pages - GENERATED == set(), "nav entries without a page"
    assert not GENERATED & pages, "these pages are made from README.md and CHANGELOG.md"


@pytest.mark.parametrize(
    "path",
    [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks/README.md", *DOCS.glob("*.md")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_relative_links_resolve(path: Path) -> None:
    """As a reader of the repository sees them (the site build checks its own links)."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        assert (path.parent / target.split("#")[0]).exists(), f"{target} in {path.name}"


def test_one_version_everywhere() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    newest = re.search(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.M)
    assert newest is not None
    printed = subprocess.run(
        [sys.executable, "-m", "graphmem.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert project == graphmem.__version__ == newest.group(1)
    assert printed.strip() == f"graphmem {project}"
