"""How well a candidate sentence answers the question: features, and the logistic model that
turns them into the probability that the sentence holds the answer.

The features are measured, not hand-tuned per article: the share of the question's
information (IDF-weighted over the index) that the sentence and its passage carry, the share of
its names and phrases, embedding similarity, the passage's rank, and whether the sentence adds
anything the question does not already say. The weights and the abstention threshold are
fitted on the tuning half of the held-out set (``eval/fit_reader.py``), never on the bundled
articles, and stored in ``qa/data/reader_model.json``; the probability is the abstention score.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.answer.question import QuestionAnalysis, entity_match
from qa.errors import ConfigError
from qa.text import content_stems

FEATURES = (
    "coverage",  # IDF-weighted share of the question's terms in the sentence
    "context_coverage",  # ... in the sentence, its passage and the article title
    "entities",  # share of the question's names the sentence names (partly: part of a name)
    "bigrams",  # share of the question's adjacent term pairs the sentence has adjacent
    "similarity",  # cosine of the sentence and question embeddings
    "rank",  # 1 / the passage's retrieval rank
    "novelty",  # share of the sentence's terms the question does not have
    "short",  # fewer than 8 words: headings, captions
    "span",  # count/amount/measure/date questions: the value was located (answer_span)
    "gated",  # the question wants a count, amount, measure or date (the sentence has one)
    "name_fit",  # who/where/which-X questions: the sentence has a name the question lacks
    "name_missing",  # ... and it has none
    "passage_similarity",  # cosine of the passage and the question (dense search)
    "best_passage_similarity",  # the best of that over the passages read: is anything close?
    "coverage_lead",  # coverage minus the best coverage among the question's other candidates
    "similarity_lead",  # similarity minus the best similarity among them (> 0: a clear winner)
)

GATED_TYPES = ("count", "amount", "measure", "date")

MODEL_PATH = Path(__file__).resolve().parents[1] / "data" / "reader_model.json"


def _weighted_share(terms: Sequence[str], have: set[str], weights: Mapping[str, float]) -> float:
    total = sum(weights.get(t, 1.0) for t in terms)
    if not total:
        return 0.0
    return sum(weights.get(t, 1.0) for t in terms if t in have) / total


def _pairs(stems: Sequence[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(stems))


@functools.lru_cache(maxsize=256)
def _question_pairs(question: str) -> frozenset[tuple[str, str]]:
    """The question's adjacent term pairs: the same for all of its candidate sentences."""
    return frozenset(_pairs(content_stems(question)))


@functools.lru_cache(maxsize=1024)
def _entity_stems(entity: str) -> frozenset[str]:
    return frozenset(content_stems(entity))


def features(q: QuestionAnalysis, sentence: str, context_stems: set[str], *, similarity: float,
             rank: int, span: bool, name: bool | None,
             passage_similarity: float = 0.0, best_passage_similarity: float = 0.0,
             weights: Mapping[str, float]) -> dict[str, float]:
    """The feature vector of ``sentence``; ``context_stems``: the content stems of its passage
    and title.
    ``name``: for questions that want a name, whether the sentence has one (else None)."""
    sent_stems = content_stems(sentence)
    ents = [entity_match(sentence, e) for e in q.entities]
    # a name the sentence gives another way ("UN" for "United Nations", "UMC") covers its terms
    have = set(sent_stems).union(*(_entity_stems(e) for e, m in zip(q.entities, ents, strict=True)
                                   if m >= 1.0))
    have_ctx = have | context_stems
    q_pairs = _question_pairs(q.text)
    q_terms = set(q.terms)
    novel = [s for s in sent_stems if s not in q_terms]
    return {
        "coverage": _weighted_share(q.terms, have, weights),
        "context_coverage": _weighted_share(q.terms, have_ctx, weights),
        "entities": sum(ents) / len(ents) if ents else 1.0,
        "bigrams": (len(q_pairs & _pairs(sent_stems)) / len(q_pairs)) if q_pairs else 0.0,
        "similarity": max(similarity, 0.0),
        "rank": 1.0 / max(rank, 1),
        "novelty": len(novel) / len(sent_stems) if sent_stems else 0.0,
        "short": float(len(sentence.split()) < 8),
        "span": float(span and q.answer_type in GATED_TYPES),
        "gated": float(q.answer_type in GATED_TYPES),
        "name_fit": float(name is True),
        "name_missing": float(name is False),
        "passage_similarity": max(passage_similarity, 0.0),
        "best_passage_similarity": max(best_passage_similarity, 0.0),
        "coverage_lead": 0.0,  # set by relative_features()
        "similarity_lead": 0.0,
    }


def relative_features(rows: Sequence[dict[str, float]]) -> None:
    """Fills the ``*_lead`` features of one question's candidates, in place: how far each is
    ahead of the best of the others (negative: behind); a lone candidate leads by its value."""
    for name in ("coverage", "similarity"):
        values = [r[name] for r in rows]
        ranked = sorted(values, reverse=True)
        best, runner_up = ranked[0], (ranked[1] if len(ranked) > 1 else 0.0)
        for r in rows:
            # the best of the others: the runner-up for the leader, else the leader
            r[f"{name}_lead"] = r[name] - (runner_up if r[name] == best else best)


@dataclass(frozen=True)
class ReaderModel:
    """``p = sigmoid(bias + sum(weight * feature))``; below ``threshold`` the reader abstains."""

    weights: Mapping[str, float]
    bias: float
    threshold: float

    def probability(self, values: Mapping[str, float]) -> float:
        z = self.bias + sum(w * values.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict[str, object]:
        return {"features": list(self.weights), "weights": dict(self.weights),
                "bias": self.bias, "threshold": self.threshold}


def load_model(path: str | Path | None = None) -> ReaderModel:
    """The fitted model; a file naming other features than :data:`FEATURES` is refused."""
    path = Path(path) if path else MODEL_PATH
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        weights = {str(k): float(v) for k, v in raw["weights"].items()}
        model = ReaderModel(weights, float(raw["bias"]), float(raw["threshold"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"cannot read the reader model {path}: {exc}") from exc
    if set(weights) != set(FEATURES):
        raise ConfigError(f"the reader model {path} has features {sorted(weights)}, "
                          f"expected {sorted(FEATURES)}: refit it with eval/fit_reader.py")
    return model
