"""CI gate: the extractive metrics on the project's question set stay above the floors kept in
eval/thresholds.json; the report and plots are written."""

import json
from pathlib import Path

import pytest

from qa import Assistant
from qa.evaluation import HEADLINE, check_thresholds

pytestmark = [pytest.mark.real, pytest.mark.slow]

THRESHOLDS = Path(__file__).resolve().parent.parent / "eval" / "thresholds.json"


def test_extractive_metrics_hold(real_assistant: Assistant, artifacts: Path) -> None:
    out = artifacts / "eval"
    report = real_assistant.evaluate(mode="extractive", out=out)
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
