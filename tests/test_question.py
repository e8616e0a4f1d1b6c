import pytest

from qa.answer.question import (
    analyse,
    answer_type,
    counted_noun,
    entities,
    entity_match,
    mentions,
    plain_question,
    question_parts,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("question", "kind"), [
    ("How many Tor-M1 air defense systems did Iran receive?", "count"),
    ("How much did Iran pay for its Tor-M1 systems?", "amount"),
    ("What was the value of the S-300 agreement?", "amount"),
    ("When was the UN arms embargo on Iran lifted?", "date"),
    ("In which year did Russia scrap the systems?", "date"),
    ("On which weekday did they sign?", "date"),
    ("Who told Putin that the contract had been fulfilled?", "person"),
    ("Which Iranian analyst discussed Su-30 fighters?", "person"),
    ("Which retired Russian general said Moscow would supply them?", "person"),
    ("Which system did the head of Rostec praise?", "other"),  # "the head": not the asked kind
    ("Which Asian country bought the systems?", "place"),
    ("Where did Iran lodge its complaint?", "place"),
    ("In which country is the Dubai Airshow held?", "place"),
    ("How far can the S-300PMU1 reach?", "measure"),
    ("What is the range of the Tor-M1 system?", "measure"),
    ("What did Washington press Russia to do?", "other"),
    ("What was Tesla's revenue in Q2 2020?", "amount"),
])
def test_answer_type(question: str, kind: str) -> None:
    assert answer_type(question) == kind


def test_entities_split_codes_and_names() -> None:
    assert entities("How much was the 2007 S-300 deal worth?") == ("2007", "S-300")
    assert entities("What did Mikheev say at the Dubai Airshow 2021?") == (
        "Mikheev", "Dubai Airshow", "2021")
    assert entities("How many years after the deal did Russia not ship the S-300s?") == (
        "Russia", "S-300")


def test_entities_exclude_what_besides_names() -> None:
    ents = entities("Besides the S-300, which Russian weapons has Iran been negotiating to buy?")
    assert "S-300" not in ents and "Besides" not in ents
    assert ents == ("Russian", "Iran")
    # without a comma the excluded phrase ends at the question word
    assert entities("Other than his scientific achievements what was Tesla famous for?") == (
        "Tesla",)


def test_counted_noun() -> None:
    assert counted_noun("How many S-300 units were covered by the contract?") == "units"
    assert counted_noun("How many T-90 tanks is Iran buying?") == "tanks"
    assert counted_noun("For how many months had talks gone on?") == "months"
    assert counted_noun("How many people voted in the strike ballot?") == "people"  # not "voted"
    assert counted_noun("When was it?") == ""


@pytest.mark.parametrize(("text", "entity", "expected"), [
    ("iranian defense", "Iran", True),
    ("talks in tehran", "Iran", True),
    ("iraq's 1980 invasion", "Iraqi", True),
    ("iran-bound s-300 systems", "Iran", True),
    ("under the treaty", "UN", False),
    ("the united nation security council", "UN", True),
    ("the s-3000 launcher", "S-300", False),
    ("in the united arab emirates", "UAE", True),
    ("revenue for the second quarter of 2020", "Q2", True),  # quarters by name
])
def test_mentions(text: str, entity: str, expected: bool) -> None:
    assert mentions(text, entity) is expected


def test_a_number_after_a_name_is_part_of_it() -> None:
    """"iPhone 13" is one name, and a text about the iPhone 12 does not name it even in part."""
    assert entities("How much does the iPhone 13 cost?") == ("iPhone 13",)
    assert entity_match("the iphone 12 starts at $799", "iPhone 13") == 0.0
    assert entity_match("the new iphone 13 starts at $799", "iPhone 13") == 1.0
    assert entity_match("putin said", "Vladimir Putin") == 0.5  # a name in part still counts


def test_follow_up_inherits_entities() -> None:
    first = analyse("How many Tor-M1 systems did Iran receive?")
    follow = analyse("and when was the contract signed?").with_context(first)
    assert follow.entities == first.entities
    assert follow.answer_type == "date"


@pytest.mark.parametrize(("pasted", "plain"), [
    ("<script>alert(1)</script> How many Tor-M1 systems did Iran receive?",
     "How many Tor-M1 systems did Iran receive?"),
    ('<img src=x onerror="alert(2)"> <b>How many</b> jets?', "How many jets?"),
    ("<!-- note --><p>Who signed?</p><style>p{color:red}</style>", "Who signed?"),
    ("Is a < b and c > d in the text?", "Is a < b and c > d in the text?"),
    ("What does <X> stand for?", "What does <X> stand for?"),
])
def test_plain_question_drops_pasted_markup(pasted: str, plain: str) -> None:
    assert plain_question(pasted) == plain


@pytest.mark.parametrize(("question", "parts"), [
    ("Which Iranian official was due in Moscow, and which Russian minister came to Tehran?",
     ("Which Iranian official was due in Moscow?", "Which Russian minister came to Tehran?")),
    ("How many units were shipped and when did they arrive?",
     ("How many units were shipped?", "When did they arrive?")),
    ("Who won the 2018 final; and what was the score?",
     ("Who won the 2018 final?", "What was the score?")),
    ("Who signed it and when?", ("Who signed it and when?",)),  # "when" alone is no question
    ("What did Iran and Russia agree?", ("What did Iran and Russia agree?",)),
    ("Which deal, the S-300 or the Tor-M1, was signed first?",
     ("Which deal, the S-300 or the Tor-M1, was signed first?",)),
])
def test_question_parts(question: str, parts: tuple[str, ...]) -> None:
    assert question_parts(question) == parts
