import pytest

from qa.eval.metrics import bootstrap, contains_alias, normalize, summarize, token_f1
from qa.eval.runner import check_thresholds, sweep_support

pytestmark = pytest.mark.unit


def test_normalize_numbers_and_dates() -> None:
    assert normalize("18 October 2020") == normalize("October 18, 2020") == "2020-10-18"
    assert normalize("nine") == normalize("9")
    assert normalize("$700-million") == "700 million"
    assert normalize("S-300") == "s-300"


def test_alias_containment_is_whole_words() -> None:
    assert contains_alias("Iran took delivery of 29 systems.", ["twenty-nine", "29"])
    assert contains_alias("four units of S-300", ["4"])
    assert not contains_alias("in 2016 the equipment", ["16"])
    assert contains_alias("lifted on 18 October 2020", ["October 18, 2020"])


def test_token_f1() -> None:
    assert token_f1("Alexander Mikheev", ["Alexander Mikheev"]) == 1.0
    assert 0 < token_f1("the director Alexander Mikheev said", ["Alexander Mikheev"]) < 1


def test_bootstrap_interval_brackets_the_mean() -> None:
    est = bootstrap([1.0] * 8 + [0.0] * 2)
    assert est.value == 0.8 and est.n == 10
    assert est.low is not None and est.high is not None
    assert est.low <= 0.8 <= est.high


def _row(qid: str, answerable: bool, answered: bool, correct: bool, **kw):  # type: ignore[no-untyped-def]
    row = {"id": qid, "type": "factoid" if answerable else "unanswerable",
           "answerable": answerable, "answered": answered, "correct": correct,
           "gold_sources": ["a.txt"] if answerable else [], "retrieved_files": ["b.txt", "a.txt"],
           "cited_sources": ["a.txt"] if answered else [], "citations": [1] if answered else [],
           "citations_valid": True, "citations_supported": correct, "token_f1": 0.5,
           "support": 0.6}
    row.update(kw)
    return row


def test_summary_counts_by_hand() -> None:
    rows = [_row("a", True, True, True), _row("b", True, False, False),
            _row("u", False, False, True), _row("v", False, True, False)]
    m = summarize(rows)
    assert m["hit@1"].value == 0.0 and m["hit@3"].value == 1.0
    assert m["mrr"].value == 0.5
    assert m["accuracy"].value == 0.5 and m["answer_accuracy"].value == 0.5
    assert m["false_abstention"].value == 0.5 and m["hallucination"].value == 0.5
    assert m["abstention_precision"].value == 0.5 and m["abstention_recall"].value == 0.5
    assert m["abstention_f1"].value == 0.5
    assert m["citation_precision"].value == 1.0 and m["citation_precision"].n == 1


def test_thresholds_and_sweep() -> None:
    rows = [_row("a", True, True, True, support=0.7), _row("u", False, True, False, support=0.5)]
    m = summarize(rows)
    assert check_thresholds(m, {"min": {"accuracy": 0.4}, "max": {"hallucination": 1.0}}) == []
    assert check_thresholds(m, {"min": {"accuracy": 0.9}})
    table = {t["threshold"]: t for t in sweep_support(rows, (0.0, 0.6))}
    assert table[0.0]["wrong_answers"] == 1 and table[0.6]["correct_abstentions"] == 1
