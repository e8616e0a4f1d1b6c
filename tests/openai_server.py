"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol (plain JSON and
server-sent-event streaming), answering from a script and injecting faults. For tests only."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are part of the tests


@dataclass
class Reply:
    """One scripted reply. ``status`` != 200 sends an error body (with ``code``, and
    ``headers`` such as Retry-After); ``delay`` stalls before answering, ``stall`` after the
    first streamed piece; ``chunk`` sets the streaming piece size; ``drop_after`` cuts a stream
    after that many pieces (a broken connection); ``raw`` is sent instead of a well-formed body
    (malformed JSON); ``no_choices`` sends an empty ``choices`` list; ``finish_reason`` ends
    the answer (``"length"``: cut at max_tokens)."""

    content: str = ""
    status: int = 200
    delay: float = 0.0
    stall: float = 0.0
    chunk: int = 7
    drop_after: int | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None
    no_choices: bool = False
    finish_reason: str = "stop"


@dataclass
class ScriptedOpenAI:
    """Replies are taken from ``script`` in order (the last one repeats), or from ``responder``
    (a function of the request body) when given. Every request body is kept in ``requests``."""

    script: list[Reply] = field(default_factory=list)
    responder: Callable[[dict[str, Any]], Reply] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    model: str = "scripted-model"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ScriptedOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def set(self, *replies: Reply | str) -> None:
        with self._lock:
            self.script = [r if isinstance(r, Reply) else Reply(r) for r in replies]
            self.responder = None
            self.requests.clear()

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self.responder is not None:
                return self.responder(body)
            if not self.script:
                return Reply("NOT_IN_SOURCES")
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _json(self, status: int, payload: dict[str, Any] | str,
                      headers: dict[str, str] | None = None) -> None:
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [
                        {"id": server.model, "object": "model", "owned_by": "tests"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = server._next(body)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    kind = "invalid_request_error" if reply.status < 500 else "server_error"
                    self._json(reply.status, {"error": {
                        "message": reply.content or f"scripted failure {reply.status}",
                        "type": kind, "param": None, "code": reply.code}}, reply.headers)
                    return
                model = body.get("model", server.model)
                if body.get("stream"):
                    self._stream(reply, model)
                    return
                if reply.raw is not None:
                    self._json(200, reply.raw)
                    return
                choices = [] if reply.no_choices else [
                    {"index": 0, "finish_reason": reply.finish_reason,
                     "message": {"role": "assistant", "content": reply.content}}]
                self._json(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": model,
                    "choices": choices,
                    "usage": {"prompt_tokens": 100, "completion_tokens": len(reply.content.split()),
                              "total_tokens": 100 + len(reply.content.split())},
                })

            def _stream(self, reply: Reply, model: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                if reply.raw is not None:
                    self.wfile.write(f"data: {reply.raw}\n\n".encode())
                    self.wfile.flush()
                    self.close_connection = True
                    return
                pieces = [reply.content[i : i + reply.chunk]
                          for i in range(0, len(reply.content), reply.chunk)]
                if reply.no_choices:
                    pieces = []
                for number, piece in enumerate(pieces):
                    if reply.drop_after is not None and number >= reply.drop_after:
                        self.wfile.flush()
                        self.connection.shutdown(2)
                        return
                    if number == 1 and reply.stall:
                        time.sleep(reply.stall)
                    event = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                             "created": int(time.time()), "model": model,
                             "choices": [{"index": 0, "delta": {"content": piece},
                                          "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                done = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": model,
                        "choices": [] if reply.no_choices else [
                            {"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]}
                self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

        return Handler


def block_of(body: dict[str, Any], needle: str, file: str | None = None) -> int:
    """The number of the source block (in any message of a request) whose text contains
    ``needle`` (and that comes from ``file``, if given)."""
    for message in body["messages"]:
        for m in re.finditer(r'<source n="(\d+)" file="([^"]+)"[^>]*>\n(.*?)\n</source>',
                             message["content"], re.S):
            if needle in m.group(3) and file in (None, m.group(2)):
                return int(m.group(1))
    raise AssertionError(f"{needle!r} not in any source block")
