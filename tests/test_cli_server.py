"""``qa ask`` / ``qa chat`` through a running server (issue 18): the same answers, JSON, exit
codes and errors as answering in the command's own process, nothing heavy imported, and a
server that stops answering mid-question falls back to a local answer with a note."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import serving

from qa import Assistant, load_settings
from qa.serve.client import index_identity
from vectorstore import SentenceTransformerEmbedder

pytestmark = [pytest.mark.real, pytest.mark.slow]

QUESTIONS = [
    {"id": "count", "question": "How many Tor-M1 air defense systems did Iran receive?"},
    {"id": "date", "question": "When was the UN arms embargo on Iran lifted?"},
    {"id": "never", "question": "Who won the 2022 football World Cup?"},
    {"id": "empty", "question": "   "},
    {"id": "markup", "question": "<b>How much</b> was the S-300 contract worth?"},
]
# prints the command's result and whether it loaded the model's libraries
PROBE = ("import sys, json; from qa.cli import main; rc = main(sys.argv[1:]); "
         "print(json.dumps({'rc': rc, 'heavy': sorted(m for m in ('torch', 'chromadb', "
         "'llama_index', 'sentence_transformers') if m in sys.modules)}), file=sys.stderr); "
         "sys.exit(rc)")


@pytest.fixture(scope="module")
def server(real_index: Path, bundled_embedder: SentenceTransformerEmbedder) -> Iterator[str]:
    settings = load_settings(index_dir=real_index / "index", corpus_dir=real_index / "articles")
    with serving(Assistant(settings, embedder=bundled_embedder)) as url:
        yield url


def _env(real_index: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update({"QA_INDEX_DIR": str(real_index / "index"),
                "QA_CORPUS_DIR": str(real_index / "articles"), **more})
    return env


def _qa(args: list[str], env: dict[str, str], stdin: str | None = None
        ) -> tuple[int, str, str, list[str]]:
    """Runs ``qa ARGS``; returns its exit code, stdout, stderr (without the probe's line) and
    the heavy libraries it imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env=env, timeout=300, input=stdin)
    *rest, last = done.stderr.rstrip("\n").split("\n")
    if not last.startswith('{"rc"'):  # argparse exited before main returned
        return done.returncode, done.stdout, done.stderr, []
    probe = json.loads(last)
    assert probe["rc"] == done.returncode
    return done.returncode, done.stdout, "\n".join(rest), probe["heavy"]


def _no_timings(lines: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in lines.splitlines()]
    for r in records:
        r.pop("timings", None)
    return records


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


def test_found_by_port_and_index_imports_nothing_heavy(server: str, real_index: Path) -> None:
    env = _env(real_index, QA_PORT=_port(server))
    rc, out, err, heavy = _qa(["ask", "How many Tor-M1 systems did Iran receive?"], env)
    assert rc == 0, err
    assert "29" in out and "[1]" in out and "000_" in out
    assert heavy == [], f"imported {heavy} although a server answered"


def test_a_server_of_another_index_is_not_used(server: str, real_index: Path,
                                               tmp_path: Path) -> None:
    env = _env(real_index, QA_PORT=_port(server), QA_INDEX_DIR=str(tmp_path / "other"),
               QA_EMBED_MODEL="hash")
    rc, _, err, heavy = _qa(["ask", "--json", "How many Tor-M1 systems did Iran receive?"], env)
    assert rc == 0, err
    assert "chromadb" in heavy  # answered here, from its own (new) index
    assert "ingesting the articles" in err


def test_same_answers_json_and_exit_codes_either_way(server: str, real_index: Path,
                                                     tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    remote = _qa(["ask", "--questions", str(questions)], _env(real_index, QA_SERVER_URL=server))
    local = _qa(["ask", "--local", "--questions", str(questions)], _env(real_index))
    assert remote[3] == [] and "torch" in local[3]
    assert remote[0] == local[0] == 1  # one question failed: the empty one
    assert _no_timings(remote[1]) == _no_timings(local[1])
    by_id = {r["id"]: r for r in _no_timings(remote[1])}
    assert by_id["count"]["answered"] and "29" in by_id["count"]["answer"]
    assert not by_id["never"]["answered"]
    assert by_id["empty"]["error"].startswith("the question is empty")
    assert by_id["markup"]["question"] == QUESTIONS[-1]["question"]


@pytest.mark.parametrize("args", [
    ["ask", "--since", "2020-13-01", "How many Tor-M1 systems did Iran receive?"],
    ["ask", "--top-k", "0", "anything"],
    ["ask", "x" * 5000],
    ["ask"],
])
def test_same_errors_either_way(server: str, real_index: Path, args: list[str]) -> None:
    remote = _qa(args, _env(real_index, QA_SERVER_URL=server))
    local = _qa([*args, "--local"], _env(real_index))
    assert remote[0] == local[0] == 2
    assert remote[2].strip() == local[2].strip() and "error:" in remote[2]
    assert remote[1] == local[1] == ""
    assert "Traceback" not in remote[2]


def test_plain_text_answer_is_the_same(server: str, real_index: Path) -> None:
    args = ["ask", "--source", "003_7471295c697f3a29.txt",
            "Who told Putin that the contract had been fulfilled?"]
    remote = _qa(args, _env(real_index, QA_SERVER_URL=server))
    local = _qa([*args, "--local"], _env(real_index))
    assert remote[0] == local[0] == 0
    assert remote[1] == local[1] and "[1]" in remote[1]


def test_chat_follow_ups_keep_their_numbers_either_way(server: str, real_index: Path) -> None:
    said = ("How many Tor-M1 systems did Iran receive?\nAnd when was the contract signed?\n"
            "Who is the head of Rostec?\n")
    remote = _qa(["chat"], _env(real_index, QA_SERVER_URL=server), stdin=said)
    local = _qa(["chat", "--local"], _env(real_index), stdin=said)
    assert remote[0] == local[0] == 0
    assert remote[1] == local[1]
    assert remote[1].count("you> qa> ") == 3 and "revised" not in remote[1]
    assert remote[3] == []


class _Dropping(BaseHTTPRequestHandler):
    """A server that says it holds the index, then hangs up mid-answer: ``/v1/qa/ask`` gets
    the start of a streamed answer (or nothing) and a closed connection."""

    identity: ClassVar[dict[str, Any]] = {}
    asked: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps(self.identity).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.asked.append(request)
        if request.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            self.wfile.write(b'{"text": "Iran recently took"}\n')
            self.wfile.flush()
        self.close_connection = True  # nothing more: the connection drops


@pytest.fixture
def dropping(real_index: Path) -> Iterator[str]:
    settings = load_settings(index_dir=real_index / "index")
    _Dropping.identity = index_identity(settings)
    _Dropping.asked = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Dropping)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_server_gone_mid_question_falls_back_with_a_note(dropping: str,
                                                          real_index: Path) -> None:
    rc, out, err, heavy = _qa(["ask", "--json", "How many Tor-M1 systems did Iran receive?"],
                              _env(real_index, QA_PORT=_port(dropping)))
    assert _Dropping.asked, "the server was not asked"
    assert rc == 0, err
    assert "note: the server at" in err and "answering here instead" in err
    assert "29" in json.loads(out)["answer"] and "torch" in heavy


def test_stream_cut_mid_answer_falls_back_in_chat(dropping: str, real_index: Path) -> None:
    rc, out, err, _ = _qa(["chat"], _env(real_index, QA_SERVER_URL=dropping),
                          stdin="How many Tor-M1 systems did Iran receive?\n")
    assert rc == 0, err
    assert "answering here instead" in err
    assert "29 Russian-made Tor-M1" in out and "[1] 000_" in out


def test_no_server_at_the_named_url_answers_here(real_index: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    rc, out, err, _ = _qa(["ask", "How many Tor-M1 systems did Iran receive?"],
                          _env(real_index, QA_SERVER_URL=url))
    assert rc == 0 and "29" in out
    assert f"note: the server at {url} did not answer" in err


class _Building(_Dropping):
    """A server still building its index: two 503 ``IndexBuilding`` replies, then an answer."""

    answer: ClassVar[dict[str, Any]] = {}

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.asked.append({})
        if len(self.asked) <= 2:
            status, body = 503, {"error": {"type": "IndexBuilding", "message": "still indexing "
                                           "the articles: 2 of 5 articles done; ask again in a "
                                           "few seconds", "retry_after": 1}}
        else:
            status, body = 200, self.answer
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "0.5")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_a_server_still_indexing_is_waited_for(real_index: Path, tmp_path: Path) -> None:
    from qa import Answer

    _Building.identity = index_identity(load_settings(index_dir=real_index / "index"))
    _Building.asked = []
    _Building.answer = Answer(question="q", text="Forty-two. [1]", answered=True,
                              mode="extractive").to_json()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Building)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        rc, out, err, heavy = _qa(["ask", "q"], _env(real_index,
                                                     QA_PORT=str(httpd.server_address[1])))
    finally:
        httpd.shutdown()
    assert rc == 0 and out.startswith("Forty-two. [1]"), err
    assert len(_Building.asked) == 3 and heavy == []
    assert err.count("still indexing the articles") == 1  # said once, not at every retry
