"""The reader's parts: question names, fuzzy entity matching, answer spans, the model file,
and the AUC used to judge the abstention score."""

import json
from pathlib import Path

import pytest

from qa.answer.evidence import answer_span
from qa.answer.question import analyse, entities, entity_match
from qa.answer.reading import FEATURES, features, load_model, relative_features
from qa.errors import ConfigError
from qa.eval.metrics import roc_auc

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
    # a title above the sentence does not run into the name: its initials are still found
    title_and_sentence = "United Methodist Church\nThe United Methodist Church opposes"
    assert entity_match(title_and_sentence, "UMC") == 1.0
    assert entity_match("lost them in 1620–21", "1620-21") == 1.0  # en dash


def test_features_credit_aliases_and_a_clear_lead() -> None:
    q = analyse("On what date did the United Nations embargo against Iran end?")
    common = {"similarity": 0.5, "rank": 1, "span": True, "name": None, "weights": {}}
    by_alias = features(q, "A UN arms embargo on Iran was lifted on 18 October 2020.", set(),
                        **common)
    spelled = features(q, "The United Nations embargo on Iran was lifted on 18 October 2020.",
                       set(), **common)
    # every term but "end": "UN" covers "United Nations" as the spelled-out name does
    assert by_alias["coverage"] == spelled["coverage"] == pytest.approx(0.8)
    rows = [{"coverage": 0.9, "similarity": 0.5}, {"coverage": 0.4, "similarity": 0.7},
            {"coverage": 0.4, "similarity": 0.7}]
    relative_features(rows)
    assert [r["coverage_lead"] for r in rows] == pytest.approx([0.5, -0.5, -0.5])
    assert [r["similarity_lead"] for r in rows] == pytest.approx([-0.2, 0.0, 0.0])
    alone = [{"coverage": 0.3, "similarity": 0.6}]
    relative_features(alone)
    assert alone[0]["coverage_lead"] == pytest.approx(0.3)


@pytest.mark.parametrize(("question", "sentence", "span"), [
    ("How many Tor-M1 systems did Iran receive?",
     "Iran took delivery of 29 Russian-made Tor-M1 systems in 2007.", "29"),
    ("When was Montreal captured?", "Montreal was captured by the British in 1760.", "1760"),
    ("When did the movement begin?", "It began in the mid-18th century.", "18th century"),
    ("How much was the deal worth?", "The deal was worth $800 million in all.", "$800 million"),
    ("How long did the fighting last?", "The fighting lasted six years.", "six years"),
    ("How long was the theatre in operation?",
     "The theatre was in operation from 1870 to 1939, and then closed.", "from 1870 to 1939"),
    ("How long did plague last there?",
     "Plague remained a major event until the second quarter of the 19th century.",
     "until the second quarter of the 19th century"),
    ("What is the size of the school's endowment?",
     "Harvard's $37.6 billion financial endowment is the largest.", "$37.6 billion"),
    ("How many Grammys has Lady Gaga won?", "Six-time Grammy winner Lady Gaga sang.", "Six"),
    ("How many interceptions did the defense get?",
     "The defense gave up just 308 points, ranking sixth in the league, while also leading the "
     "NFL in interceptions with 24.", "24"),
])
def test_answer_span(question: str, sentence: str, span: str) -> None:
    found = answer_span(sentence, analyse(question))
    assert found is not None and sentence[found[0]:found[1]] == span


def test_no_span_for_open_questions_or_values_the_question_states() -> None:
    assert answer_span("Tesla built a lab in 1887.", analyse("What did Tesla build?")) is None
    # a range is a measure, money is not (only a size may be answered in dollars)
    assert answer_span("It was bought under a $700-million contract.",
                       analyse("What is the range of the Tor-M1 system?")) is None
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
