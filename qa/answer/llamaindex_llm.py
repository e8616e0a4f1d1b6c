"""Any LlamaIndex LLM (``llama_index.core.llms.LLM``: OpenAI, Ollama, vLLM, a ``CustomLLM`` of
your own...) as the answering model, with the same surface as :class:`qa.answer.llm.ChatModel`:
the same prompts, citation parsing, claim checks and repair run on its replies. Failures become
:class:`LLMError`; calls are logged with model, tokens and latency."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from typing import Any

from qa.answer.llm import Message, Usage
from qa.errors import LLMError
from qa.offline import count_tokens

log = logging.getLogger(__name__)


class LlamaIndexChat:
    """Chat completions through a LlamaIndex ``LLM`` object (its ``chat`` and ``stream_chat``)."""

    def __init__(self, llm: Any) -> None:
        from llama_index.core.llms import LLM

        if not isinstance(llm, LLM):
            raise TypeError(f"llm must be a llama_index.core.llms.LLM, not {type(llm).__name__}")
        self.llm = llm
        metadata = llm.metadata
        self.model = str(getattr(metadata, "model_name", "") or type(llm).__name__)
        self.max_tokens = int(getattr(metadata, "num_output", 0) or 512)
        self.base_url = f"llama-index:{type(llm).__name__}"

    def _messages(self, messages: Sequence[Message]) -> list[Any]:
        from llama_index.core.llms import ChatMessage

        return [ChatMessage(role=m.get("role", "user"), content=m.get("content", ""))
                for m in messages]

    def _usage(self, messages: Sequence[Message], text: str, raw: Any, started: float,
               finish: str | None) -> Usage:
        usage = raw.get("usage") if isinstance(raw, dict) else getattr(raw, "usage", None)

        def field(name: str) -> int | None:
            value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
            return int(value) if isinstance(value, int) else None

        prompt = "\n".join(m.get("content", "") for m in messages)
        result = Usage(field("prompt_tokens") or count_tokens(prompt),
                       field("completion_tokens") or count_tokens(text),
                       (time.perf_counter() - started) * 1000, finish)
        log.info("llm call model=%s (llama-index %s) prompt_tokens=%s completion_tokens=%s "
                 "latency_ms=%.0f", self.model, type(self.llm).__name__, result.prompt_tokens,
                 result.completion_tokens, result.latency_ms)
        return result

    def _failed(self, exc: Exception) -> LLMError:
        return LLMError(f"the LlamaIndex LLM {type(self.llm).__name__} ({self.model}) failed: "
                        f"{type(exc).__name__}: {exc}")

    def _not_empty(self, text: str) -> str:
        if not text.strip():
            raise LLMError(f"the LlamaIndex LLM {type(self.llm).__name__} returned an empty "
                           "answer")
        return text

    def complete(self, messages: Sequence[Message]) -> tuple[str, Usage]:
        started = time.perf_counter()
        try:
            response = self.llm.chat(self._messages(messages))
        except Exception as exc:
            raise self._failed(exc) from exc
        text = self._not_empty(response.message.content or "")
        return text, self._usage(messages, text, response.raw, started, "stop")

    def stream(self, messages: Sequence[Message]) -> Generator[str, None, Usage]:
        started = time.perf_counter()
        pieces: list[str] = []
        raw: Any = None
        try:
            for event in self.llm.stream_chat(self._messages(messages)):
                raw = event.raw or raw
                if event.delta:
                    pieces.append(event.delta)
                    yield event.delta
        except Exception as exc:
            raise self._failed(exc) from exc
        text = self._not_empty("".join(pieces))
        return self._usage(messages, text, raw, started, "stop")
