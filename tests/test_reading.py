"""The reader's parts: question names, fuzzy entity matching, answer spans, the model file,
and the AUC used to judge the abstention score."""

import json
from pathlib import Path

import pytest

from qa.errors import ConfigError
from qa.evidence import answer_span
from qa.metrics import roc_auc
from qa.question import analyse, entities, entity_match
from qa.reading import FEATURES, load_model

pytestmark = pytest.mark.unit


def test_question_names() -> None:
    assert entities("How many iPhone units did Apple sell?") == ("iPhone", "Apple")
    # a capitalised word that only opens the question is not a name
    assert entities("Based on population alone, what is Jacksonville's ranking?") == (
        "Jacksonville",)
    assert entities("What drama debuted on ABC in the 80s?") == ("ABC",)


def test_entity_match_is_forgiving_but_not_loose() -> None:
    assert entity_match("The United Methodist Church said", "UMC") == 1.0
    assert entity_match("the US Open was won by", "U.S. Open") == 1.0
    assert entity_match("in Bendigo and Geelong", "Bedigo") == 1.0  # one typo
    assert entity_match("during the 1970s", "1970") == 1.0
    assert entity_match("France won the 2018 final", "World Cup Final") == pytest.approx(1 / 3)
    assert entity_match("Iran bought 29 systems", "S-300") == 0.0
    assert entity_match("a total of 2017 units", "2018") == 0.0


@pytest.mark.parametrize(("question", "sentence", "span"), [
    ("How many Tor-M1 systems did Iran receive?",
     "Iran took delivery of 29 Russian-made Tor-M1 systems in 2007.", "29"),
    ("When was Montreal captured?", "Montreal was captured by the British in 1760.", "1760"),
    ("When did the movement begin?", "It began in the mid-18th century.", "18th century"),
    ("How much was the deal worth?", "The deal was worth $800 million in all.", "$800 million"),
    ("How long did the fighting last?", "The fighting lasted six years.", "six years"),
])
def test_answer_span(question: str, sentence: str, span: str) -> None:
    found = answer_span(sentence, analyse(question))
    assert found is not None and sentence[found[0]:found[1]] == span


def test_no_span_for_open_questions_or_values_the_question_states() -> None:
    assert answer_span("Tesla built a lab in 1887.", analyse("What did Tesla build?")) is None
    assert answer_span("In 2016 Iran got it.", analyse("When, after 2016, did Iran get it?")) \
        is None


def test_model_file_is_checked(tmp_path: Path) -> None:
    model = load_model()
    assert set(model.weights) == set(FEATURES) and 0 < model.threshold < 1
    assert model.probability(dict.fromkeys(FEATURES, 1.0)) != model.probability({})
    bad = tmp_path / "model.json"
    bad.write_text(json.dumps({"weights": {"coverage": 1.0}, "bias": 0, "threshold": 0.5}))
    with pytest.raises(ConfigError, match="features"):
        load_model(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the reader model"):
        load_model(bad)


def test_roc_auc() -> None:
    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1], [0.9]) == 0.0
    assert roc_auc([0.5], [0.5]) == 0.5
    assert roc_auc([], [0.5]) is None
