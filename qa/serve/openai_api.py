"""The assistant over the OpenAI chat-completions protocol: ``GET /v1/models`` and
``POST /v1/chat/completions`` (plain JSON or server-sent events), so any OpenAI client or chat UI
can ask the articles. Citations and claim labels ride along in extra fields that OpenAI clients
ignore (``choices[0].message.citations``; in a stream, the last chunk), and, on request, as a
numbered "Sources" list at the end of the text.

The routes are a FastAPI router around one :class:`Assistant`; ``app.py`` mounts it next to the
Gradio UI on the same port. Nothing here keeps per-user state: the conversation comes in with
every request.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, Literal

from fastapi import Request
from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from qa.assistant import Assistant
from qa.errors import IndexBuilding, IndexUnavailable, LLMError, QAError
from qa.offline import count_tokens
from qa.types import Answer

log = logging.getLogger(__name__)

MODELS = {"qa-extractive": "extractive", "qa-llm": "llm"}
SOURCES_HEADING = "Sources:"
MAX_BODY_BYTES = 2_000_000  # a long conversation fits; anything bigger is refused unread


# -- the request, checked at the edge ---------------------------------------------------------
class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # [{"type": "text", "text": ...}, ...]
            return " ".join(str(p.get("text", "")) for p in self.content
                            if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, top_p...: accepted, not used

    model: str
    messages: list[ChatMessage]
    stream: StrictBool = False
    sources_in_text: StrictBool | None = None  # our extension: append a numbered Sources list
    n: StrictInt = 1  # one answer per request: others are refused as OpenAI refuses bad values

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only n=1 is supported (one cited answer per request)")
        return value

    @model_validator(mode="after")
    def _no_tools(self) -> ChatRequest:
        for name in ("tools", "functions", "tool_choice", "function_call"):
            if (self.model_extra or {}).get(name):
                raise ValueError(f"`{name}` is not supported: the assistant answers from the "
                                 "articles only and calls no tools")
        return self


class APIError(Exception):
    """An error sent in OpenAI's shape: ``{"error": {"message", "type", "code"}}``."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "code": self.code,
                          "param": None}}


def from_qa_error(exc: QAError) -> APIError:
    if isinstance(exc, LLMError):
        headers = {"Retry-After": exc.retry_after} if exc.retry_after else {}
        kind = "rate_limit_error" if exc.status == 429 else "upstream_error"
        return APIError(exc.status, f"the answering model failed: {exc}", kind,
                        f"upstream_{exc.status}", headers)
    if isinstance(exc, IndexBuilding):
        return APIError(503, str(exc), "server_error", "index_building",
                         {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, IndexUnavailable):
        return APIError(503, str(exc), "server_error", "index_unavailable")
    return APIError(400, str(exc), "invalid_request_error", "bad_question")


# -- turning a request into a question and history -----------------------------------------
def _strip_sources(text: str) -> str:
    """An earlier answer as the user saw it, without the appended Sources list."""
    head, sep, _ = text.rpartition(f"\n\n{SOURCES_HEADING}\n")
    return head if sep else text


def conversation(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """The last user message (the question) and the earlier ``(question, answer)`` turns.
    System messages are ignored: the assistant's own instructions are not negotiable."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None or not messages[last].text().strip():
        raise APIError(400, "the request has no user message: put the question in the last "
                       "message with role 'user'", code="no_user_message")
    turns: list[tuple[str, str]] = []
    pending: str | None = None
    for m in messages[:last]:
        if m.role == "user":
            pending = m.text()
        elif m.role == "assistant" and pending is not None:
            turns.append((pending, _strip_sources(m.text())))
            pending = None
    return messages[last].text(), turns


# -- building responses -----------------------------------------------------------------------
def sources_text(answer: Answer) -> str:
    """The numbered list of cited files and quotes, for clients that show only text."""
    if not answer.citations:
        return ""
    lines = [f"[{c.n}] {c.source} — {c.title}: \"{' '.join(c.quote.split())}\""
             + (f" (also in {', '.join(c.also_in)})" if c.also_in else "")
             for c in answer.citations]
    return f"\n\n{SOURCES_HEADING}\n" + "\n".join(lines)


def extras(answer: Answer) -> dict[str, Any]:
    """What OpenAI clients ignore and ours read: citations, claim labels, notes."""
    return {"citations": [c.to_json() for c in answer.citations],
            "claims": [c.to_json() for c in answer.claims],
            "answered": answer.answered, "notes": list(answer.notes),
            "incomplete": answer.incomplete}


def usage(request: ChatRequest, content: str) -> dict[str, int]:
    prompt = count_tokens("\n".join(m.text() for m in request.messages))
    completion = count_tokens(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _finish_reason(answer: Answer) -> Literal["stop", "length"]:
    return "length" if answer.incomplete else "stop"


class ChatService:
    """The API's logic, independent of the web framework (tests call it directly too)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        # answers are CPU-bound: at most QA_CONCURRENCY at once, as in the web chat; the rest
        # wait their turn in the server's thread pool (the app's other routes share them)
        self.slots = threading.BoundedSemaphore(self.settings.concurrency)
        self._indexed = False  # once the index has chunks, requests stop checking

    def models(self) -> dict[str, Any]:
        names = ["qa-extractive"] + (["qa-llm"] if self.settings.llm_configured else [])
        now = int(time.time())
        return {"object": "list", "data": [
            {"id": n, "object": "model", "created": now, "owned_by": "qa"} for n in names]}

    def check_key(self, authorization: str | None) -> None:
        wanted = self.settings.server_key
        if wanted is None:
            return
        scheme, _, token = (authorization or "").strip().partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else ""
        if not hmac.compare_digest(given.encode(), wanted.encode()):
            raise APIError(401, "incorrect API key: send `Authorization: Bearer <QA_API_KEY>`",
                           "invalid_request_error", "invalid_api_key")

    def parse(self, body: bytes) -> ChatRequest:
        try:
            raw = json.loads(body or b"null")
        except ValueError as exc:
            raise APIError(400, f"the request body is not JSON: {exc}", code="invalid_json") \
                from exc
        try:
            request = ChatRequest.model_validate(raw)
        except ValidationError as exc:
            where = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                              for e in exc.errors()[:3])
            raise APIError(400, f"bad request: {where}", code="invalid_request") from exc
        if request.model not in self.models_available():
            raise APIError(400, f"unknown model {request.model!r}: use one of "
                           f"{', '.join(self.models_available())}", code="model_not_found")
        return request

    def models_available(self) -> list[str]:
        return [m["id"] for m in self.models()["data"]]

    def _ask_args(self, request: ChatRequest) -> tuple[str, list[tuple[str, str]], Any]:
        """The question, its history and the answer mode; the corpus is indexed first if the
        index is still empty (once per server, as the web chat does on its first page load)."""
        question, turns = conversation(request.messages)
        try:
            self.ready()
        except QAError as exc:
            raise from_qa_error(exc) from exc
        return question, turns, MODELS[request.model]

    def ready(self) -> None:
        """Raises :class:`IndexBuilding` while the corpus is first being indexed (503); the
        corpus is indexed first if the index is still empty (once per server, as the web chat
        does on its first page load)."""
        self.assistant.check_ready()
        if not self._indexed:
            self.assistant.ensure_ingested()
            self._indexed = True

    def _sources_wanted(self, request: ChatRequest) -> bool:
        if request.sources_in_text is not None:
            return request.sources_in_text
        return self.settings.api_sources_in_text

    def complete(self, request: ChatRequest) -> dict[str, Any]:
        question, turns, mode = self._ask_args(request)
        try:
            with self.slots:
                answer = self.assistant.ask(question, turns, mode=mode, fallback=False)
        except QAError as exc:
            raise from_qa_error(exc) from exc
        content = answer.text + (sources_text(answer) if self._sources_wanted(request) else "")
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": request.model,
            "choices": [{"index": 0, "finish_reason": _finish_reason(answer),
                         "message": {"role": "assistant", "content": content,
                                     **extras(answer)}}],
            "usage": usage(request, content),
        }

    def stream(self, request: ChatRequest) -> Generator[str, None, None]:
        """Server-sent events in OpenAI's chunk format, ending with ``data: [DONE]``. Errors
        before the first piece raise :class:`APIError` (a proper HTTP status); later ones are
        sent as an error event, so a broken answer never looks complete."""
        question, turns, mode = self._ask_args(request)
        self.slots.acquire()
        try:
            pieces = self.assistant.stream(question, turns, mode=mode, fallback=False)
            first = next(pieces)
        except QAError as exc:
            self.slots.release()
            raise from_qa_error(exc) from exc
        except BaseException:
            self.slots.release()
            raise
        events = self._events(request, first, pieces)
        head = next(events)  # started: from now on its `finally` releases the slot, even if
        return resumed(head, events)  # the response is dropped without being sent

    def _events(self, request: ChatRequest, first: str | Answer,
                pieces: Iterator[str | Answer]) -> Generator[str, None, None]:
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None,
                  **more: Any) -> str:
            event = {"id": cid, "object": "chat.completion.chunk", "created": created,
                     "model": request.model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}
            return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"

        sent = ""
        try:  # the slot taken in stream() is held until the answer is complete or abandoned
            yield chunk({"role": "assistant", "content": ""})
            item: str | Answer = first
            while not isinstance(item, Answer):
                sent += item
                yield chunk({"content": item})
                item = next(pieces)
        except QAError as exc:
            log.warning("stream broke off: %s", exc)
            error = from_qa_error(exc)
            yield f"data: {json.dumps(error.body())}\n\n"
            yield "data: [DONE]\n\n"
            return
        finally:
            close = getattr(pieces, "close", None)  # a client that hung up stops the answer
            if close is not None:
                close()
            self.slots.release()
        answer = item
        # the final text is authoritative: where checks changed what was streamed, say so
        shown = sent.rstrip()  # white space the final text trimmed is no revision
        if answer.text.startswith(shown):
            tail = answer.text[len(shown):]
            tail = tail.lstrip() if tail[:1].isspace() and shown != sent else tail
        else:
            tail = f"\n\n[Revised after checking the citations:] {answer.text}"
        if self._sources_wanted(request):
            tail += sources_text(answer)
        if tail:
            yield chunk({"content": tail})
        yield chunk({}, _finish_reason(answer), usage=usage(request, sent + tail),
                    **extras(answer))
        yield "data: [DONE]\n\n"


def resumed(head: str, events: Generator[str, None, None]) -> Generator[str, None, None]:
    """``head`` then the rest of ``events``; closing this closes ``events``."""
    try:
        yield head
        yield from events
    finally:
        events.close()


def _close_when_idle(events: Generator[str, None, None], patience: float = 600.0) -> None:
    """Close a generator another thread may still be stepping (a client hung up while its
    answer was being computed): retry until that step is over."""
    deadline = time.monotonic() + patience
    while True:
        try:
            events.close()
            return
        except ValueError:  # "generator already executing"
            if time.monotonic() > deadline:
                log.warning("an abandoned answer stream could not be closed")
                return
            time.sleep(0.05)


async def stream_blocking(events: Generator[str, None, None]) -> AsyncIterator[str]:
    """Server-sent events from a blocking generator, stepped in the thread pool. When the
    client hangs up, the generator is closed, which ends the answer and frees its slot."""
    from starlette.concurrency import iterate_in_threadpool

    try:
        async for event in iterate_in_threadpool(events):
            yield event
    finally:
        threading.Thread(target=_close_when_idle, args=(events,), daemon=True).start()


async def read_body(request: Request) -> bytes:
    """The request's body, refused unread (413) past :data:`MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length", "")
    too_big = APIError(413, f"the request is over {MAX_BODY_BYTES:,} bytes",
                       code="request_too_large")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_big
    body = b""
    async for part in request.stream():
        body += part
        if len(body) > MAX_BODY_BYTES:
            raise too_big
    return body


def router(assistant: Assistant, service: ChatService | None = None) -> Any:
    """The ``/v1`` routes as a FastAPI router (``service``: one shared with the app's other
    routes, so that they share its answer slots)."""
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool

    service = service or ChatService(assistant)
    api = APIRouter(prefix="/v1")

    def error_response(exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @api.get("/models")
    def models(request: Request) -> Any:
        try:
            service.check_key(request.headers.get("authorization"))
        except APIError as exc:
            return error_response(exc)
        return service.models()

    @api.post("/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            service.check_key(request.headers.get("authorization"))
            chat = service.parse(await read_body(request))
            if chat.stream:
                events = await run_in_threadpool(service.stream, chat)
                return StreamingResponse(stream_blocking(events), media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache"})
            return await run_in_threadpool(service.complete, chat)
        except APIError as exc:
            return error_response(exc)
        except Exception as exc:  # never a traceback to the client
            log.exception("unexpected error in /v1/chat/completions")
            return error_response(APIError(500, f"unexpected error: {exc}", "server_error"))

    return api
