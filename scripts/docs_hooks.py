"""MkDocs hooks (``mkdocs.yml``): README.md is the site's home page and CHANGELOG.md its
changelog page, and the benchmark plot is served from ``benchmarks/results/``, so that nothing
is kept twice. Links are rewritten for the site: ``docs/x.md`` in those two files becomes
``x.md``, and ``../README.md``, ``../CHANGELOG.md`` and ``../benchmarks/results/*.png`` in a
page of ``docs/`` become ``index.md``, ``changelog.md`` and ``assets/*.png``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
#: site page → the file at the top of the repository that it is made from
PAGES = {"index.md": "README.md", "changelog.md": "CHANGELOG.md"}
_TOP_LINK = re.compile(r"\]\((?:\./)?(docs/|README\.md|CHANGELOG\.md)")
_UP_LINK = re.compile(r"\]\(\.\./(README\.md|CHANGELOG\.md|benchmarks/results/(?=[\w.-]+\.png))")
_SITE = {
    "docs/": "",
    "README.md": "index.md",
    "CHANGELOG.md": "changelog.md",
    "benchmarks/results/": "assets/",
}
PLOTS = ROOT / "benchmarks" / "results"


def top_page(text: str) -> str:
    """A file of the repository's top as a page of the site."""
    return _TOP_LINK.sub(lambda m: "](" + _SITE[m.group(1)], text)


def on_files(files: Files, config: Any) -> Files:
    for page, source in PAGES.items():
        text = (ROOT / source).read_text(encoding="utf-8")
        files.append(File.generated(config, page, content=top_page(text)))
    for plot in sorted(PLOTS.glob("*.png")):
        files.append(File.generated(config, f"assets/{plot.name}", abs_src_path=str(plot)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return _UP_LINK.sub(lambda m: "](" + _SITE[m.group(1)], markdown)
