"""Extractive answers: the retrieved sentences that answer the question, cited; never new text.

A sentence can answer only if each key entity of the question is named in it, in the sentence
before it or in the article title (a year: anywhere in the passage; a name also anywhere in the
passage when the sentence refers to someone: "he", "the Russian defense minister"), if it
names no other model of a code the question asks about (S-300 for S-400), and, for "how many",
"how much", "how far", "when" questions, only if it holds a value of that kind that the
question does not already state. The survivors are scored by the reader model
(:mod:`qa.answer.reading`: the probability that the sentence holds the answer); below
``min_support`` the assistant says the articles don't say.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from qa.answer.evidence import (
    Sentence,
    answer_span,
    has_answer_type,
    new_names,
    split_sentences,
    typed_values,
    wants_name,
)
from qa.answer.question import QuestionAnalysis, entity_match
from qa.answer.reading import GATED_TYPES, ReaderModel, features, relative_features
from qa.answer.retrieval import jaccard, shingles
from qa.safety import looks_like_injection
from qa.text import content_stems
from qa.types import Passage
from vectorstore import Embedder

log = logging.getLogger(__name__)

NOT_IN_ARTICLES = "The articles don't say."
_YEAR_ENTITY = re.compile(r"(?:1\d|20)\d\d")
# a sentence that refers to someone or something named elsewhere: a personal pronoun, or "the"
# and a role ("the Russian defense minister", "the company")
_REFERS = re.compile(
    r"\b(?i:he|she|they|his|her|their|him|them)\b"
    r"|\b[Tt]he\s+(?:[\w-]+\s+){0,3}?(?:minister|president|premier|chancellor|leader|official|"
    r"spokes(?:man|woman|person)|director|chief|head|chairman|ceo|general|commander|ambassador|"
    r"envoy|company|firm|group|agency|ministry|government|team|club|band|singer|player|actor|"
    r"author|king|queen|prince|organi[sz]ation)s?\b")


@dataclass(frozen=True)
class Candidate:
    """A sentence that passed the gates; ``score`` is the reader's probability that it holds
    the answer; ``span``: where the answer sits in the sentence text, when it can be told."""

    sentence: Sentence
    score: float
    features: Mapping[str, float] = field(default_factory=dict)
    span: tuple[int, int] | None = None


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
    def __init__(self, embedder: Embedder, *, min_support: float | None = None,
                 max_sentences: int = 2, model: ReaderModel | None = None) -> None:
        """``model``: the reader (default: the fitted one shipped with the package);
        ``min_support`` (default: the model's calibrated threshold)."""
        if model is None:
            from qa.answer.reading import load_model

            model = load_model()
        self.embedder = embedder
        self.model = model
        self.min_support = model.threshold if min_support is None else min_support
        self.max_sentences = max_sentences
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
                   query_vector: Sequence[float],
                   term_weights: Mapping[str, float] | None = None) -> list[Candidate]:
        """Every sentence that passes the gates, scored, best first. The gates run first, so
        only the sentences that pass them are embedded. ``term_weights``: IDF of the
        question's terms over the index (uniform when not given)."""
        passing: list[tuple[Sentence, int]] = []
        seen: set[tuple[str, int, int]] = set()
        context_stems: dict[int, set[str]] = {}
        for rank, passage in enumerate(passages, 1):
            context = f"{passage.title}\n{passage.text}"
            # the question's names must be in the passage (or its title) at all ...
            if not all(entity_match(context, e) >= 0.5 for e in q.entities):
                continue
            context_stems[id(passage)] = set(content_stems(context))
            sents = split_sentences(passage)
            # ... and, but for years (a passage about 2015 need not repeat it), around the
            # sentence: in it, the sentence before it ("he", "the company") or the title
            names = [e for e in q.entities if not _YEAR_ENTITY.fullmatch(e)]
            for i, sentence in enumerate(sents):
                local = "\n".join([passage.title,
                                   *(t.text for t in sents[max(0, i - 1) : i + 1])])
                if sentence.key in seen:
                    continue
                if not all(entity_match(local, e) >= 0.5 for e in names) and not (
                        _REFERS.search(sentence.text)):
                    continue  # ("he", "the minister": the name may be anywhere in the passage)
                if _other_model(sentence.text, q.entities):
                    continue  # about the S-300 when the question asks about the S-400
                seen.add(sentence.key)
                text = sentence.text
                if re.search(r"\?[\"”’']?(?:\s|$)", text) or looks_like_injection(text):
                    continue  # a question, or text addressed to AI assistants, is no answer
                if q.answer_type in GATED_TYPES and not has_answer_type(text, q.answer_type, q):
                    continue  # "how many" wants a number, "when" a date, ...
                passing.append((sentence, rank))
        if not passing:
            return []
        vectors = self._vectors([s.text for s, _ in passing])
        # a passage only BM25 found was not among the dense top: the lowest dense score
        dense = [p.dense_score for p in passages if p.dense_score is not None]
        floor = min(dense, default=0.0)
        best_passage = max(dense, default=0.0)
        asks_name = wants_name(q)
        scored = []
        for (sentence, rank), vector in zip(passing, vectors, strict=True):
            similarity = _cos(vector, query_vector)
            text = sentence.text
            span = answer_span(text, q)
            p = sentence.passage
            values = features(
                q, text, context_stems[id(p)], similarity=similarity, rank=rank,
                span=span is not None, name=bool(new_names(text, q)) if asks_name else None,
                passage_similarity=p.dense_score if p.dense_score is not None else floor,
                best_passage_similarity=best_passage, weights=term_weights or {})
            scored.append((sentence, span, values))
        relative_features([values for *_, values in scored])
        out = [Candidate(sentence, self.model.probability(values), values, span)
               for sentence, span, values in scored]
        out.sort(key=lambda c: (-c.score, c.sentence.passage.source, c.sentence.start))
        return out

    def extract(self, q: QuestionAnalysis, passages: Sequence[Passage],
                query_vector: Sequence[float],
                term_weights: Mapping[str, float] | None = None) -> Extract:
        ranked = self.candidates(q, passages, query_vector, term_weights)
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
        # two files are weighed as equals here: the passage's rank is no evidence against it
        top_score = self._rank_free(top)
        for cand in ranked[1:]:
            score = self._rank_free(cand)
            if score < max(self.min_support, top_score - 0.25):
                continue
            if cand.sentence.passage.path == top.sentence.passage.path:
                continue
            theirs = typed_values(cand.sentence.text, q.answer_type, q)
            if theirs and not (theirs & mine):
                return cand
        return None

    def _rank_free(self, cand: Candidate) -> float:
        return self.model.probability({**cand.features, "rank": 1.0})


_CODE = re.compile(r"^([A-Za-z]{1,4})-?\d[\w-]*$")


def _other_model(text: str, entities: Sequence[str]) -> bool:
    """The sentence names another model of a code the question asks about (S-300 for S-400,
    Su-30 for Su-35) and not the asked one: it is about something else."""
    for e in entities:
        m = _CODE.match(e)
        if m and entity_match(text, e) < 1.0 and re.search(
                rf"(?<![\w-]){re.escape(m.group(1))}-?\d", text, re.I):
            return True
    return False


def _overlaps(a: Sentence, b: Sentence) -> bool:
    (pa, sa, ea), (pb, sb, eb) = a.key, b.key
    return pa == pb and sa < eb and sb < ea
