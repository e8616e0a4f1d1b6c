"""The extractive answering steps: the reader's chosen sentences as a cited answer, and "tell me
more about [n]" from the sentences around an earlier quote."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from qa.answer.evidence import Sentence, split_sentences
from qa.answer.extractive import (
    NOT_IN_ARTICLES,
    Candidate,
    Extract,
    ExtractiveAnswerer,
    clean_for_display,
)
from qa.answer.question import QuestionAnalysis, analyse, question_parts
from qa.answer.retrieval import Retrieval
from qa.answer.verify import FileCache, verify
from qa.types import Answer, Citation, Passage


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
                      retrieval: Retrieval, notes: list[str],
                      retrieve: Callable[[str], Retrieval] | None = None) -> Answer:
    """The best supporting sentences, each cited and checked against its file, or "the
    articles don't say". A question that asks two things ("Which official was due in Moscow,
    and which minister came to Tehran?") is answered part by part when ``retrieve`` is given:
    each part retrieved and read on its own, and a part the articles don't answer is named."""
    t0 = time.perf_counter()
    asked = question_parts(question) if retrieve is not None else (question,)
    files = FileCache()
    parts: list[str] = []
    citations: list[Citation] = []
    scores: list[float] = []
    missing: list[str] = []
    changed = False
    previous: QuestionAnalysis | None = None
    read: dict[str, Passage] = {}  # the passages the parts were read from, by id
    for part in asked:
        if len(asked) == 1:
            found = reader.extract(analysis, retrieval.passages, retrieval.query_vector,
                                   retrieval.term_weights)
        else:
            assert retrieve is not None
            # "... and when did they arrive?": a part that names nothing is about the names
            # of the part before it
            part_analysis = analyse(part).with_context(previous)
            inherited = [e for e in part_analysis.entities if e not in part]
            got = retrieve(" ".join([part, *inherited]))
            found = reader.extract(part_analysis, got.passages, got.query_vector,
                                   got.term_weights)
            previous = part_analysis
            read.update((p.id, p) for p in got.passages if p.id not in read)
        texts = _cited(found, files, citations)
        changed |= bool(found.groups) and not texts
        if all(texts) and found.conflict and len(texts) > 1:
            texts.insert(0, "The articles give different figures:")
        if texts:
            scores.append(found.best_score)
        else:
            missing.append(part)
        parts += [t for t in texts if t]
    answered = bool(parts)
    if changed:
        notes.append("The supporting files changed since they were indexed: run qa ingest.")
    if answered and missing:  # some parts answered: say which the articles leave open
        parts += [f"The articles don't say: “{part}”" for part in missing]
    text = " ".join(parts) if answered else NOT_IN_ARTICLES
    return Answer(
        question=question, text=text, answered=answered, mode="extractive",
        citations=tuple(citations), notes=tuple(notes), passages=tuple(read.values()),
        support=min(scores) if scores else found.best_score,
        timings={"answer_ms": (time.perf_counter() - t0) * 1000},
    )


def _cited(found: Extract, files: FileCache, citations: list[Citation]) -> list[str]:
    """The chosen sentences as cited text, numbered on from ``citations`` (appended to);
    the same statement in several files is cited once (the copies show as "also in"), and a
    sentence cited already (for an earlier part of the question) is ``""``."""
    parts: list[str] = []
    for group in found.groups:
        for cand in group:
            citation = verify(cand.sentence.citation(len(citations) + 1),
                              cand.sentence.passage, files)
            if citation is not None and any(
                    (c.path, c.start, c.end) == (citation.path, citation.start, citation.end)
                    for c in citations):
                parts.append("")  # said already, for an earlier part of the question
                break
            if citation is not None:
                citation = replace(citation, answer_span=_span_in_file(cand, citation))
                citations.append(citation)
                dated = f" (as of {citation.published})" if citation.published else ""
                parts.append(f"{clean_for_display(cand.sentence.text)} [{citation.n}]{dated}")
                break
    return parts


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
