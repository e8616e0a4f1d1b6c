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

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ConfigError
from qa.question import QuestionAnalysis, entity_match
from qa.text import content_stems

FEATURES = (
    "coverage",  # IDF-weighted share of the question's terms in the sentence
    "context_coverage",  # ... in the sentence, its passage and the article title
    "entities",  # share of the question's names the sentence names (partly: part of a name)
    "bigrams",  # share of the question's adjacent term pairs the sentence has adjacent
    "similarity",  # cosine of the sentence and question embeddings
    "rank",  # 1 / the passage's retrieval rank
    "novelty",  # share of the sentence's terms the question does not have
    "typed",  # the sentence holds a value of the expected kind (name for who/where)
    "short",  # fewer than 8 words: headings, captions
    "span",  # a value of the expected kind was located in the sentence (answer_span)
    "gated",  # the question wants a count, amount, measure or date (the sentence has one)
    "coverage_gap",  # coverage minus the best coverage among this question's candidates
    "similarity_gap",  # similarity minus the best similarity among them
)

MODEL_PATH = Path(__file__).resolve().parent / "data" / "reader_model.json"


def _weighted_share(terms: Sequence[str], have: set[str], weights: Mapping[str, float]) -> float:
    total = sum(weights.get(t, 1.0) for t in terms)
    if not total:
        return 0.0
    return sum(weights.get(t, 1.0) for t in terms if t in have) / total


def _pairs(stems: Sequence[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(stems))


def features(q: QuestionAnalysis, sentence: str, context: str, *, similarity: float,
             rank: int, typed: bool, span: bool,
             weights: Mapping[str, float]) -> dict[str, float]:
    """The feature vector of ``sentence`` (found in ``context``: its passage and title)."""
    sent_stems = content_stems(sentence)
    have = set(sent_stems)
    have_ctx = have | set(content_stems(context))
    ents = [entity_match(sentence, e) for e in q.entities]
    q_pairs = _pairs(content_stems(q.text))
    novel = [s for s in sent_stems if s not in set(q.terms)]
    return {
        "coverage": _weighted_share(q.terms, have, weights),
        "context_coverage": _weighted_share(q.terms, have_ctx, weights),
        "entities": sum(ents) / len(ents) if ents else 1.0,
        "bigrams": (len(q_pairs & _pairs(sent_stems)) / len(q_pairs)) if q_pairs else 0.0,
        "similarity": max(similarity, 0.0),
        "rank": 1.0 / max(rank, 1),
        "novelty": len(novel) / len(sent_stems) if sent_stems else 0.0,
        "typed": float(typed),
        "short": float(len(sentence.split()) < 8),
        "span": float(span),
        "gated": float(q.answer_type in ("count", "amount", "measure", "date")),
        "coverage_gap": 0.0,  # set by relative_features()
        "similarity_gap": 0.0,
    }


def relative_features(rows: Sequence[dict[str, float]]) -> None:
    """Fills the ``*_gap`` features of one question's candidates (how far each is behind the
    best of them), in place."""
    if not rows:
        return
    best_cov = max(r["coverage"] for r in rows)
    best_sim = max(r["similarity"] for r in rows)
    for r in rows:
        r["coverage_gap"] = r["coverage"] - best_cov
        r["similarity_gap"] = r["similarity"] - best_sim


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
