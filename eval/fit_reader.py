"""Fits the extractive reader (qa/reading.py) on the tuning half of the held-out set only.

    python eval/fit_reader.py [--questions eval/heldout/tune.jsonl] [--write]

Every candidate sentence the gates let through for a tuning question is one example, labelled 1
when it contains a gold answer alias (unanswerable questions give only 0s). A logistic
regression (L2, numpy) gives the weights; the abstention threshold is the one that gets the
most tuning questions right (an answer containing an alias, or a decline on an unanswerable
one). It prints the threshold sweep and the ROC AUC of the top candidate's probability (right
vs wrong answers); --write stores the model in qa/data/reader_model.json.
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
from qa.evalset import load_questions  # noqa: E402
from qa.evaluation import corpus_assistant, corpus_for  # noqa: E402
from qa.metrics import contains_alias, roc_auc  # noqa: E402
from qa.question import analyse  # noqa: E402
from qa.reading import FEATURES, MODEL_PATH, ReaderModel  # noqa: E402


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


def fit(examples: list[dict], l2: float = 1.0, steps: int = 3000) -> tuple[np.ndarray, float]:
    x = np.array([f for e in examples for f, _ in e["cands"]], dtype=float)
    y = np.array([lab for e in examples for _, lab in e["cands"]], dtype=float)
    w = np.zeros(x.shape[1])
    b = 0.0
    for _ in range(steps):  # full-batch gradient descent on the regularised log loss
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        grad_w = x.T @ (p - y) / len(y) + l2 * w / len(y)
        grad_b = float(np.mean(p - y))
        w -= 0.5 * grad_w
        b -= 0.5 * grad_b
    return w, b


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
