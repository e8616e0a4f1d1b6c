"""A thin wrapper around an injected ``openai`` client: one place that times, logs and turns
failures into :class:`LLMError`. Works with any OpenAI-compatible chat-completions endpoint."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from qa.errors import ConfigError, ContextTooLong, LLMError
from qa.offline import count_tokens
from qa.settings import Settings

log = logging.getLogger(__name__)

Message = dict[str, str]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    finish_reason: str | None = None  # "length": the answer was cut at max_tokens


_CONTEXT_WORDS = re.compile(
    r"context[_ ]length|maximum context|context window|context size|too many tokens|"
    r"prompt is too long|exceeds? the available context", re.I)


def _upstream_message(exc: Any) -> str:
    """The endpoint's own words from an error body (``{"error": {"message": ...}}``)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return str(getattr(exc, "message", exc))


def _failure(exc: Exception, base_url: str, timeout: float) -> LLMError:
    """The openai client's exception as an :class:`LLMError` with a readable message and the
    status worth passing on to our own API's clients."""
    import httpx
    import openai

    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return LLMError(f"the LLM endpoint {base_url} did not answer within {timeout:g} s",
                        status=504)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"cannot reach the LLM endpoint {base_url}", status=503)
    if isinstance(exc, httpx.TransportError):  # raised while reading a stream
        return LLMError(f"the answer stream from {base_url} broke off before the end ({exc})",
                        status=502)
    if isinstance(exc, openai.AuthenticationError):
        return LLMError(f"the LLM endpoint {base_url} refused the API key (check "
                        "QA_LLM_API_KEY or OPENAI_API_KEY)", status=502)
    if isinstance(exc, openai.NotFoundError):
        return LLMError(f"the LLM endpoint {base_url} does not know that model: "
                        f"{_upstream_message(exc)}", status=502)
    if isinstance(exc, openai.RateLimitError):
        retry = exc.response.headers.get("retry-after")
        wait = f"; it asks to retry after {retry} s" if retry else ""
        return LLMError(f"the LLM endpoint {base_url} is rate-limiting requests (HTTP 429: "
                        f"{_upstream_message(exc)}){wait}", status=429, retry_after=retry)
    if isinstance(exc, openai.APIStatusError):
        code = str(getattr(exc, "code", "") or "")
        said = _upstream_message(exc)
        if exc.status_code in (400, 413, 422) and (
                code == "context_length_exceeded" or _CONTEXT_WORDS.search(said)):
            return ContextTooLong(f"the prompt is too long for the model at {base_url}: {said}")
        status = 503 if exc.status_code >= 500 else 502
        return LLMError(f"the LLM endpoint {base_url} answered HTTP {exc.status_code}: {said}",
                        status=status)
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return LLMError(f"the LLM endpoint {base_url} sent a malformed response: {exc}")
    if isinstance(exc, openai.APIError):  # e.g. an error event inside a stream
        return LLMError(f"the LLM endpoint {base_url} failed: {_upstream_message(exc)}")
    return LLMError(f"the LLM call to {base_url} failed: {exc}")


class Chat(Protocol):
    """What answering needs of a model: :class:`ChatModel` (OpenAI protocol) or
    :class:`qa.answer.llamaindex_llm.LlamaIndexChat` (any LlamaIndex LLM)."""

    model: str
    max_tokens: int

    def complete(self, messages: Sequence[Message]) -> tuple[str, Usage]: ...

    def stream(self, messages: Sequence[Message]) -> Generator[str, None, Usage]: ...


class ChatModel:
    """Chat completions, streamed or not, with an explicit timeout and the client's own retries.

    Retries are the openai client's alone (connection errors, timeouts, 408/409/429/5xx, with
    exponential backoff that honours ``Retry-After``); nothing here adds a second layer. So the
    longest a failing call takes is ``timeout * (max_retries + 1)`` plus the backoff; a stream
    that keeps trickling is cut after ``answer_limit`` seconds in all.
    """

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
        answer_limit: float = 180.0,
        client: Any = None,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.answer_limit = answer_limit
        self.temperature = temperature
        self.max_tokens = max_tokens
        if client is None:
            from openai import OpenAI

            client = OpenAI(base_url=base_url, api_key=api_key or "not-needed",
                            timeout=timeout, max_retries=max_retries)
        self.client = client
        self.base_url = str(getattr(client, "base_url", base_url or "https://api.openai.com/v1"))

    @classmethod
    def from_settings(cls, s: Settings) -> ChatModel:
        """The model the ``QA_LLM_*`` settings name; :class:`ConfigError` when none is set."""
        if not s.llm_configured:
            raise ConfigError("no LLM endpoint: set QA_LLM_BASE_URL or OPENAI_API_KEY")
        return cls(s.llm_model, base_url=s.base_url, api_key=s.llm_key, timeout=s.llm_timeout,
                   max_retries=s.llm_max_retries, temperature=s.llm_temperature,
                   max_tokens=s.llm_max_tokens, answer_limit=s.llm_answer_limit)

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
        except Exception as exc:
            raise _failure(exc, self.base_url, self.timeout) from exc
        choices = getattr(response, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise LLMError(f"the LLM endpoint {self.base_url} returned no answer (no choices)")
        text = choices[0].message.content or ""
        finish = choices[0].finish_reason
        if not text.strip():
            raise LLMError(_empty(self.base_url, finish))
        if finish == "length":
            log.warning("llm answer cut at max_tokens=%d", self.max_tokens)
        u = getattr(response, "usage", None)
        usage = Usage(
            getattr(u, "prompt_tokens", None) or count_tokens(_joined(messages)),
            getattr(u, "completion_tokens", None) or count_tokens(text),
            (time.perf_counter() - started) * 1000, finish,
        )
        self._log(usage, streamed=False)
        return text, usage

    def stream(self, messages: Sequence[Message]) -> Generator[str, None, Usage]:
        """Yields text deltas as they arrive; returns the :class:`Usage` (with the finish
        reason). A stream that breaks off, or runs past ``answer_limit``, raises LLMError."""
        started = time.perf_counter()
        pieces: list[str] = []
        usage_obj: Any = None
        finish: str | None = None
        stream: Any = None
        try:
            stream = self.client.chat.completions.create(
                model=self.model, messages=list(messages), temperature=self.temperature,
                max_tokens=self.max_tokens, stream=True,
            )
            for event in stream:
                if time.perf_counter() - started > self.answer_limit:
                    raise LLMError(f"the answer from {self.base_url} took more than "
                                   f"{self.answer_limit:g} s and was cut off", status=504)
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
            raise _failure(exc, self.base_url, self.timeout) from exc
        finally:  # also when the caller stops listening: the connection is closed at once
            if stream is not None:
                stream.close()
        if finish is None:
            raise LLMError(f"the answer stream from {self.base_url} broke off before the end"
                           f"{'' if pieces else ' (it sent no answer)'}")
        text = "".join(pieces)
        if not text.strip():
            raise LLMError(_empty(self.base_url, finish))
        if finish == "length":
            log.warning("llm answer cut at max_tokens=%d", self.max_tokens)
        usage = Usage(
            getattr(usage_obj, "prompt_tokens", None) or count_tokens(_joined(messages)),
            getattr(usage_obj, "completion_tokens", None) or count_tokens(text),
            (time.perf_counter() - started) * 1000, finish,
        )
        self._log(usage, streamed=True)
        return usage


def _empty(base_url: str, finish: str | None) -> str:
    return f"the LLM endpoint {base_url} returned an empty answer (finish reason: {finish})"


def _joined(messages: Sequence[Message]) -> str:
    return "\n".join(m.get("content", "") for m in messages)
