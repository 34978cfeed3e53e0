from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from sites import Site, chroma_run

from graphmem import Config, Memory
from graphmem.embed import OnnxEmbedder
from graphmem.extract import SpacyExtractor

# property-based profiles: ``ci`` (the default, bounded) and ``soak`` (pytest
# --hypothesis-profile=soak), for tests/test_properties.py
_PROFILE = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=40, stateful_step_count=15, **_PROFILE)
settings.register_profile("soak", max_examples=400, stateful_step_count=30, **_PROFILE)
settings.load_profile("ci")


def model_dir() -> Path:
    return Config.load().model_dir()


@pytest.fixture(scope="session")
def embedder() -> OnnxEmbedder:
    """The real default embedding model in ONNX (installed by `make model`)."""
    return OnnxEmbedder(model_dir(), name=Config.load().embed_model)


@pytest.fixture(scope="session")
def spacy_extractor() -> SpacyExtractor:
    return SpacyExtractor(Config.load().spacy_model)


@pytest.fixture()
def config(tmp_path: Path) -> Config:
    return Config.load({"data_dir": tmp_path / "gm", "extractor": "offline"})


@pytest.fixture()
def memory(
    config: Config, embedder: OnnxEmbedder, spacy_extractor: SpacyExtractor
) -> Iterator[Memory]:
    m = Memory(config, embedder=embedder, offline=spacy_extractor)
    yield m
    m.close()


@pytest.fixture(params=["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def any_memory(
    request: pytest.FixtureRequest, config: Config, embedder: Any, spacy_extractor: Any
) -> Iterator[Memory]:
    """A memory on each graph store (Neo4j is shared: tests use ids unique to the run)."""
    cfg = config.model_copy(update={"graph_store": request.param})
    with Memory(cfg, embedder=embedder, offline=spacy_extractor) as m:
        yield m


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real `chroma run` server on a free port (its port); tests keep apart by collection."""
    with chroma_run(tmp_path_factory.mktemp("chroma-server")) as port:
        yield port


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.chroma_server)])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Site:
    """Vector stores in an embedded data dir, then on the `chroma run` server."""
    port = request.getfixturevalue("chroma_server") if request.param == "server" else None
    return Site(tmp_path, port)


LLM_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "llm.sh"


def _llm_script(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(LLM_SCRIPT), command], capture_output=True, text=True, env=os.environ
    )


@pytest.fixture(scope="session")
def llm_server() -> Iterator[str]:
    """The local OpenAI-compatible server of scripts/llm.sh (its base URL), started here
    unless it already answers (``make test`` starts it) and then stopped here. The first
    start on a machine builds it (minutes); a server that cannot start fails the tests
    (``GRAPHMEM_SKIP_LLM=1`` skips them)."""
    running = _llm_script("status").returncode == 0
    if not running:
        started = _llm_script("start")
        if started.returncode != 0:
            pytest.fail(f"scripts/llm.sh start failed:\n{started.stdout}{started.stderr}")
    yield f"http://127.0.0.1:{os.environ.get('GRAPHMEM_LLM_PORT', '8089')}/v1"
    if not running:
        _llm_script("stop")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = (
        ("neo4j", "GRAPHMEM_SKIP_NEO4J"),
        ("llm", "GRAPHMEM_SKIP_LLM"),
        ("browser", "GRAPHMEM_SKIP_BROWSER"),
    )
    for marker, env in skips:
        if os.environ.get(env) == "1":
            skip = pytest.mark.skip(reason=f"{env}=1")
            for item in items:
                if marker in item.keywords:
                    item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    props = sys.modules.get("test_properties") or sys.modules.get("tests.test_properties")
    if props is not None and props.STATS["examples"]:
        s = props.STATS
        terminalreporter.write_line(
            f"property-based suite: {s['examples']} examples, {s['steps']} public calls "
            f"({s['refused']} refused with a GraphMemError)"
        )
