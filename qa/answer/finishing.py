"""The last step of every answer: copies in other files, injection warnings, citation numbers
kept stable across a conversation, and the final claim labels."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from qa.answer.attribution import carry_flags
from qa.answer.claims import check_claims
from qa.answer.conversation import stable_numbers
from qa.answer.retrieval import HybridRetriever, Retrieval
from qa.ingest.duplicates import copies
from qa.safety import INJECTION_WARNING
from qa.text import sentence_spans
from qa.types import Answer, Citation
from vectorstore import Embedder, StoreError

log = logging.getLogger(__name__)


def copies_of(retriever: HybridRetriever, citation: Citation) -> tuple[str, ...]:
    """Other files carrying the cited passage almost word for word (wire copies)."""
    try:
        hits = retriever.keyword_search(citation.quote, 8)
    except StoreError as exc:
        log.warning("duplicate look-up failed: %s", exc)
        return ()
    candidates = [
        (str(h.metadata.get("source", "")), h.text[a:b])
        for h in hits if h.metadata.get("path") != citation.path
        for a, b in sentence_spans(h.text)
    ]
    return tuple(copies(citation.quote, candidates))


def finish(answer: Answer, started: float, retrieval: Retrieval, prior: Sequence[Answer],
           retriever: HybridRetriever, embedder: Embedder) -> Answer:
    """``answer`` with its passages, timings, copies, warnings, stable numbers and claims."""
    timings = dict(retrieval.timings)
    timings.update(answer.timings)
    # an answer read part by part brings the passages it read
    passages = answer.passages or retrieval.passages
    flagged = {p.path for p in passages if p.injection}
    citations = tuple(
        replace(c, also_in=copies_of(retriever, c),
                warning=INJECTION_WARNING if c.path in flagged else c.warning)
        for c in answer.citations)
    notes = list(answer.notes)
    if any(c.warning for c in citations):
        notes.append("The answer quotes an article that contains instructions aimed at AI "
                     "assistants; treat it with care.")
    text, citations = stable_numbers(answer.text, citations, prior)
    claims = tuple(c for c in answer.claims if c.shown)
    left_out = tuple(c for c in answer.claims if not c.shown)
    if answer.answered and (not claims or text != answer.text):
        # checked here unless the LLM path already checked this very text; extractive
        # sentences are their own quotes, so the lexical checks suffice (no embedding)
        claims = carry_flags(check_claims(text, citations,
                                          embedder if answer.mode == "llm" else None), claims)
    claims = (*claims, *left_out)
    timings["total_ms"] = (time.perf_counter() - started) * 1000
    return replace(answer, text=text, citations=citations, passages=passages,
                   timings=timings, notes=tuple(dict.fromkeys(notes)), claims=claims)
