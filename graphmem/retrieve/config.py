"""Declarative search configuration with named presets."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SearchConfig(BaseModel):
    """What the retriever does. ``graph_weight=0`` turns it into dense-only search."""

    model_config = ConfigDict(frozen=True)

    name: str = "hybrid"
    dense_k: int = Field(default=30, ge=1, le=1000)
    dense_weight: float = Field(default=1.0, ge=0)
    graph_weight: float = Field(default=0.35, ge=0)
    hops: int = Field(default=2, ge=0, le=4)
    bridge_hits: int = Field(default=3, ge=0, le=50)
    max_edges: int = Field(default=400, ge=1)
    hub_cap: int = Field(default=40, ge=1)
    damping: float = Field(default=0.85, gt=0, lt=1)


PRESETS: dict[str, SearchConfig] = {
    "dense": SearchConfig(name="dense", graph_weight=0.0, hops=0, bridge_hits=0),
    "hybrid": SearchConfig(),
}
