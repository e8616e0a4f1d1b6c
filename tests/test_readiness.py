"""Start-up readiness: while an empty index is first built from the corpus folder, no answer
is computed on it. The web chat says "still indexing" and shows progress; /v1 answers 503 with
Retry-After in OpenAI's error shape; once the index is complete, questions are answered."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import app_py, serving

from qa import Assistant, load_settings
from qa.errors import IndexBuilding
from qa.serve.web import Handlers
from vectorstore import HashEmbedder

pytestmark = pytest.mark.fakes

Q = "How many Tor-M1 air defense systems did Iran receive?"


class HeldEmbedder:
    """The hash embedder, held at its first call until ``release`` is set: the index stays
    half-built for as long as the test needs."""

    def __init__(self) -> None:
        self.inner = HashEmbedder()
        self.name = self.inner.name
        self.started = threading.Event()
        self.release = threading.Event()

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.started.set()
        assert self.release.wait(60), "the test never released the embedder"
        return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int | None:
        return self.inner.count_tokens(text)


def _post(url: str, body: dict[str, object]) -> tuple[int, dict[str, str], dict[str, object]]:
    request = urllib.request.Request(f"{url}/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read().decode()
            payload = json.loads(raw) if not body.get("stream") else {"raw": raw}
            return response.status, {k.lower(): v for k, v in response.headers.items()}, payload
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, json.loads(exc.read())


def test_no_answer_from_a_half_built_index(tmp_path: Path, articles: Path) -> None:
    embedder = HeldEmbedder()
    assistant = Assistant(load_settings(index_dir=tmp_path / "index", embed_model="hash",
                                        corpus_dir=articles), embedder=embedder)
    with serving(assistant) as url:  # create_app starts indexing the empty index
        assert embedder.started.wait(30)
        # /v1: 503 with Retry-After, in OpenAI's error shape, streamed or not
        for stream in (False, True):
            status, headers, body = _post(url, {"model": "qa-extractive", "stream": stream,
                                                "messages": [{"role": "user", "content": Q}]})
            assert status == 503 and int(headers["retry-after"]) > 0
            error = body["error"]
            assert isinstance(error, dict) and error["code"] == "index_building"
            assert "still indexing" in str(error["message"])
        # the web chat: an explicit message, not "the articles don't say"; progress shown
        web = Handlers(assistant)
        assert "Indexing" in web.status() and not web.ready()
        *_, (chat, turns, _, _) = web.respond(Q, [], [], "extractive", 5)
        assert "still indexing" in chat[-1]["content"] and turns == []
        # the Python API
        with pytest.raises(IndexBuilding, match="still indexing"):
            assistant.ask(Q)
        with pytest.raises(IndexBuilding):
            assistant.retrieve(Q)
        embedder.release.set()
        deadline = time.time() + 30
        while assistant.indexing is not None:
            assert time.time() < deadline, "indexing did not finish"
            time.sleep(0.05)
        assert web.ready() and "passages indexed" in web.status()
        answer = assistant.ask(Q)
        assert answer.answered and "29" in answer.text
        status, _, body = _post(url, {"model": "qa-extractive",
                                      "messages": [{"role": "user", "content": Q}]})
        assert status == 200 and "29" in json.dumps(body)


def test_a_built_index_is_ready_at_once(hash_assistant: Assistant, articles: Path) -> None:
    hash_assistant.ingest([articles])
    assert hash_assistant.start_indexing() is None and hash_assistant.indexing is None
    assert hash_assistant.ask(Q).answered


@pytest.mark.real
@pytest.mark.slow
@pytest.mark.browser
def test_first_second_after_start_up(tmp_path: Path) -> None:
    """``python app.py`` on a fresh index of 192 articles: the browser's first question and
    a /v1 request in the first seconds get "still indexing" and 503; after the index is
    complete both are answered."""
    from playwright.sync_api import sync_playwright
    from test_browser import ARGS, CHROMIUM

    corpus = tmp_path / "articles"
    shutil.copytree(Path(__file__).resolve().parent.parent / "eval/heldout/corpus", corpus)
    question = "How many species of Ctenophores have been validated?"
    with app_py(tmp_path, corpus, QA_EMBED_BATCH_SIZE="1") as url, sync_playwright() as p:
        status, headers, body = _post(url.rstrip("/"), {
            "model": "qa-extractive", "messages": [{"role": "user", "content": question}]})
        assert status == 503 and "retry-after" in headers, body
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#question textarea", timeout=60_000)
        page.wait_for_function(
            "document.querySelector('#status')?.innerText.includes('Indexing')", timeout=30_000)
        page.fill("#question textarea", question)
        page.click("#ask")
        page.wait_for_function(
            "document.querySelector('#chat')?.innerText.includes('still indexing')",
            timeout=30_000)
        page.wait_for_function(
            "document.querySelector('#status')?.innerText.includes('passages indexed')",
            timeout=300_000)
        page.fill("#question textarea", question)
        page.click("#ask")
        page.wait_for_selector("#chat a.cite", timeout=60_000)
        assert "100–150" in page.locator("#chat .message").last.inner_text()
        browser.close()
        status, _, body = _post(url.rstrip("/"), {
            "model": "qa-extractive", "messages": [{"role": "user", "content": question}]})
        assert status == 200, body
