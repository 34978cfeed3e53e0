from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphmem import Config, Memory
from graphmem.embed import OnnxEmbedder
from graphmem.extract import SpacyExtractor


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("GRAPHMEM_SKIP_NEO4J") == "1":
        skip = pytest.mark.skip(reason="GRAPHMEM_SKIP_NEO4J=1")
        for item in items:
            if "neo4j" in item.keywords:
                item.add_marker(skip)
