"""CI gate: the extractive metrics on the project's question set stay above the floors kept in
eval/thresholds.json; the report and plots are written."""

import json
from pathlib import Path

import pytest

from qa import Assistant, evaluate_set
from qa.eval.runner import HEADLINE, check_thresholds, corpus_assistant
from qa.settings import load_settings
from vectorstore.embeddings import SentenceTransformerEmbedder

pytestmark = [pytest.mark.real, pytest.mark.slow]

THRESHOLDS = Path(__file__).resolve().parent.parent / "eval" / "thresholds.json"


def test_extractive_metrics_hold(real_assistant: Assistant, artifacts: Path) -> None:
    out = artifacts / "eval"
    report = evaluate_set(real_assistant, mode="extractive", out=out)
    print()
    for name in HEADLINE:
        print(f"  {name:<20} {report.overall[name].fmt()}")
    floors = json.loads(THRESHOLDS.read_text())["extractive"]
    assert check_thresholds(report.overall, floors) == []
    for name in ("results.jsonl", "report.md", "report.json", "recall_at_k.png",
                 "accuracy_by_type.png", "abstention.png"):
        assert (out / name).stat().st_size > 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == len(report.rows)
    # recompute one figure by hand from results.jsonl
    answerable = [r for r in rows if r["answerable"]]
    assert report.overall["answer_accuracy"].value == pytest.approx(
        sum(r["correct"] for r in answerable) / len(answerable))


HELDOUT = Path(__file__).resolve().parent.parent / "eval" / "heldout"


def test_heldout_metrics_hold(tmp_path: Path, bundled_embedder: SentenceTransformerEmbedder,
                              artifacts: Path) -> None:
    """The held-out test split (XQuAD paragraphs the rules and the reader were never fitted
    on; unanswerable questions whose paragraph is held back) stays above its floors, and the
    abstention score still separates right answers from wrong ones (AUC)."""
    base = Assistant(load_settings(index_dir=tmp_path / "unused"), embedder=bundled_embedder)
    assistant = corpus_assistant(base, HELDOUT / "corpus", tmp_path / "heldout-index")
    out = artifacts / "eval-heldout"
    report = evaluate_set(assistant, HELDOUT / "test.jsonl", mode="extractive", out=out)
    print()
    for name in (*HEADLINE, "abstention_auc"):
        print(f"  {name:<22} {report.overall[name].fmt()}")
    floors = json.loads(THRESHOLDS.read_text())["heldout"]
    assert check_thresholds(report.overall, floors) == []
    assert "## Failing questions" in (out / "report.md").read_text()
