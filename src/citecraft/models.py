"""LLM backends: any OpenAI-compatible chat model, and the offline extractive engine's name.

The `openai` package does the HTTP work: bounded retries with exponential backoff
on 429/5xx and connection errors, and a per-request timeout.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, ModelError
from .settings import Settings

EXTRACTIVE = "extractive"

# USD per million tokens (input, output), for the cost estimate; unknown models get None.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    estimated_prompt_tokens: int | None = None  # counted with tiktoken before the call

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        if other.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + other.cost_usd
        if other.estimated_prompt_tokens is not None:
            self.estimated_prompt_tokens = (self.estimated_prompt_tokens or 0) + other.estimated_prompt_tokens

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
        }


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    price = PRICES.get(model) or next((p for name, p in PRICES.items() if model.startswith(name + "-")), None)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def count_tokens(text: str) -> int:
    from .chunking import token_counter

    return len(token_counter()(text))


@dataclass
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""


class ChatModel:
    """A chat model behind an OpenAI-compatible API (OpenAI, vLLM, Ollama, llama.cpp, ...)."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        temperature: float = 0.0,
    ):
        from openai import OpenAI

        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if not base_url:
                raise ConfigError(
                    f"model {model!r} needs OPENAI_API_KEY, or --base-url for a local server",
                    "or drop --model to use the offline extractive engine",
                )
            key = "not-needed"  # local servers usually ignore the key, the client insists on one
        self.name = model
        self.temperature = temperature
        self.client = OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    def complete(
        self, prompt: str, on_token: Callable[[str], None] | None = None, system: str | None = None
    ) -> Completion:
        """One chat completion; streams tokens to `on_token` when given."""
        import openai

        messages: Any = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}
        ]
        estimated = count_tokens(prompt + (system or ""))
        try:
            if on_token is None:
                response = self.client.chat.completions.create(
                    model=self.name, messages=messages, temperature=self.temperature
                )
                if not response.choices:
                    raise ModelError(f"model {self.name} returned no choices")
                text = response.choices[0].message.content or ""
                usage = response.usage
                prompt_tokens = usage.prompt_tokens if usage else estimated
                completion_tokens = usage.completion_tokens if usage else count_tokens(text)
            else:
                text, prompt_tokens, completion_tokens = self._stream(messages, on_token, estimated)
        except openai.APITimeoutError as exc:
            raise ModelError(
                f"model {self.name} timed out", "raise CITECRAFT_LLM__TIMEOUT or try again"
            ) from exc
        except openai.RateLimitError as exc:
            raise ModelError(
                f"model {self.name} is rate-limited (429) after retries", "wait and try again"
            ) from exc
        except openai.AuthenticationError as exc:
            raise ModelError(f"model {self.name}: authentication failed", "check OPENAI_API_KEY") from exc
        except openai.NotFoundError as exc:
            raise ModelError(f"model {self.name} not found on the server", "check --model") from exc
        except openai.APIStatusError as exc:
            raise ModelError(f"model {self.name} failed with HTTP {exc.status_code}") from exc
        except openai.APIConnectionError as exc:
            raise ModelError(
                f"cannot connect to the model server for {self.name}", "check --base-url"
            ) from exc
        except (ValueError, TypeError, AttributeError, openai.APIResponseValidationError) as exc:
            # malformed JSON, or JSON that is not a chat completion
            raise ModelError(
                f"model {self.name} sent a malformed response ({exc.__class__.__name__})"
            ) from exc
        cost = estimate_cost(self.name, prompt_tokens, completion_tokens)
        return Completion(text, Usage(prompt_tokens, completion_tokens, cost, estimated), self.name)

    def _stream(
        self, messages: list[dict[str, str]], on_token: Callable[[str], None], estimated: int
    ) -> tuple[str, int, int]:
        stream = self.client.chat.completions.create(
            model=self.name,
            messages=messages,
            temperature=self.temperature,
            stream=True,  # type: ignore[call-overload]
            stream_options={"include_usage": True},
        )
        parts: list[str] = []
        prompt_tokens, completion_tokens = estimated, None
        for chunk in stream:
            if chunk.usage is not None:
                prompt_tokens, completion_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    parts.append(choice.delta.content)
                    on_token(choice.delta.content)
        text = "".join(parts)
        return text, prompt_tokens, completion_tokens if completion_tokens is not None else count_tokens(text)


def get_chat_model(settings: Settings, model: str | None = None) -> ChatModel | None:
    """The configured chat model, or None for the offline extractive engine."""
    name = model or settings.resolved_model()
    if not name or name == EXTRACTIVE:
        return None
    llm = settings.llm
    return ChatModel(
        name,
        base_url=llm.base_url,
        api_key=llm.api_key,
        timeout=llm.timeout,
        max_retries=llm.max_retries,
        temperature=llm.temperature,
    )
