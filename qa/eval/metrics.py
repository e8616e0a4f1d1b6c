"""Answer normalisation and the evaluation metrics, each with a 95% bootstrap interval."""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qa.text import normalize


def contains_alias(answer: str, aliases: Sequence[str]) -> bool:
    """Whether any alias, normalised, occurs in the normalised answer as whole words."""
    norm = f" {normalize(answer)} "
    return any(f" {normalize(a)} " in norm for a in aliases if normalize(a))


def token_f1(answer: str, aliases: Sequence[str]) -> float:
    """Best SQuAD-style token F1 of the answer against any alias."""
    got = normalize(answer).split()
    best = 0.0
    for alias in aliases:
        gold = normalize(alias).split()
        common = sum(min(got.count(w), gold.count(w)) for w in set(gold))
        if not common:
            continue
        p, r = common / len(got), common / len(gold)
        best = max(best, 2 * p * r / (p + r))
    return best


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` per-question values with a 95% bootstrap interval."""

    value: float | None
    n: int
    low: float | None
    high: float | None

    def to_json(self) -> dict[str, Any]:
        return {"value": _round(self.value), "n": self.n,
                "ci95": [_round(self.low), _round(self.high)]}

    def fmt(self) -> str:
        if self.value is None:
            return f"n/a (n={self.n})"
        if self.low is None or self.high is None:
            return f"{self.value:.3f} (n={self.n})"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def bootstrap(values: Sequence[float], *, resamples: int = 2000, seed: int = 0) -> Estimate:
    """Mean and percentile 95% interval by resampling questions with replacement."""
    n = len(values)
    if n == 0:
        return Estimate(None, 0, None, None)
    mean = sum(values) / n
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    return Estimate(mean, n, means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1])


def ratio_bootstrap(pairs: Sequence[tuple[float, float]], *, resamples: int = 2000,
                    seed: int = 0) -> Estimate:
    """sum(num) / sum(den) over questions (e.g. abstention precision), bootstrapped."""
    den = sum(d for _, d in pairs)
    if not pairs or den == 0:
        return Estimate(None, 0, None, None)
    value = sum(nm for nm, _ in pairs) / den
    rng = random.Random(seed)
    samples = []
    for _ in range(resamples):
        pick = rng.choices(pairs, k=len(pairs))
        d = sum(x[1] for x in pick)
        if d:
            samples.append(sum(x[0] for x in pick) / d)
    samples.sort()
    if not samples:
        return Estimate(value, int(den), None, None)
    return Estimate(value, int(den), samples[int(0.025 * len(samples))],
                    samples[max(0, int(0.975 * len(samples)) - 1)])


KS = (1, 3, 5, 10)


def question_scores(row: Mapping[str, Any]) -> dict[str, float | None]:
    """Per-question values of every metric (None where a metric does not apply)."""
    answerable = bool(row["answerable"])
    answered = bool(row["answered"])
    gold = set(row["gold_sources"])
    ranked = list(row["retrieved_files"])
    cited = set(row["cited_sources"])
    s: dict[str, float | None] = {}
    for k in KS:
        top = set(ranked[:k])
        s[f"hit@{k}"] = float(bool(top & gold)) if answerable else None
        s[f"recall@{k}"] = len(top & gold) / len(gold) if answerable else None
    first = next((i for i, f in enumerate(ranked, 1) if f in gold), None)
    s["mrr"] = (1.0 / first if first else 0.0) if answerable else None
    s["accuracy"] = float(row["correct"])
    s["answer_accuracy"] = float(row["correct"]) if answerable else None
    s["token_f1"] = row["token_f1"] if answerable else None
    s["citation_validity"] = float(row["citations_valid"]) if row["citations"] else None
    if answerable and answered and cited:
        s["citation_precision"] = len(cited & gold) / len(cited)
        s["citation_recall"] = len(cited & gold) / len(gold)
        s["citation_support"] = float(row["citations_supported"])
    else:
        s["citation_precision"] = s["citation_recall"] = s["citation_support"] = None
    labels = row.get("claim_labels") or []
    s["claims_supported"] = (sum(lb == "supported" for lb in labels) / len(labels)
                             if labels else None)
    # what an answer shows (LLM mode): never an unsupported claim; how often something was
    # left out, how many claims got their citation after the fact, how often it fell back
    llm = row.get("requested_mode") == "llm"
    s["unsupported_shown"] = float(row.get("claims_unsupported_shown", 0) > 0) if answered \
        else None
    s["left_out"] = float(row.get("claims_left_out", 0) > 0) if llm else None
    s["citation_added"] = (row.get("claims_citation_added", 0) / len(labels)
                           if llm and labels else None)
    s["fallback"] = float(row["mode"] != "llm") if llm else None
    # prompt + completion tokens of every LLM call for the answer (the repair's included)
    s["tokens_per_answer"] = float(row.get("llm_tokens", 0)) if llm else None
    judged = row.get("judge_correct")
    s["judge_accuracy"] = None if judged is None else float(judged)
    s["false_abstention"] = float(not answered) if answerable else None
    # the reader's own share: declines although a gold file was among the 5 passages it read
    s["false_abstention_top5"] = (float(not answered) if answerable and gold & set(ranked[:5])
                                  else None)
    s["hallucination"] = float(answered) if not answerable else None
    s["correct_abstention"] = float(not answered) if not answerable else None
    return s


METRIC_NAMES = (
    [f"hit@{k}" for k in KS] + [f"recall@{k}" for k in KS] + ["mrr", "accuracy",
    "answer_accuracy", "token_f1", "citation_validity", "citation_precision",
    "citation_recall", "citation_support", "false_abstention", "false_abstention_top5",
    "hallucination", "correct_abstention",
    "judge_accuracy", "claims_supported", "unsupported_shown", "left_out", "citation_added",
    "fallback", "tokens_per_answer"]
)


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Estimate]:
    """Every metric over ``rows`` with n and a 95% bootstrap interval."""
    scores = [question_scores(r) for r in rows]
    out: dict[str, Estimate] = {}
    for name in METRIC_NAMES:
        values = [float(v) for s in scores if (v := s[name]) is not None]
        out[name] = bootstrap(values)
    # abstention as a classifier whose positive class is "declined"
    declined_pairs = [(float(not r["answered"] and not r["answerable"]), float(not r["answered"]))
                      for r in rows]
    unans_pairs = [(float(not r["answered"] and not r["answerable"]), float(not r["answerable"]))
                   for r in rows]
    out["abstention_precision"] = ratio_bootstrap(declined_pairs)
    out["abstention_recall"] = ratio_bootstrap(unans_pairs)
    out["abstention_f1"] = _f1_bootstrap([(not r["answered"], not r["answerable"]) for r in rows])
    latencies = sorted(float(r["latency_ms"]) for r in rows if r.get("latency_ms") is not None)
    for q in (50, 95):
        value = latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))] \
            if latencies else None
        out[f"latency_p{q}_ms"] = Estimate(value, len(latencies), None, None)
    return out


def _f1(pairs: Sequence[tuple[bool, bool]]) -> float | None:
    tp = sum(1 for pred, gold in pairs if pred and gold)
    fp = sum(1 for pred, gold in pairs if pred and not gold)
    fn = sum(1 for pred, gold in pairs if gold and not pred)
    if tp + fn == 0:
        return None  # no unanswerable question here: F1 of declining is undefined
    return 2 * tp / (2 * tp + fp + fn)


def _f1_bootstrap(pairs: Sequence[tuple[bool, bool]], *, resamples: int = 2000,
                  seed: int = 0) -> Estimate:
    value = _f1(pairs)
    if value is None:
        return Estimate(None, len(pairs), None, None)
    rng = random.Random(seed)
    samples = sorted(v for _ in range(resamples)
                     if (v := _f1(rng.choices(pairs, k=len(pairs)))) is not None)
    return Estimate(value, len(pairs), samples[int(0.025 * len(samples))],
                    samples[max(0, int(0.975 * len(samples)) - 1)])


def by_type(rows: Sequence[Mapping[str, Any]],
            summarize_fn: Callable[[Sequence[Mapping[str, Any]]], dict[str, Estimate]] = summarize,
            ) -> dict[str, dict[str, Estimate]]:
    types = sorted({r["type"] for r in rows})
    return {t: summarize_fn([r for r in rows if r["type"] == t]) for t in types}


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half):
    how well a score separates right answers from wrong ones (0.5 = not at all)."""
    if not positives or not negatives:
        return None
    ordered = sorted(negatives)
    total = 0.0
    for p in positives:
        below = bisect.bisect_left(ordered, p)
        ties = bisect.bisect_right(ordered, p) - below
        total += below + 0.5 * ties
    return total / (len(positives) * len(negatives))
