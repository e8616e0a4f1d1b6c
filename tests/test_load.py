"""20 chat sessions at once through the running web app (`python app.py`, driven over HTTP by
gradio_client) for LOAD_TEST_SECONDS (default 60), extractive mode. Every answer must equal the
single-user answer to the same question, no session may see another's history, nothing may
fail. Prints throughput and latency and writes them to test-artifacts/load.json."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import app_py

from qa import load_settings

pytestmark = [pytest.mark.real, pytest.mark.slow]

SESSIONS = 20
QUESTIONS = [
    "How many Tor-M1 air defense systems did Iran receive?",
    "When was the UN arms embargo on Iran lifted?",
    "How much was the 2007 S-300 deal worth?",
    "Where did Iran file its complaint against Rosoboronexport?",
    "How many S-400 systems did Russia deliver to Iran?",  # declined
    "Who signed the S-300 contract with Iran?",
]
FOLLOW_UP = "And when was that?"


@pytest.fixture(scope="module")
def app_url(real_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("load")
    shutil.copytree(real_index / "index", work / "index")  # start warm: nothing to embed
    with app_py(work, real_index / "articles") as url:
        yield url


def _text(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return str(content)


class Session:
    """One browser tab's worth of state, kept by the server under this client's session."""

    def __init__(self, url: str) -> None:
        from gradio_client import Client

        self.client = Client(url, verbose=False)

    def conversation(self, question: str) -> tuple[list[str], list[str], list[float]]:
        """Clear, ask ``question`` then the follow-up: the answers (rendered), the questions
        the sources panel lists, and each ask's latency."""
        self.client.predict(api_name="/clear")
        answers, latencies = [], []
        chat: list[Any] = []
        sources = ""
        for q in (question, FOLLOW_UP):
            started = time.perf_counter()
            chat, sources, _ = self.client.predict(q, chat, "extractive", 5, api_name="/ask")
            latencies.append(time.perf_counter() - started)
            assert [_text(m) for m in chat if m["role"] == "user"][-1] == q
            answers.append(_text(chat[-1]))
        asked = [line.split("</div>")[0] for line in sources.split('class="question">')[1:]]
        return answers, asked, latencies


def test_twenty_sessions_at_once(app_url: str, artifacts: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    seconds = float(os.environ.get("LOAD_TEST_SECONDS", "60"))
    defaults = load_settings()
    single = Session(app_url)
    expected = {q: single.conversation(q)[0] for q in QUESTIONS}
    assert "29" in expected[QUESTIONS[0]][0]
    assert "Not in the articles" in expected[QUESTIONS[4]][0]

    latencies: list[float] = []
    problems: list[str] = []
    done = [0]
    lock = threading.Lock()
    start = threading.Barrier(SESSIONS)
    deadline = [0.0]

    def user(k: int) -> None:
        try:
            session = Session(app_url)
            start.wait()
            deadline[0] = deadline[0] or time.perf_counter() + seconds
            i = k
            while time.perf_counter() < deadline[0]:
                q = QUESTIONS[i % len(QUESTIONS)]
                answers, asked, took = session.conversation(q)
                with lock:
                    latencies.extend(took)
                    done[0] += 1
                    if answers != expected[q]:
                        problems.append(f"session {k}: {q!r} answered differently")
                    if asked != [f"Q2: {FOLLOW_UP}", f"Q1: {q}"]:
                        problems.append(f"session {k}: history crossed: {asked}")
                i += 1
        except Exception as exc:
            with lock:
                problems.append(f"session {k}: {type(exc).__name__}: {exc}")

    began = time.perf_counter()
    threads = [threading.Thread(target=user, args=(k,)) for k in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 300)
    wall = time.perf_counter() - began
    asks = len(latencies)
    ordered = sorted(latencies)
    figures = {
        "sessions": SESSIONS, "seconds": round(wall, 1), "asks": asks,
        "conversations": done[0], "errors": len(problems),
        "throughput_asks_per_s": round(asks / wall, 2),
        "latency_p50_s": round(statistics.median(ordered), 2) if ordered else None,
        "latency_p95_s": round(ordered[int(0.95 * (asks - 1))], 2) if ordered else None,
        "latency_max_s": round(ordered[-1], 2) if ordered else None,
        "concurrency_limit": defaults.concurrency, "queue_size": defaults.queue_size,
        "cpus": os.cpu_count(),
    }
    (artifacts / "load.json").write_text(json.dumps(figures, indent=2))
    with capsys.disabled():
        print(f"\nload test: {json.dumps(figures)}")
    assert not problems, problems[:10]
    assert asks >= SESSIONS * 2
