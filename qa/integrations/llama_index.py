"""LlamaIndex-native ways in: a ``BaseRetriever`` over the project's hybrid retrieval, and a
``BaseQueryEngine`` whose ``Response`` carries the cited answer.

>>> retriever = assistant.as_retriever(top_k=5, since="2015-01-01")
>>> nodes = retriever.retrieve("How many Tor-M1 systems did Iran receive?")
>>> engine = assistant.as_query_engine()
>>> response = engine.query("How many Tor-M1 systems did Iran receive?")
>>> response.response, response.source_nodes, response.metadata["citations"]

A node's text is the passage; its metadata says where it sits: ``source``, ``path``, ``start``,
``end``, ``title``, ``outlet``, ``published``, ``url``, and ``verbatim``: when true,
``open(path, encoding=encoding).read()[start:end] == node.text`` (plain-text files, where the
passage is the file's text as it stands). Otherwise (HTML, or page clutter left out inside the
passage) ``spans`` maps it exactly: each ``(text offset, file offset, length)`` piece of the
node's text is that slice of the file. Only ``title``, ``outlet`` and ``published`` are shown to
an LLM or an embedding model that reads the nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from qa.types import Answer, Passage

# not for a model's eyes
_HIDDEN = ["source", "path", "start", "end", "url", "citations", "verbatim", "spans", "encoding"]


def _file_text(p: Passage) -> str | None:
    """The file's own slice ``[start:end]`` when it is the passage up to white space (the
    cleaner tidies blank lines between paragraphs), else None."""
    try:
        raw = Path(p.path).read_text(encoding=p.encoding)[p.start:p.end]
    except (OSError, UnicodeDecodeError, LookupError):
        return None
    return raw if raw.split() == p.text.split() else None


def passage_node(p: Passage, score: float | None = None) -> NodeWithScore:
    """A retrieved passage as a LlamaIndex node, scored."""
    raw = _file_text(p)
    spans = [list(s) for s in p.spans] or [[0, p.start, len(p.text)]]
    node = TextNode(
        id_=p.id or f"{p.source}:{p.start}-{p.end}", text=raw if raw is not None else p.text,
        metadata={"source": p.source, "path": p.path, "start": p.start, "end": p.end,
                  "title": p.title, "outlet": p.outlet, "published": p.published,
                  "url": p.url, "verbatim": raw is not None, "encoding": p.encoding,
                  "spans": [] if raw is not None else spans},
        excluded_llm_metadata_keys=list(_HIDDEN), excluded_embed_metadata_keys=list(_HIDDEN))
    return NodeWithScore(node=node, score=p.score if score is None else score)


def cited_nodes(answer: Answer) -> list[NodeWithScore]:
    """The passages the answer's citations quote, in citation order, each once; a citation
    whose passage is not among the answer's passages is a node of its quote."""
    nodes: list[NodeWithScore] = []
    seen: set[tuple[str, int, int]] = set()
    for c in answer.citations:
        p = c.passage_in(answer.passages)
        if p is None:
            p = Passage(id="", source=c.source, path=c.path, title=c.title, text=c.quote,
                        start=c.start, end=c.end, score=1.0, outlet=c.outlet,
                        published=c.published, url=c.url)
        key = (p.path, p.start, p.end)
        if key in seen:
            continue
        seen.add(key)
        node = passage_node(p)
        node.node.metadata["citations"] = [x.n for x in answer.citations
                                           if x.passage_in([p]) is not None]
        nodes.append(node)
    return nodes


class QARetriever(BaseRetriever):
    """The assistant's hybrid retrieval (dense + BM25, fused) as a LlamaIndex retriever."""

    def __init__(self, assistant: Any, top_k: int = 5, *, sources: Sequence[str] | None = None,
                 since: str | date | None = None, until: str | date | None = None) -> None:
        super().__init__()
        from qa.answer.retrieval import make_filters

        self.assistant = assistant
        self.top_k = top_k
        self.filters = make_filters(sources, since, until)  # bad dates fail here, not later

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        retrieval = self.assistant.retrieve(query_bundle.query_str, self.top_k, self.filters)
        return [passage_node(p) for p in retrieval.passages]


class QAQueryEngine(BaseQueryEngine):
    """Answers with the assistant (extractive or LLM mode): ``response.response`` is the
    cited answer, ``source_nodes`` the cited passages, ``metadata`` the citations, claims,
    ``answered``, notes and the mode."""

    def __init__(self, assistant: Any, *, mode: Literal["extractive", "llm"] | None = None,
                 top_k: int | None = None, sources: Sequence[str] | None = None,
                 since: str | date | None = None, until: str | date | None = None) -> None:
        super().__init__(callback_manager=None)
        self.assistant = assistant
        self.options: dict[str, Any] = {"mode": mode, "top_k": top_k, "sources": sources,
                                        "since": since, "until": until}

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _query(self, query_bundle: QueryBundle) -> Response:
        answer = self.assistant.ask(query_bundle.query_str, **self.options)
        return Response(response=answer.text, source_nodes=cited_nodes(answer), metadata={
            "answered": answer.answered, "mode": answer.mode, "model": answer.model,
            "citations": [c.to_json() for c in answer.citations],
            "claims": [c.to_json() for c in answer.claims], "notes": list(answer.notes),
            "answer": answer})

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return await asyncio.to_thread(self._query, query_bundle)
