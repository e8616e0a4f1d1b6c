"""Fits the extractive reader (qa/answer/reading.py) on the tuning half of the held-out set only.

    python eval/fit_reader.py [--questions eval/heldout/tune.jsonl] [--write]

Every candidate sentence the gates let through for a tuning question is labelled right when it
contains a gold answer alias (unanswerable questions have none). A listwise logistic model (a
softmax over each question's candidates, L2, numpy) learns which candidate answers; Platt
scaling of the top candidate's score (right or not) makes that a probability; the abstention
threshold is the one that gets the most tuning questions right (an answer containing an
alias, or a decline on an unanswerable one). It prints the threshold sweep and the ROC AUC of
the top candidate's probability (right vs wrong answers); --write stores the model in
qa/data/reader_model.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import Assistant  # noqa: E402
from qa.answer.question import analyse  # noqa: E402
from qa.answer.reading import FEATURES, MODEL_PATH, ReaderModel  # noqa: E402
from qa.eval.metrics import contains_alias, roc_auc  # noqa: E402
from qa.eval.questions import load_questions  # noqa: E402
from qa.eval.runner import corpus_assistant, corpus_for  # noqa: E402


def collect(assistant: Assistant, questions: list) -> list[dict]:
    out = []
    for q in questions:
        analysis = analyse(q.question)
        retrieval = assistant.retrieve(q.question)
        cands = assistant.extractive.candidates(analysis, retrieval.passages,
                                                retrieval.query_vector, retrieval.term_weights)
        out.append({"q": q, "cands": [
            ([c.features[f] for f in FEATURES],
             q.answerable and contains_alias(c.sentence.text, q.answer_aliases))
            for c in cands]})
    return out


def _padded(examples: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates as a (questions, most candidates, features) array, a mask of real ones and
    a mask of right ones."""
    m = max(len(e["cands"]) for e in examples)
    x = np.zeros((len(examples), m, len(FEATURES)))
    real = np.zeros((len(examples), m), dtype=bool)
    right = np.zeros((len(examples), m), dtype=bool)
    for i, e in enumerate(examples):
        for j, (f, lab) in enumerate(e["cands"]):
            x[i, j], real[i, j], right[i, j] = f, True, lab
    return x, real, right


def fit_ranking(examples: list[dict], l2: float = 2.0, steps: int = 4000) -> np.ndarray:
    """Listwise (conditional logit) weights: for each question with a right candidate, the
    log-probability that a softmax over its candidates puts its mass on the right ones."""
    chosen = [e for e in examples if any(lab for _, lab in e["cands"])]
    x, real, right = _padded(chosen)
    w = np.zeros(len(FEATURES))
    for _ in range(steps):
        s = np.where(real, x @ w, -np.inf)
        p_all = np.exp(s - s.max(axis=1, keepdims=True))
        p_all /= p_all.sum(axis=1, keepdims=True)
        s_pos = np.where(right, s, -np.inf)
        p_pos = np.exp(s_pos - s_pos.max(axis=1, keepdims=True))
        p_pos /= p_pos.sum(axis=1, keepdims=True)
        grad = np.einsum("qm,qmf->f", p_all - p_pos, x) / len(chosen) + l2 * w / len(chosen)
        w -= 0.5 * grad
    return w


def fit_calibration(examples: list[dict], w: np.ndarray) -> np.ndarray:
    """Platt scaling of the ranking score of each question's top candidate: the probability
    that it is right (an unanswerable question's top candidate never is), with an offset for
    each kind of question (a count or date already passed its gate; a "who" wants a name).
    and the best passage's similarity to the question (is anything in the index close?).
    Returns (scale, bias, offset for gated questions, for name questions, weight of the best
    passage similarity)."""
    gated, fit_, missing, best = (FEATURES.index(f) for f in (
        "gated", "name_fit", "name_missing", "best_passage_similarity"))
    rows, y = [], []
    for e in examples:
        if e["cands"]:
            scores = [float(np.dot(w, f)) for f, _ in e["cands"]]
            best_i = int(np.argmax(scores))
            f = e["cands"][best_i][0]
            rows.append([scores[best_i], 1.0, f[gated], f[fit_] + f[missing], f[best]])
            y.append(float(e["cands"][best_i][1]))
    x, target = np.array(rows), np.array(y)
    c = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    for _ in range(8000):
        p = 1.0 / (1.0 + np.exp(-(x @ c)))
        c -= 0.5 * (x.T @ (p - target) / len(target) + 0.01 * c * np.array([0, 0, 1, 1, 1]))
    return c


def fit(examples: list[dict]) -> tuple[np.ndarray, float]:
    """Weights and bias of ``sigmoid(bias + w . features)``: listwise ranking weights, scaled
    by the calibration; the per-kind offsets land on the indicator features of the kind
    (``gated``; ``name_fit`` and ``name_missing``), which are constant within a question, so
    the ranking is unchanged by them."""
    w = fit_ranking(examples)
    scale, bias, gated, named, best = fit_calibration(examples, w)
    out = scale * w
    out[FEATURES.index("gated")] += gated
    out[FEATURES.index("name_fit")] += named
    out[FEATURES.index("name_missing")] += named
    out[FEATURES.index("best_passage_similarity")] += best
    return out, float(bias)


def top_choices(examples: list[dict], model: ReaderModel) -> list[tuple[float, bool, bool]]:
    """(probability of the best candidate, is it right, answerable) per question with one."""
    rows = []
    for e in examples:
        if not e["cands"]:
            rows.append((0.0, False, e["q"].answerable))
            continue
        scored = [(model.probability(dict(zip(FEATURES, f, strict=True))), lab)
                  for f, lab in e["cands"]]
        p, right = max(scored, key=lambda s: s[0])
        rows.append((p, right, e["q"].answerable))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", default=str(ROOT / "eval/heldout/tune.jsonl"))
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--index", help="keep the corpus index here (default: a temporary one)")
    args = parser.parse_args()
    questions = load_questions(args.questions)
    corpus = corpus_for(args.questions, None)
    with tempfile.TemporaryDirectory(prefix="qa-fit-") as tmp:
        base = Assistant()
        index = Path(args.index) if args.index else Path(tmp) / "index"
        assistant = corpus_assistant(base, corpus, index) if corpus else base
        examples = collect(assistant, questions)
    w, b = fit(examples)
    model = ReaderModel(dict(zip(FEATURES, (round(float(v), 4) for v in w), strict=True)),
                        round(b, 4), 0.5)
    rows = top_choices(examples, model)
    print("| threshold | right answers | right declines | wrong answers | declined answerable |")
    print("|---|---|---|---|---|")
    sweep = []
    for t in np.arange(0.05, 0.96, 0.05):
        ra = sum(1 for p, r, a in rows if p >= t and r)
        rd = sum(1 for p, r, a in rows if p < t and not a)
        wa = sum(1 for p, r, a in rows if p >= t and not r)
        da = sum(1 for p, r, a in rows if p < t and a)
        print(f"| {t:.2f} | {ra} | {rd} | {wa} | {da} |")
        sweep.append((ra + rd, -abs(t - 0.5), round(float(t), 2)))
    best = max(sweep)
    threshold = best[-1]
    answered = [(p, r) for p, r, _ in rows if p > 0]
    auc = roc_auc([p for p, r in answered if r], [p for p, r in answered if not r])
    print(f"threshold {threshold} ({best[0]} of {len(rows)} right); ROC AUC of the top "
          f"probability, right vs wrong: {auc:.3f} (n={len(answered)})")
    model = ReaderModel(model.weights, model.bias, threshold)
    print(json.dumps(model.to_json(), indent=1))
    if args.write:
        data = model.to_json()
        data["fitted_on"] = str(Path(args.questions).relative_to(ROOT))
        data["tune_auc"] = round(auc, 4)
        MODEL_PATH.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
