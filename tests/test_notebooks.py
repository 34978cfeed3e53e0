"""Notebooks are documentation that must run: execute them with nbclient."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run(name: str) -> None:
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()


def test_quickstart() -> None:
    run("quickstart.ipynb")


def test_multi_hop() -> None:
    run("multi_hop.ipynb")
