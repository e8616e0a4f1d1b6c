"""The extractive answering steps: the reader's chosen sentences as a cited answer, and "tell me
more about [n]" from the sentences around an earlier quote."""

from __future__ import annotations

import time
from dataclasses import replace

from qa.answer.evidence import Sentence, split_sentences
from qa.answer.extractive import NOT_IN_ARTICLES, Candidate, ExtractiveAnswerer, clean_for_display
from qa.answer.question import QuestionAnalysis
from qa.answer.retrieval import Retrieval
from qa.answer.verify import FileCache, verify
from qa.types import Answer, Citation


def _span_in_file(cand: Candidate, citation: Citation) -> tuple[int, int] | None:
    """The candidate's answer span as file offsets, following the citation if verification
    found its quote at another place in the file."""
    if cand.span is None:
        return None
    s = cand.sentence
    a, b = Sentence(s.passage, s.start + cand.span[0], s.start + cand.span[1]).file_range()
    shift = citation.start - s.file_range()[0]
    a, b = a + shift, b + shift
    return (a, b) if citation.start <= a < b <= citation.end else None


def extractive_answer(reader: ExtractiveAnswerer, question: str, analysis: QuestionAnalysis,
                      retrieval: Retrieval, notes: list[str]) -> Answer:
    """The best supporting sentences, each cited and checked against its file, or "the
    articles don't say"."""
    t0 = time.perf_counter()
    found = reader.extract(analysis, retrieval.passages, retrieval.query_vector,
                           retrieval.term_weights)
    files = FileCache()
    parts: list[str] = []
    citations: list[Citation] = []
    for group in found.groups:
        # the same statement in several files is cited once; the copies show as "also in"
        for cand in group:
            citation = verify(cand.sentence.citation(len(citations) + 1),
                              cand.sentence.passage, files)
            if citation is not None:
                citation = replace(citation, answer_span=_span_in_file(cand, citation))
                citations.append(citation)
                dated = f" (as of {citation.published})" if citation.published else ""
                parts.append(f"{clean_for_display(cand.sentence.text)} [{citation.n}]{dated}")
                break
    answered = bool(parts)
    if not answered and found.groups:
        notes.append("The supporting files changed since they were indexed: run qa ingest.")
    if answered and found.conflict and len(parts) > 1:
        parts.insert(0, "The articles give different figures:")
    text = " ".join(parts) if answered else NOT_IN_ARTICLES
    return Answer(
        question=question, text=text, answered=answered, mode="extractive",
        citations=tuple(citations), notes=tuple(notes), support=found.best_score,
        timings={"answer_ms": (time.perf_counter() - t0) * 1000},
    )


def more_about(question: str, ref: Citation, retrieval: Retrieval, notes: list[str]) -> Answer:
    """Extractive "tell me more about [n]": the sentences that follow the cited quote in its
    source (or precede it, at the end of the article)."""
    t0 = time.perf_counter()
    sentences = sorted(
        {s.key: s for p in retrieval.passages if p.path == ref.path
         for s in split_sentences(p)}.values(), key=lambda s: s.key[1])
    after = [s for s in sentences if s.key[1] >= ref.end]
    before = [s for s in sentences if s.key[2] <= ref.start]
    chosen = after[:2] or before[-2:]
    files = FileCache()
    parts: list[str] = []
    citations: list[Citation] = []
    for s in chosen:
        c = verify(s.citation(len(citations) + 1), s.passage, files)
        if c is not None:
            citations.append(c)
            parts.append(f"{clean_for_display(s.text)} [{c.n}]")
    return Answer(
        question=question, text=" ".join(parts) if parts else NOT_IN_ARTICLES,
        answered=bool(parts), mode="extractive", citations=tuple(citations),
        notes=tuple(notes), timings={"answer_ms": (time.perf_counter() - t0) * 1000})
