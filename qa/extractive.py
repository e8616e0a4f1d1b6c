"""Extractive answers: the retrieved sentences that answer the question, cited; never new text.

A sentence (or two adjacent ones) can answer only if it names every key entity of the question
and holds a fact of the expected type (a number for "how many", a date for "when", ...) that the
question does not already state. Among those, the score mixes term coverage with embedding
similarity; below ``min_support`` the assistant says the articles don't say.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.evidence import (
    Sentence,
    has_answer_type,
    names_all,
    split_sentences,
    term_coverage,
    typed_values,
)
from qa.question import QuestionAnalysis
from qa.retrieval import jaccard, shingles
from qa.safety import looks_like_injection
from qa.types import Passage
from vectorstore import Embedder

log = logging.getLogger(__name__)

NOT_IN_ARTICLES = "The articles don't say."


@dataclass(frozen=True)
class Candidate:
    sentence: Sentence
    coverage: float
    similarity: float
    score: float


@dataclass(frozen=True)
class Extract:
    """Chosen sentences, each with the other places (files) that say the same thing.
    ``conflict``: the chosen sentences come from different files and state different values."""

    groups: tuple[tuple[Candidate, ...], ...]
    best_score: float
    considered: int
    conflict: bool = False


def _cos(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(y * y for y in b)) or 1.0
    return dot / (na * nb)


def clean_for_display(text: str) -> str:
    """Markdown escapes and runs of whitespace out; the citation keeps the verbatim quote."""
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!$])", r"\1", text)
    return " ".join(text.split())


class ExtractiveAnswerer:
    def __init__(self, embedder: Embedder, *, min_support: float = 0.5,
                 max_sentences: int = 2, window_penalty: float = 0.05) -> None:
        self.embedder = embedder
        self.min_support = min_support
        self.max_sentences = max_sentences
        self.window_penalty = window_penalty
        self.cache_size = 20_000
        self._cache: dict[str, Sequence[float]] = {}

    def _vectors(self, texts: Sequence[str]) -> list[Sequence[float]]:
        """Sentence vectors, from a bounded cache when the sentence was embedded before."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self.embedder.embed(missing), strict=True):
                self._cache[text] = vector
            while len(self._cache) > self.cache_size:
                self._cache.pop(next(iter(self._cache)))
        return [self._cache[t] for t in texts]

    def candidates(self, q: QuestionAnalysis, passages: Sequence[Passage],
                   query_vector: Sequence[float]) -> list[Candidate]:
        """Every sentence and adjacent pair that passes the gates, scored, best first. The
        gates run first, so only the sentences that pass them are embedded."""
        options: list[tuple[Sentence, tuple[Sentence, ...], float]] = []
        seen: set[tuple[str, int, int]] = set()
        for passage in passages:
            sents = split_sentences(passage)
            for i, s in enumerate(sents):
                options.append((s, (s,), 0.0))
                if i + 1 < len(sents):
                    nxt = sents[i + 1]
                    gap = s.passage.text[s.end : nxt.start]
                    if gap.count("\n") > 2 or len(gap) > 8:
                        continue  # farther apart than the next paragraph
                    penalty = self.window_penalty * (2 if "\n" in gap else 1)
                    options.append((Sentence(s.passage, s.start, nxt.end), (s, nxt), penalty))
        passing: list[tuple[Sentence, tuple[Sentence, ...], float]] = []
        for sentence, parts, penalty in options:
            if sentence.key in seen:
                continue
            seen.add(sentence.key)
            text = sentence.text
            if re.search(r"\?[\"”’']?(?:\s|$)", text) or looks_like_injection(text):
                continue  # a question, or text addressed to AI assistants, is no answer
            if names_all(text, q) and has_answer_type(text, q.answer_type, q):
                passing.append((sentence, parts, penalty))
        if not passing:
            return []
        singles = list({(id(p.passage), p.start): p for _, parts, _ in passing
                        for p in parts}.items())
        vectors = self._vectors([p.text for _, p in singles])
        sim = {key: _cos(v, query_vector) for (key, _), v in zip(singles, vectors, strict=True)}
        out: list[Candidate] = []
        for sentence, parts, penalty in passing:
            similarity = max(sim[(id(p.passage), p.start)] for p in parts)
            coverage = term_coverage(sentence.text, q)
            score = 0.5 * coverage + 0.5 * max(similarity, 0.0) - penalty
            out.append(Candidate(sentence, coverage, similarity, score))
        out.sort(key=lambda c: (-c.score, c.sentence.passage.source, c.sentence.start))
        return out

    def extract(self, q: QuestionAnalysis, passages: Sequence[Passage],
                query_vector: Sequence[float]) -> Extract:
        ranked = self.candidates(q, passages, query_vector)
        if not ranked or ranked[0].score < self.min_support:
            best = ranked[0].score if ranked else 0.0
            log.info("extractive: abstain (best %.3f < %.3f, %d candidates)", best,
                     self.min_support, len(ranked))
            return Extract((), best, len(ranked))
        top = ranked[0]
        groups: list[list[Candidate]] = [[top]]
        for cand in ranked[1:]:
            if cand.score < max(self.min_support, top.score - 0.1):
                break
            sh = shingles(cand.sentence.text)
            twin = next((g for g in groups if jaccard(sh, shingles(g[0].sentence.text)) >= 0.7),
                        None)
            if twin is not None:
                # the same statement elsewhere: cite it too, in another file only
                if all(c.sentence.passage.path != cand.sentence.passage.path for c in twin):
                    twin.append(cand)
                continue
            if any(_overlaps(cand.sentence, c.sentence) for g in groups for c in g):
                continue
            if len(groups) < self.max_sentences:
                groups.append([cand])
        conflict = self._conflicting(q, ranked, top)
        if conflict is not None:
            groups = [[top], [conflict]]
        return Extract(tuple(tuple(g) for g in groups), top.score, len(ranked),
                       conflict=conflict is not None)

    def _conflicting(self, q: QuestionAnalysis, ranked: Sequence[Candidate],
                     top: Candidate) -> Candidate | None:
        """Another file's candidate, nearly as good, that gives a different figure or date:
        both are shown instead of silently picking one."""
        # dates are left out: two dates in two articles usually belong to two events
        if q.answer_type not in ("count", "amount", "measure"):
            return None
        mine = typed_values(top.sentence.text, q.answer_type, q)
        if not mine:
            return None
        for cand in ranked[1:]:
            if cand.score < max(self.min_support, top.score - 0.15):
                break
            if cand.sentence.passage.path == top.sentence.passage.path:
                continue
            theirs = typed_values(cand.sentence.text, q.answer_type, q)
            if theirs and not (theirs & mine):
                return cand
        return None


def _overlaps(a: Sentence, b: Sentence) -> bool:
    (pa, sa, ea), (pb, sb, eb) = a.key, b.key
    return pa == pb and sa < eb and sb < ea
