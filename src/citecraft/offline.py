"""Keep libraries that like to download things pointed at files we already have."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def llama_static_dir() -> Path | None:
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "_static"


def configure() -> None:
    """tiktoken encodings from llama-index's bundled cache; no telemetry; no hub downloads."""
    static = llama_static_dir()
    if static is not None and "TIKTOKEN_CACHE_DIR" not in os.environ:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(static / "tiktoken_cache")
    if static is not None and "NLTK_DATA" not in os.environ:
        os.environ["NLTK_DATA"] = str(static / "nltk_cache")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Some dependencies (wordllama) call logging.basicConfig(level=INFO) on import, which would
    # print every HTTP request and debug line; a handler on the root logger makes that a no-op.
    import logging

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setLevel(logging.WARNING)
        root.addHandler(handler)
