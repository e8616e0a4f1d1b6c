"""LLM mode against a real HTTP server on 127.0.0.1 speaking the OpenAI protocol (scripted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai_server import Reply, ScriptedOpenAI, block_of

from qa import Answer, Assistant, LLMError, load_settings
from qa.answer.llm import ChatModel
from vectorstore import SentenceTransformerEmbedder

pytestmark = [pytest.mark.llm, pytest.mark.real]

Q = "How many Tor-M1 air defense systems did Iran receive?"


@pytest.fixture
def llm_assistant(real_index: Path, bundled_embedder: SentenceTransformerEmbedder,
                  llm_server: ScriptedOpenAI) -> Assistant:
    settings = load_settings(
        index_dir=real_index / "index", corpus_dir=real_index / "articles",
        llm_base_url=llm_server.base_url, llm_model="scripted-model", llm_timeout=3,
        llm_max_retries=0,
    )
    assert settings.answer_mode == "llm"
    return Assistant(settings, embedder=bundled_embedder)


def _verbatim(answer: Answer) -> None:
    for c in answer.citations:
        with open(c.path) as fh:
            assert fh.read()[c.start : c.end] == c.quote


def _cite_tor(server: ScriptedOpenAI, extra: str = "", chunk: int = 7) -> None:
    def respond(body: dict) -> Reply:  # type: ignore[type-arg]
        n = block_of(body, "29 Russian-made Tor-M1")
        return Reply(f"Iran received 29 Tor-M1 air defense systems [{n}].{extra}", chunk=chunk)

    server.set()
    server.responder = respond


def test_valid_citation_not_streamed(llm_assistant: Assistant,
                                     llm_server: ScriptedOpenAI) -> None:
    _cite_tor(llm_server)
    answer = llm_assistant.ask(Q)
    assert answer.mode == "llm" and answer.answered and answer.model == "scripted-model"
    assert answer.text == "Iran received 29 Tor-M1 air defense systems [1]."
    assert len(answer.citations) == 1
    cite = answer.citations[0]
    assert "29 Russian-made Tor-M1" in cite.quote
    assert cite.source in {"000_7145f400b0cccf04.txt", "002_36c18e366312fe50.txt"}
    _verbatim(answer)
    request = llm_server.requests[-1]
    assert request["stream"] is False
    assert "untrusted" in request["messages"][0]["content"]
    assert "NOT_IN_SOURCES" in request["messages"][0]["content"]


@pytest.mark.parametrize("chunk", [1, 3, 16])
def test_valid_citation_streamed(llm_assistant: Assistant, llm_server: ScriptedOpenAI,
                                 chunk: int) -> None:
    _cite_tor(llm_server, chunk=chunk)
    items = list(llm_assistant.stream(Q))
    final = items[-1]
    assert isinstance(final, Answer)
    pieces = [i for i in items[:-1] if isinstance(i, str)]
    assert len(pieces) > 1 or chunk == 16
    assert "".join(pieces) == final.text == "Iran received 29 Tor-M1 air defense systems [1]."
    assert llm_server.requests[-1]["stream"] is True
    _verbatim(final)


@pytest.mark.parametrize("stream", [False, True])
def test_invented_citation_numbers_are_dropped(llm_assistant: Assistant,
                                               llm_server: ScriptedOpenAI, stream: bool) -> None:
    _cite_tor(llm_server, extra=" Russia also trained crews [9][42].")
    answer = (list(llm_assistant.stream(Q))[-1] if stream else llm_assistant.ask(Q))
    assert isinstance(answer, Answer)
    assert "[9]" not in answer.text and "[42]" not in answer.text
    # left uncited by the dropped markers, the true sentence gets the passage that backs it
    assert answer.text.endswith("Russia also trained crews [2].")
    assert [(c.label, c.citation_added) for c in answer.claims] == [
        ("supported", False), ("supported", True)]
    assert [c.n for c in answer.citations] == [1, 2]
    assert "trained Iranian Tor-M1 specialists" in answer.citations[1].quote
    assert any("[9]" in n for n in answer.notes) and any("[42]" in n for n in answer.notes)


def test_citations_renumbered_in_order_of_use(llm_assistant: Assistant,
                                              llm_server: ScriptedOpenAI) -> None:
    def respond(body: dict) -> Reply:  # type: ignore[type-arg]
        tor = block_of(body, "29 Russian-made Tor-M1")
        last = 5 if tor != 5 else 4
        return Reply(f"Iran received 29 systems [{last}][{tor}]. They were Tor-M1s [{tor}].")

    llm_server.set()
    llm_server.responder = respond
    answer = llm_assistant.ask(Q)
    assert answer.text == "Iran received 29 systems [1][2]. They were Tor-M1s [2]."
    assert [c.n for c in answer.citations] == [1, 2]
    assert "29 Russian-made Tor-M1" in answer.citations[1].quote
    _verbatim(answer)


@pytest.mark.parametrize("stream", [False, True])
def test_abstention_sentinel(llm_assistant: Assistant, llm_server: ScriptedOpenAI,
                             stream: bool) -> None:
    llm_server.set(Reply("NOT_IN_SOURCES", chunk=3))
    if stream:
        items = list(llm_assistant.stream("How many S-400s did Iran get?"))
        assert [i for i in items if isinstance(i, str)] == []
        answer = items[-1]
    else:
        answer = llm_assistant.ask("How many S-400s did Iran get?")
    assert isinstance(answer, Answer)
    assert answer.answered is False and answer.mode == "llm"
    assert answer.text == "The articles don't say." and answer.citations == ()


def test_server_error_falls_back_to_extractive_with_a_note(llm_assistant: Assistant,
                                                           llm_server: ScriptedOpenAI) -> None:
    llm_server.set(Reply(status=500, content="model crashed"))
    answer = llm_assistant.ask(Q)
    assert answer.mode == "extractive" and answer.answered and "29" in answer.text
    assert any("LLM unavailable" in n and "HTTP 500" in n for n in answer.notes)


def test_errors_raise_when_fallback_is_off(real_index: Path, llm_server: ScriptedOpenAI,
                                           bundled_embedder: SentenceTransformerEmbedder) -> None:
    settings = load_settings(index_dir=real_index / "index", llm_base_url=llm_server.base_url,
                             llm_timeout=1, llm_max_retries=0, llm_fallback=False)
    assistant = Assistant(settings, embedder=bundled_embedder)
    llm_server.set(Reply("late", delay=3))
    with pytest.raises(LLMError, match="did not answer within 1 s"):
        assistant.ask(Q)
    llm_server.set(Reply(status=401, content="bad key"))
    with pytest.raises(LLMError, match="refused the API key"):
        assistant.ask(Q)


def test_unreachable_endpoint_is_named() -> None:
    chat = ChatModel("m", base_url="http://127.0.0.1:9/v1", timeout=2, max_retries=0)
    with pytest.raises(LLMError, match=r"cannot reach the LLM endpoint http://127\.0\.0\.1:9"):
        chat.complete([{"role": "user", "content": "hi"}])


def test_broken_stream_is_an_llm_error(llm_server: ScriptedOpenAI) -> None:
    llm_server.set(Reply("Iran received 29 systems [1]. " * 5, chunk=5, drop_after=3))
    chat = ChatModel("m", base_url=llm_server.base_url, timeout=3, max_retries=0)
    with pytest.raises(LLMError):
        list(chat.stream([{"role": "user", "content": "hi"}]))


def test_history_is_sent_as_turns(llm_assistant: Assistant, llm_server: ScriptedOpenAI) -> None:
    _cite_tor(llm_server)
    first = llm_assistant.ask(Q)
    llm_assistant.ask("And when was the contract signed?", history=[first])
    messages = llm_server.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == Q and messages[2]["content"] == first.text
