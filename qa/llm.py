"""A thin wrapper around an injected ``openai`` client: one place that times, logs and turns
failures into :class:`LLMError`. Works with any OpenAI-compatible chat-completions endpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from qa.errors import LLMError

log = logging.getLogger(__name__)

Message = dict[str, str]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float


def _estimate_tokens(text: str) -> int:
    from qa.offline import tiktoken_encoding

    return len(tiktoken_encoding().encode(text))


def _describe(exc: Exception, base_url: str) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return f"the LLM endpoint {base_url} did not answer in time"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach the LLM endpoint {base_url}"
    if isinstance(exc, openai.AuthenticationError):
        return f"the LLM endpoint {base_url} refused the API key (check OPENAI_API_KEY)"
    if isinstance(exc, openai.NotFoundError):
        return f"the LLM endpoint {base_url} does not know that model: {exc}"
    if isinstance(exc, openai.APIStatusError):
        return f"the LLM endpoint {base_url} answered HTTP {exc.status_code}: {exc.message}"
    return f"the LLM call failed: {exc}"


class ChatModel:
    """Chat completions, streamed or not, with an explicit timeout and the client's own retries."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        temperature: float = 0.0,
        max_tokens: int = 512,
        client: Any = None,
    ) -> None:
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        if client is None:
            from openai import OpenAI

            client = OpenAI(base_url=base_url, api_key=api_key or "not-needed",
                            timeout=timeout, max_retries=max_retries)
        self.client = client
        self.base_url = str(getattr(client, "base_url", base_url or "https://api.openai.com/v1"))

    def _log(self, usage: Usage, streamed: bool) -> None:
        log.info(
            "llm call model=%s stream=%s prompt_tokens=%s completion_tokens=%s latency_ms=%.0f",
            self.model, streamed, usage.prompt_tokens, usage.completion_tokens, usage.latency_ms,
        )

    def complete(self, messages: Sequence[Message]) -> tuple[str, Usage]:
        started = time.perf_counter()
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=list(messages), temperature=self.temperature,
                max_tokens=self.max_tokens, stream=False,
            )
            text = response.choices[0].message.content or ""
        except LLMError:
            raise
        except Exception as exc:
            raise LLMError(_describe(exc, self.base_url)) from exc
        u = getattr(response, "usage", None)
        usage = Usage(
            getattr(u, "prompt_tokens", None) or _estimate_tokens(_joined(messages)),
            getattr(u, "completion_tokens", None) or _estimate_tokens(text),
            (time.perf_counter() - started) * 1000,
        )
        self._log(usage, streamed=False)
        return text, usage

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """Yields text deltas as they arrive."""
        started = time.perf_counter()
        pieces: list[str] = []
        usage_obj: Any = None
        finish: str | None = None
        try:
            stream = self.client.chat.completions.create(
                model=self.model, messages=list(messages), temperature=self.temperature,
                max_tokens=self.max_tokens, stream=True,
            )
            for event in stream:
                if getattr(event, "usage", None):
                    usage_obj = event.usage
                if not event.choices:
                    continue
                finish = event.choices[0].finish_reason or finish
                delta = event.choices[0].delta
                piece = getattr(delta, "content", None) or ""
                if piece:
                    pieces.append(piece)
                    yield piece
        except LLMError:
            raise
        except Exception as exc:
            raise LLMError(_describe(exc, self.base_url)) from exc
        if finish is None:
            raise LLMError(f"the answer stream from {self.base_url} broke off before the end")
        if finish == "length":
            log.warning("llm answer cut at max_tokens=%d", self.max_tokens)
        text = "".join(pieces)
        self._log(Usage(
            getattr(usage_obj, "prompt_tokens", None) or _estimate_tokens(_joined(messages)),
            getattr(usage_obj, "completion_tokens", None) or _estimate_tokens(text),
            (time.perf_counter() - started) * 1000,
        ), streamed=True)


def _joined(messages: Sequence[Message]) -> str:
    return "\n".join(m.get("content", "") for m in messages)
