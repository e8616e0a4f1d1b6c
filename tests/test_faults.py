"""The LLM endpoint misbehaving on cue (a real HTTP server on 127.0.0.1 speaking the OpenAI
protocol): the assistant keeps answering, says what went wrong, never hangs past its timeout,
never shows a broken answer as a whole one, and retries only where it makes sense."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from openai_server import Reply, ScriptedOpenAI, block_of

from qa import Answer, Assistant, LLMError, load_settings
from qa.serve.web import Handlers
from vectorstore import SentenceTransformerEmbedder

pytestmark = [pytest.mark.llm, pytest.mark.real]

Q = "How many Tor-M1 air defense systems did Iran receive?"
GOOD = "Iran received 29 Tor-M1 air defense systems [1]."
VLLM_CONTEXT = ("This model's maximum context length is 2048 tokens. However, you requested "
                "4127 tokens (3615 in the messages, 512 in the completion). Please reduce the "
                "length of the messages or completion.")

Make = Callable[..., Assistant]


@pytest.fixture
def make(real_index: Path, bundled_embedder: SentenceTransformerEmbedder,
         llm_server: ScriptedOpenAI) -> Make:
    def build(timeout: float = 3, retries: int = 0, **more: object) -> Assistant:
        settings = load_settings(
            index_dir=real_index / "index", corpus_dir=real_index / "articles",
            llm_base_url=llm_server.base_url, llm_model="scripted-model", llm_timeout=timeout,
            llm_max_retries=retries, **more)
        return Assistant(settings, embedder=bundled_embedder)

    return build


def _final(assistant: Assistant, streaming: bool) -> Answer:
    if not streaming:
        return assistant.ask(Q)
    items = list(assistant.stream(Q))
    assert isinstance(items[-1], Answer)
    return items[-1]


def _blocks(request: dict) -> int:  # type: ignore[type-arg]
    return len(re.findall(r'<source n="\d+"', request["messages"][-1]["content"]))


def _fell_back(answer: Answer, why: str) -> None:
    """The extractive answer, with a note saying why the LLM's was not used."""
    assert answer.mode == "extractive" and answer.answered and "29" in answer.text
    assert any("LLM unavailable" in n and re.search(why, n) for n in answer.notes), answer.notes


@pytest.mark.parametrize("streaming", [False, True])
def test_silent_endpoint_times_out_and_falls_back(make: Make, llm_server: ScriptedOpenAI,
                                                  streaming: bool) -> None:
    llm_server.set(Reply(GOOD, delay=6))
    started = time.perf_counter()
    answer = _final(make(timeout=1, retries=1), streaming)
    took = time.perf_counter() - started
    _fell_back(answer, r"did not answer within 1 s")
    assert len(llm_server.requests) == 2  # the openai client's one retry, nothing stacked on it
    assert took < 1 * 2 + 3, f"took {took:.1f} s: timeout x (1 + retries) + backoff exceeded"


def test_stream_that_stalls_mid_answer_is_cut(make: Make, llm_server: ScriptedOpenAI) -> None:
    llm_server.set(Reply(GOOD, stall=6))
    started = time.perf_counter()
    answer = _final(make(timeout=1), True)
    assert time.perf_counter() - started < 4
    _fell_back(answer, r"within 1 s")


def test_stream_that_trickles_past_the_answer_limit_is_cut(make: Make,
                                                           llm_server: ScriptedOpenAI) -> None:
    llm_server.set(Reply(GOOD, stall=0.8, chunk=2))  # each read is in time; the whole is not
    answer = _final(make(timeout=5, llm_answer_limit=0.5), True)
    _fell_back(answer, r"more than 0.5 s and was cut off")


def test_rate_limit_is_retried_after_the_time_it_asks_for(make: Make,
                                                          llm_server: ScriptedOpenAI) -> None:
    llm_server.set(Reply("slow down", status=429, headers={"Retry-After": "1"}), Reply(GOOD))
    started = time.perf_counter()
    answer = make(retries=2).ask(Q)
    assert answer.mode == "llm" and answer.text == GOOD
    assert len(llm_server.requests) == 2
    assert time.perf_counter() - started >= 1.0  # honoured Retry-After


def test_rate_limit_without_retries_left_is_explained(make: Make,
                                                      llm_server: ScriptedOpenAI) -> None:
    llm_server.set(Reply("slow down", status=429, headers={"Retry-After": "7"}))
    answer = make(retries=0).ask(Q)
    _fell_back(answer, r"rate-limiting.*429: slow down.*retry after 7 s")
    with pytest.raises(LLMError) as caught:
        make(retries=0).ask(Q, fallback=False)
    assert caught.value.status == 429 and caught.value.retry_after == "7"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_by_the_client_then_fall_back(
        make: Make, llm_server: ScriptedOpenAI, status: int) -> None:
    llm_server.set(Reply("overloaded", status=status), Reply(GOOD))
    assert make(retries=2).ask(Q).text == GOOD
    assert len(llm_server.requests) == 2

    llm_server.set(Reply("overloaded", status=status))
    answer = make(retries=2).ask(Q)
    _fell_back(answer, rf"HTTP {status}")
    assert len(llm_server.requests) == 3  # 1 + QA_LLM_MAX_RETRIES, no second layer


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("error", [
    Reply("This model's maximum context length is exceeded", status=400,
          code="context_length_exceeded"),
    Reply(VLLM_CONTEXT, status=400),
], ids=["openai", "vllm"])
def test_context_length_error_retries_once_with_fewer_passages(
        make: Make, llm_server: ScriptedOpenAI, error: Reply, streaming: bool) -> None:
    def respond(body: dict) -> Reply:  # type: ignore[type-arg]
        if _blocks(body) > 2:
            return error
        n = block_of(body, "29 Russian-made")
        return Reply(f"Iran received 29 Tor-M1 air defense systems [{n}].")

    llm_server.set()
    llm_server.responder = respond
    answer = _final(make(top_k=4), streaming)
    assert answer.mode == "llm" and answer.answered and "29" in answer.text
    assert [_blocks(r) for r in llm_server.requests] == [4, 2]  # once, with half the passages
    assert any("did not fit the model's context" in n for n in answer.notes)


def test_context_length_error_that_persists_falls_back(make: Make,
                                                       llm_server: ScriptedOpenAI) -> None:
    llm_server.set(Reply(VLLM_CONTEXT, status=400))
    answer = make(top_k=4).ask(Q)
    _fell_back(answer, r"too long for the model")
    assert len(llm_server.requests) == 2  # one retry, not a loop


@pytest.mark.parametrize("streaming", [False, True])
def test_malformed_json_is_a_clear_failure(make: Make, llm_server: ScriptedOpenAI,
                                           streaming: bool) -> None:
    llm_server.set(Reply(raw='{"id": "x", "choices": [{"message": {"content": "Ir'))
    answer = _final(make(retries=2), streaming)
    _fell_back(answer, r"malformed|failed")
    assert len(llm_server.requests) == 1  # not retried: the same request would fail again


def test_cut_stream_is_never_shown_as_a_whole_answer(make: Make,
                                                     llm_server: ScriptedOpenAI) -> None:
    llm_server.set(Reply(GOOD + " More text that never arrives.", drop_after=3, chunk=5))
    items = list(make().stream(Q))
    streamed = "".join(i for i in items if isinstance(i, str))
    final = items[-1]
    assert isinstance(final, Answer)
    assert streamed.startswith("Iran rec")  # the user saw the beginning...
    _fell_back(final, r"broke off before the end")  # ...then the extractive answer, with why
    assert not final.text.startswith(streamed)


def test_cut_stream_in_the_chat_shows_the_note(make: Make, llm_server: ScriptedOpenAI) -> None:
    llm_server.set(Reply(GOOD, drop_after=2, chunk=5))
    *_, (chat, turns, _, _) = Handlers(make()).respond(Q, [], [], "llm", 5)
    shown = chat[-1]["content"]
    assert "broke off before the end" in shown and "extractive answer given instead" in shown
    assert turns[-1].mode == "extractive"


@pytest.mark.parametrize("streaming", [False, True])
def test_empty_choices(make: Make, llm_server: ScriptedOpenAI, streaming: bool) -> None:
    llm_server.set(Reply(GOOD, no_choices=True))
    answer = _final(make(), streaming)
    _fell_back(answer, r"no choices|sent no answer")


@pytest.mark.parametrize("streaming", [False, True])
def test_upstream_that_answers_nothing_is_an_error_not_a_decline(
        make: Make, llm_server: ScriptedOpenAI, streaming: bool) -> None:
    llm_server.set(Reply(""), Reply("  \n"))
    with pytest.raises(LLMError, match="returned an empty answer"):
        _final(make(llm_fallback=False), streaming)
    _fell_back(_final(make(), streaming), "empty answer")


@pytest.mark.parametrize("streaming", [False, True])
def test_answer_cut_at_the_token_limit_is_marked_incomplete(
        make: Make, llm_server: ScriptedOpenAI, streaming: bool) -> None:
    def respond(body: dict) -> Reply:  # type: ignore[type-arg]
        n = block_of(body, "29 Russian-made")
        return Reply(f"Iran received 29 Tor-M1 air defense systems [{n}]. It",
                     finish_reason="length")

    llm_server.set()
    llm_server.responder = respond
    answer = _final(make(), streaming)
    assert answer.mode == "llm" and answer.incomplete
    assert answer.text.endswith("…")
    assert any("cut off at its token limit" in n and "incomplete" in n for n in answer.notes)
    assert answer.to_json()["incomplete"] is True


def test_unreachable_endpoint_fails_fast(real_index: Path,
                                         bundled_embedder: SentenceTransformerEmbedder) -> None:
    settings = load_settings(index_dir=real_index / "index", llm_base_url="http://127.0.0.1:9/v1",
                             llm_max_retries=0, llm_timeout=2)
    started = time.perf_counter()
    answer = Assistant(settings, embedder=bundled_embedder).ask(Q)
    assert time.perf_counter() - started < 3
    _fell_back(answer, r"cannot reach the LLM endpoint")


def test_streamed_text_is_marked_checking_until_the_checked_answer_replaces_it(
        make: Make, llm_server: ScriptedOpenAI) -> None:
    def respond(body: dict) -> Reply:  # type: ignore[type-arg]
        n = block_of(body, "29 Russian-made")
        return Reply(f"Iran received 29 Tor-M1 air defense systems [{n}]. Brazil won the 2018 "
                     f"World Cup [{n}].", chunk=6)

    llm_server.set()
    llm_server.responder = respond
    states = [chat[-1]["content"] for chat, *_ in Handlers(make()).respond(Q, [], [], "llm", 5)]
    streaming = [s for s in states if "checking…" in s]
    assert len(streaming) >= 3 and any("Brazil" in s for s in streaming)
    final = states[-1]
    assert "checking…" not in final and "Iran received 29" in final
    body, _, left_out = final.partition('<details class="left-out">')
    assert "Brazil" not in body and "Brazil won the 2018 World Cup" in left_out
