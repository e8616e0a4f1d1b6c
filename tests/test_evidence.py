import pytest

from qa.answer.evidence import answer_span, has_answer_type, new_names, wants_name
from qa.answer.question import analyse
from qa.text import is_headline

pytestmark = pytest.mark.unit

TOR = ("Iran recently took delivery of 29 Russian-made Tor-M1 air defense missile systems under a "
       "$700-million contract signed in late 2005.")
TRAINED = "Russia has also trained Iranian Tor-M1 specialists, including radar operators."


def test_count_must_count_the_asked_noun() -> None:
    assert has_answer_type(TOR, "count", analyse("How many Tor-M1 systems did Iran receive?"))
    q = analyse("How many Tor-M1 specialists did Russia train?")
    assert not has_answer_type(TRAINED, "count", q)
    assert not has_answer_type(f"{TOR} {TRAINED}", "count", q)


def test_codes_and_years_are_not_counts() -> None:
    q = analyse("How many S-400 systems has Russia delivered?")
    assert not has_answer_type("such defensive systems such as the S-300 and S-400.", "count", q)
    assert not has_answer_type("the systems were shipped in 2016.", "count", q)


def test_amount_date_measure_place_person() -> None:
    assert has_answer_type(TOR, "amount", analyse("How much was the Tor-M1 deal worth?"))
    assert has_answer_type(TOR, "date", analyse("When was the Tor-M1 contract signed?"))
    assert not has_answer_type(
        "Moscow signed a deal in late 2007.", "date", analyse("When was the 2007 deal signed?"))
    assert has_answer_type("has a range of over 150 km (over 100 miles)", "measure",
                           analyse("What is the range of the S-300PMU1?"))
    assert not has_answer_type(TOR, "measure", analyse("What is the range of the Tor-M1?"))
    # "how much" with no money in the question: a percentage or a measure answers it, a span
    # of time does not; with money in it, only a sum of money
    fall = analyse("By how much did total emissions fall?")
    assert has_answer_type("Total emissions fell 2% last year.", "amount", fall)
    assert not has_answer_type("Emissions fell over the past 1000 years.", "amount", fall)
    assert not has_answer_type("Emissions fell 2 percent.", "amount",
                               analyse("How much did Iran pay for the systems?"))
    ferry = analyse("How many times a day does the ferry leave?")
    text = "The ferry leaves twice a day."
    assert has_answer_type(text, "count", ferry) and answer_span(text, ferry) == (17, 22)
    # who and where are not gated: the reader scores whether a name or place is there
    assert has_answer_type("No names here at all.", "person", analyse("Who heads it?"))


def test_names_and_places_for_who_and_where() -> None:
    where = analyse("Where did Iran complain?")
    text = "Iran filed a complaint with the court in Geneva."
    span = answer_span(text, where)
    assert span is not None and text[span[0]:span[1]] == "Geneva"
    who = analyse("Who heads Rosoboronexport?")
    text = "the director general, Alexander Mikheev, told reporters"
    assert [text[a:b] for a, b in new_names(text, who)] == ["Alexander Mikheev"]
    assert wants_name(who) and wants_name(analyse("Which party won in Geneva?"))
    assert not wants_name(analyse("What did Iran buy?"))
    # a headline's capitals are not names; nationalities are no answer to "who"
    assert new_names("Do You Know Everything About Deliveries of S-300", who) == []
    assert new_names("The Russian and Iranian sides met.", who) == []
    final = "MOSCOW - France won the 2018 World Cup on Sunday, beating Croatia in the final."
    assert new_names("The party lost Sunday's election.", who) == []  # a weekday, possessive
    won = analyse("Who won the World Cup Final in 2018?")
    assert [final[a:b] for a, b in new_names(final, won)] == ["France", "Croatia"]
    # the question's own codes are not new names, hyphen and all
    general = analyse("Which general said Moscow would supply S-300 and S-400 systems?")
    assert new_names('"A step was taken for systems such as the S-300 and S-400.', general) == []
    # "which ..." after an opening clause wants a name; "Russian-made" names only the country
    apart = analyse("Apart from the Tor-M1, which Russian system has Iran received?")
    assert wants_name(apart)
    assert new_names("Iran took delivery of 29 Russian-made Tor-M1 systems.", apart) == []


def test_headline() -> None:
    assert is_headline("Russia May Deliver S-300 Defense Systems")
    assert not is_headline(TOR)
