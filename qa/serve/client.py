"""The ``qa`` command's way to a running ``qa serve`` / ``python app.py``: questions go to the
server's warm model (``/v1/qa``), so the command imports no model, Chroma or llama-index.

A server is used when ``QA_SERVER_URL`` names it, or when the one at ``QA_HOST:QA_PORT``
answers from the same index as the command would. If it stops answering mid-question, the
command answers in its own process from then on, with a note. Standard library only: this
module is imported on the command's fast path.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any, Protocol

from qa.errors import QAError
from qa.settings import Settings
from qa.types import Answer

log = logging.getLogger(__name__)

INFO_TIMEOUT = 2.0  # seconds to find a server: on this machine it is there at once or not at all
ANSWER_TIMEOUT = 600.0  # seconds without a byte from the server before it counts as gone
MAX_WAIT = 1800.0  # seconds to wait for a server still building its index


class ServerGone(QAError):
    """The server stopped answering (refused, reset, timed out, or answered nonsense)."""


class Answerer(Protocol):
    """What the command needs of an assistant, local or remote."""

    def ask(self, question: str, history: Any = None, *, mode: Any = None,
            top_k: int | None = None, sources: Sequence[str] | None = None,
            since: str | date | None = None, until: str | date | None = None) -> Answer: ...

    def stream(self, question: str, history: Any = None, *, mode: Any = None
               ) -> Iterator[str | Answer]: ...


def index_identity(settings: Settings) -> dict[str, Any]:
    """What says two processes read the same index: the resolved directory, or the Chroma
    server and collection."""
    return {"index_dir": None if settings.chroma_url else str(settings.index_dir.resolve()),
            "chroma_url": settings.chroma_url, "collection": settings.collection}


def _local_url(settings: Settings) -> str:
    host = settings.host
    if host in ("", "0.0.0.0", "::"):  # listening everywhere: reachable on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def find_server(settings: Settings, *, index_given: bool,
                say: Callable[[str], None]) -> RemoteAssistant | None:
    """The server to send questions to, or None to answer in this process. A server found at
    ``QA_HOST:QA_PORT`` is used only when it reads the same index; one named by
    ``QA_SERVER_URL`` is trusted unless ``--index``/``--chroma-url`` name an index."""
    named = settings.server_url
    if named is not None and named.lower() in ("off", "none", "no", "false", "0"):
        return None
    url = (named or _local_url(settings)).rstrip("/")
    remote = RemoteAssistant(url, settings.server_key, say=say, mode=settings.answer_mode,
                             top_k=settings.top_k)
    try:
        info = remote.info()
    except QAError as exc:
        if named:
            say(f"note: {exc}; answering here instead")
        return None
    if named and not index_given:
        return remote
    if info != index_identity(settings):
        if named:
            say(f"note: the server at {url} answers from another index "
                f"({info.get('index_dir') or info.get('chroma_url')}); answering here instead")
        return None
    return remote


class RemoteAssistant:
    """:meth:`ask` and :meth:`stream` of a running server, with :class:`Answer` results and
    the server's own error messages raised as :class:`QAError`. ``mode`` and ``top_k``: what
    is asked for when a question names neither (this process's settings, not the server's)."""

    def __init__(self, url: str, key: str | None = None, *,
                 say: Callable[[str], None] = lambda _: None, mode: str | None = None,
                 top_k: int | None = None) -> None:
        self.url = url
        self.key = key
        self.say = say
        self.mode = mode
        self.top_k = top_k

    def _request(self, path: str, body: dict[str, Any] | None,
                 timeout: float) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise self._error(exc) from None
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            raise ServerGone(f"the server at {self.url} did not answer ({_reason(exc)})") \
                from exc

    def _error(self, exc: urllib.error.HTTPError) -> QAError:
        try:
            error = json.loads(exc.read())["error"]
            kind, message = str(error["type"]), str(error["message"])
        except (OSError, ValueError, KeyError, TypeError):
            return ServerGone(f"the server at {self.url} answered HTTP {exc.code}, not an "
                              "answer (is it a qa server?)")
        if exc.code == 401 or kind == "Unauthorized":
            return ServerGone(f"the server at {self.url} refused the key ({message})")
        failed = _Retry(message, exc.headers.get("Retry-After")) if kind == "IndexBuilding" \
            else QAError(message)
        return failed

    def info(self) -> dict[str, Any]:
        with self._request("/v1/qa/info", None, INFO_TIMEOUT) as response:
            try:
                info = json.loads(response.read())
            except ValueError as exc:
                raise ServerGone(f"{self.url} is not a qa server") from exc
        if not isinstance(info, dict) or "collection" not in info:
            raise ServerGone(f"{self.url} is not a qa server")
        return info

    def _body(self, question: str, history: Any, **kwargs: Any) -> dict[str, Any]:
        turns = []
        for turn in history or ():
            if not isinstance(turn, Answer):  # (question, answer text) pairs
                q, text = turn
                turn = Answer(question=q, text=text, answered=True, mode="extractive")
            turns.append(turn.to_json())
        body = {"question": question, "history": turns,
                **{k: str(v) if isinstance(v, date) else v for k, v in kwargs.items()}}
        body["mode"] = body.get("mode") or self.mode
        body["top_k"] = body.get("top_k") or self.top_k
        if body.get("sources") is not None:
            body["sources"] = list(body["sources"])
        return body

    def _waiting(self, send: Callable[[], Any]) -> Any:
        """``send()``, again while the server is still building its index."""
        deadline = time.monotonic() + MAX_WAIT
        told = False
        while True:
            try:
                return send()
            except _Retry as exc:
                if time.monotonic() > deadline:
                    raise QAError(str(exc)) from None
                if not told:
                    self.say(f"note: the server at {self.url} is {exc}")
                    told = True
                time.sleep(exc.wait)

    def ask(self, question: str, history: Any = None, *, mode: Any = None,
            top_k: int | None = None, sources: Sequence[str] | None = None,
            since: str | date | None = None, until: str | date | None = None) -> Answer:
        body = self._body(question, history, mode=mode, top_k=top_k, sources=sources,
                          since=since, until=until)

        def send() -> Answer:
            with self._request("/v1/qa/ask", body, ANSWER_TIMEOUT) as response:
                try:
                    return Answer.from_json(json.loads(response.read()))
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise ServerGone(f"the server at {self.url} broke off the answer "
                                     f"({_reason(exc)})") from exc
        answer: Answer = self._waiting(send)
        return answer

    def stream(self, question: str, history: Any = None, *, mode: Any = None
               ) -> Iterator[str | Answer]:
        body = self._body(question, history, mode=mode, stream=True)
        response = self._waiting(lambda: self._request("/v1/qa/ask", body, ANSWER_TIMEOUT))
        with response:
            try:
                for line in response:
                    item = json.loads(line)
                    if "text" in item:
                        yield str(item["text"])
                    elif "answer" in item:
                        yield Answer.from_json(item["answer"])
                        return
                    else:
                        raise QAError(str(item["error"]["message"]))
            except QAError:
                raise
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ServerGone(f"the server at {self.url} broke off the answer "
                                 f"({_reason(exc)})") from exc
        raise ServerGone(f"the server at {self.url} broke off the answer (no final answer)")


class _Retry(QAError):
    """The server is still building its index: ask again after ``wait`` seconds."""

    def __init__(self, message: str, retry_after: str | None) -> None:
        super().__init__(message)
        try:
            self.wait = min(max(float(retry_after or 2), 0.5), 10.0)
        except ValueError:
            self.wait = 2.0


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)  # urllib.error.URLError wraps the socket error
    return str(reason or exc) or type(exc).__name__


class WithFallback:
    """The server while it answers; from the first time it does not, this process's own
    assistant (built once, by ``local()``), with a note."""

    def __init__(self, remote: RemoteAssistant | None, local: Callable[[], Answerer],
                 say: Callable[[str], None]) -> None:
        self.remote = remote
        self._make_local = local
        self._local: Answerer | None = None
        self.say = say

    def local(self) -> Answerer:
        if self._local is None:
            self._local = self._make_local()
        return self._local

    def _gone(self, exc: ServerGone) -> None:
        self.say(f"note: {exc}; answering here instead")
        self.remote = None

    def ask(self, question: str, history: Any = None, **kwargs: Any) -> Answer:
        if self.remote is not None:
            try:
                return self.remote.ask(question, history, **kwargs)
            except ServerGone as exc:
                self._gone(exc)
        return self.local().ask(question, history, **kwargs)

    def stream(self, question: str, history: Any = None, *, mode: Any = None
               ) -> Iterator[str | Answer]:
        if self.remote is not None:
            try:
                yield from self.remote.stream(question, history, mode=mode)
                return
            except ServerGone as exc:
                self._gone(exc)
        yield from self.local().stream(question, history, mode=mode)
