"""The assistant's own API, for the ``qa`` command: ``GET /v1/qa/info`` says which index the
server answers from, ``POST /v1/qa/ask`` answers exactly as :meth:`Assistant.ask` does (same
arguments, the answer as ``Answer.to_json()``; with ``"stream": true``, JSON lines: ``{"text":
piece}``... then ``{"answer": {...}}``). Errors carry the error class and the message the
command prints, ``{"error": {"type": "IndexBuilding", "message": ..., "retry_after": 5}}``.

So a ``qa ask`` from a shell, while ``qa serve`` runs on the same index, imports no model: the
server's warm one answers. Same bearer token as the OpenAI-compatible routes."""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterator
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from qa.assistant import Assistant
from qa.errors import IndexBuilding, LLMError, QAError
from qa.serve.client import index_identity
from qa.serve.openai_api import (
    APIError,
    ChatService,
    from_qa_error,
    read_body,
    resumed,
    stream_blocking,
)
from qa.types import Answer

log = logging.getLogger(__name__)


class AskRequest(BaseModel):
    """The arguments of :meth:`Assistant.ask`, checked at the edge."""

    model_config = ConfigDict(extra="forbid")

    question: str
    history: list[dict[str, Any]] = Field(default_factory=list)  # earlier Answer.to_json()s
    mode: Literal["extractive", "llm"] | None = None
    top_k: int | None = Field(None, ge=1)
    sources: list[str] | None = None
    since: str | None = None
    until: str | None = None
    stream: StrictBool = False


def error_body(exc: QAError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of an error: its class name and the message ``qa`` prints."""
    status = from_qa_error(exc).status
    body: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, IndexBuilding) or (isinstance(exc, LLMError) and exc.retry_after):
        body["retry_after"] = exc.retry_after
    return status, {"error": body}


class AskService:
    """The routes' logic, independent of the web framework."""

    def __init__(self, assistant: Assistant, chat: ChatService) -> None:
        self.assistant = assistant
        self.chat = chat  # shares its answer slots and its once-per-server first indexing

    def parse(self, body: bytes) -> AskRequest:
        try:
            return AskRequest.model_validate(json.loads(body or b"null"))
        except ValueError as exc:  # ValidationError is a ValueError
            if isinstance(exc, ValidationError):
                where = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                                  for e in exc.errors()[:3])
                raise QAError(f"bad request: {where}") from exc
            raise QAError(f"the request body is not JSON: {exc}") from exc

    def _history(self, request: AskRequest) -> list[Answer]:
        try:
            return [Answer.from_json(item) for item in request.history]
        except (KeyError, TypeError, ValueError) as exc:
            raise QAError(f"bad request: history: not answers as qa writes them ({exc})") \
                from exc

    def _kwargs(self, request: AskRequest) -> dict[str, Any]:
        return {"mode": request.mode, "top_k": request.top_k, "sources": request.sources,
                "since": request.since, "until": request.until}

    def ask(self, request: AskRequest) -> dict[str, Any]:
        history = self._history(request)
        self.chat.ready()
        with self.chat.slots:
            return self.assistant.ask(request.question, history,
                                      **self._kwargs(request)).to_json()

    def stream(self, request: AskRequest) -> Generator[str, None, None]:
        """JSON lines; errors before the first piece raise (a proper status), later ones are
        the last line."""
        history = self._history(request)
        self.chat.ready()
        self.chat.slots.acquire()
        try:
            pieces = self.assistant.stream(request.question, history, **self._kwargs(request))
            first = next(pieces)
        except BaseException:
            self.chat.slots.release()
            raise
        lines = self._lines(first, pieces)
        head = next(lines)  # started: its `finally` frees the slot even if the client hangs up
        return resumed(head, lines)

    def _lines(self, first: str | Answer,
               pieces: Iterator[str | Answer]) -> Generator[str, None, None]:
        item = first
        try:
            while not isinstance(item, Answer):
                yield json.dumps({"text": item}, ensure_ascii=False) + "\n"
                item = next(pieces)
            yield json.dumps({"answer": item.to_json()}, ensure_ascii=False) + "\n"
        except QAError as exc:
            log.warning("answer stream broke off: %s", exc)
            yield json.dumps(error_body(exc)[1], ensure_ascii=False) + "\n"
        finally:
            close = getattr(pieces, "close", None)  # a client that hung up stops the answer
            if close is not None:
                close()
            self.chat.slots.release()


def router(assistant: Assistant, chat: ChatService) -> Any:
    """The ``/v1/qa`` routes as a FastAPI router."""
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool

    service = AskService(assistant, chat)
    api = APIRouter(prefix="/v1/qa")

    def failed(exc: QAError) -> JSONResponse:
        status, body = error_body(exc)
        retry = body["error"].get("retry_after")
        return JSONResponse(body, status_code=status,
                            headers={"Retry-After": str(retry)} if retry else None)

    def refused(request: Request) -> JSONResponse | None:
        try:
            chat.check_key(request.headers.get("authorization"))
        except APIError as exc:
            return JSONResponse({"error": {"type": "Unauthorized", "message": exc.message}},
                                status_code=401)
        return None

    @api.get("/info")
    def info(request: Request) -> Any:
        return refused(request) or index_identity(assistant.settings)

    @api.post("/ask")
    async def ask(request: Request) -> Any:
        no = refused(request)
        if no is not None:
            return no
        try:
            parsed = service.parse(await read_body(request))
            if parsed.stream:
                lines = await run_in_threadpool(service.stream, parsed)
                return StreamingResponse(stream_blocking(lines),
                                         media_type="application/x-ndjson")
            return await run_in_threadpool(service.ask, parsed)
        except QAError as exc:
            return failed(exc)
        except APIError as exc:  # too big
            return JSONResponse({"error": {"type": "RequestTooLarge", "message": exc.message}},
                                status_code=exc.status)
        except Exception as exc:  # never a traceback to the client
            log.exception("unexpected error in /v1/qa/ask")
            return JSONResponse({"error": {"type": "ServerError",
                                           "message": f"unexpected error on the server: {exc}"}},
                                status_code=500)

    return api
