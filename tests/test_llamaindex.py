"""The assistant inside LlamaIndex pipelines (issue 15, part 1): its retriever in a plain
``RetrieverQueryEngine``, its own query engine, and a LlamaIndex ``CustomLLM`` as the answering
model with the project's prompts, citation checks and claim labels."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.llms import (
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
    MockLLM,
)
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import BaseRetriever
from pydantic import Field

from qa import Assistant, LLMError, QAError, load_settings
from vectorstore import SentenceTransformerEmbedder

pytestmark = pytest.mark.real

Q = "How many Tor-M1 air defense systems did Iran receive?"


def _verbatim(node: Any) -> None:
    """The node's text is the file's text at its offsets: as one slice, or piece by piece."""
    meta, text = node.node.metadata, node.node.text
    file = Path(meta["path"]).read_text(encoding=meta["encoding"])
    if meta["verbatim"]:
        assert file[meta["start"]:meta["end"]] == text
    else:
        assert meta["spans"]
        for at, offset, length in meta["spans"]:
            assert text[at:at + length] == file[offset:offset + length]


def test_retriever_gives_nodes_that_point_into_the_files(real_assistant: Assistant) -> None:
    retriever = real_assistant.as_retriever(top_k=3)
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve(Q)
    assert len(nodes) == 3 and "29" in nodes[0].node.text
    for n in nodes:
        assert {"source", "path", "start", "end", "title", "outlet", "published"} <= set(
            n.node.metadata)
        _verbatim(n)
        assert n.score is not None
        # what an LLM reading the node sees: the title, not file paths or offsets
        shown = n.node.get_content(metadata_mode="llm")
        assert n.node.metadata["path"] not in shown
    assert all(n.node.metadata["verbatim"] for n in nodes)  # .txt files: one slice each


def test_retriever_filters_and_refuses_bad_dates(real_assistant: Assistant) -> None:
    only = real_assistant.as_retriever(top_k=5, sources=["003_7471295c697f3a29.txt"])
    assert {n.node.metadata["source"] for n in only.retrieve(Q)} == {"003_7471295c697f3a29.txt"}
    with pytest.raises(QAError, match="since"):
        real_assistant.as_retriever(since="2020-13-01")


def test_retriever_inside_a_plain_llamaindex_query_engine(real_assistant: Assistant) -> None:
    engine = RetrieverQueryEngine.from_args(real_assistant.as_retriever(top_k=2),
                                            llm=MockLLM(max_tokens=16))
    response = engine.query(Q)
    assert len(response.source_nodes) == 2
    assert "29 Russian-made Tor-M1" in response.source_nodes[0].node.text
    _verbatim(response.source_nodes[0])


def test_query_engine_answers_with_citations(real_assistant: Assistant) -> None:
    engine = real_assistant.as_query_engine()
    response = engine.query(Q)
    assert "29" in str(response) and "[1]" in response.response
    meta = response.metadata
    assert meta["answered"] is True and meta["mode"] == "extractive"
    quote = meta["citations"][0]["quote"]
    assert any(quote in n.node.text for n in response.source_nodes)
    assert response.source_nodes[0].node.metadata["citations"] == [1]
    for n in response.source_nodes:
        _verbatim(n)
    assert meta["claims"] and meta["claims"][0]["label"] == "supported"
    declined = asyncio.run(engine.aquery("Who won the 2022 football World Cup?"))
    assert declined.response == "The articles don't say." and not declined.source_nodes
    assert declined.metadata["answered"] is False


class CitingLLM(CustomLLM):
    """A LlamaIndex LLM of its own, as a user would write one: it answers from the numbered
    sources in the prompt, citing the source that holds the figure (or invents one when told
    to, to show that the checks still run)."""

    invent: bool = False
    prompts: list[str] = Field(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="citing-test-llm", num_output=256)

    def _answer(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if self.invent:
            return "Iran received 300 Tor-M1 systems from China [1]."
        for n, body in re.findall(r'<source n="(\d+)"[^>]*>\n(.*?)\n</source>', prompt, re.S):
            if "29 Russian-made Tor-M1" in body:
                return f"Iran received 29 Tor-M1 air defense systems [{n}]."
        return "INSUFFICIENT_CONTEXT"

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._answer(prompt))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False,
                        **kwargs: Any) -> CompletionResponseGen:
        text = self._answer(prompt)

        def pieces() -> CompletionResponseGen:
            sent = ""
            for word in re.findall(r"\S+\s*", text):
                sent += word
                yield CompletionResponse(text=sent, delta=word)

        return pieces()


def _with_llm(real_index: Path, embedder: SentenceTransformerEmbedder, llm: Any) -> Assistant:
    settings = load_settings(index_dir=real_index / "index", corpus_dir=real_index / "articles")
    return Assistant(settings, embedder=embedder, llm=llm)


def test_a_llamaindex_llm_answers_with_checked_citations(
        real_index: Path, bundled_embedder: SentenceTransformerEmbedder) -> None:
    llm = CitingLLM()
    assistant = _with_llm(real_index, bundled_embedder, llm)
    assert assistant.mode == "llm"  # QA_MODE=auto: the model given is used
    answer = assistant.ask(Q)
    assert answer.mode == "llm" and answer.model == "citing-test-llm"
    assert answer.answered and "29" in answer.text
    assert answer.citations and "29 Russian-made Tor-M1" in answer.citations[0].quote
    assert [c.label for c in answer.claims] == ["supported"]
    assert "<source n=" in llm.prompts[-1]  # the project's own prompt
    streamed = list(assistant.stream(Q))
    assert "".join(p for p in streamed[:-1] if isinstance(p, str)).startswith("Iran received")
    assert streamed[-1].text == answer.text
    engine = assistant.as_query_engine()
    assert engine.query(Q).metadata["mode"] == "llm"


def test_a_llamaindex_llm_that_invents_is_caught(
        real_index: Path, bundled_embedder: SentenceTransformerEmbedder) -> None:
    assistant = _with_llm(real_index, bundled_embedder, CitingLLM(invent=True))
    answer = assistant.ask(Q)
    shown: Sequence[str] = [c.label for c in answer.claims if c.shown]
    assert "300" not in answer.text or "unsupported" in shown
    assert any(c.label == "unsupported" for c in answer.claims)


class BrokenLLM(CitingLLM):
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise ConnectionError("model server went away")


def test_a_failing_llamaindex_llm_is_an_llm_error_or_falls_back(
        real_index: Path, bundled_embedder: SentenceTransformerEmbedder) -> None:
    assistant = _with_llm(real_index, bundled_embedder, BrokenLLM())
    with pytest.raises(LLMError, match="model server went away"):
        assistant.ask(Q, fallback=False)
    answer = assistant.ask(Q, fallback=True)
    assert answer.mode == "extractive" and "29" in answer.text
    assert any("LLM unavailable" in n for n in answer.notes)


def test_only_llamaindex_llms_are_accepted(real_index: Path,
                                          bundled_embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(TypeError, match="llama_index"):
        _with_llm(real_index, bundled_embedder, object())


def test_html_nodes_map_back_to_the_file_piece_by_piece(tmp_path: Path) -> None:
    from conftest import assistant_over

    from vectorstore import HashEmbedder

    page = ("<html><head><title>Armenia buys jets</title></head><body><article>"
            "<h1>Armenia buys jets</h1><p>Armenia bought four <b>Su-30SM</b> fighters from "
            "Russia in 2019, officials said.</p><p>The jets joined the air force in "
            "Yerevan.</p></article></body></html>")
    assistant = assistant_over(tmp_path, {"armenia.html": page}, HashEmbedder())
    nodes = assistant.as_retriever(top_k=1).retrieve("How many Su-30SM did Armenia buy?")
    assert nodes and "four Su-30SM fighters" in nodes[0].node.text
    assert nodes[0].node.metadata["verbatim"] is False  # markup sits between the words
    _verbatim(nodes[0])
