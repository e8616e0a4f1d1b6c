import pytest

from qa.evidence import has_answer_type, is_headline
from qa.question import analyse

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
    assert has_answer_type("Iran filed a complaint with the court in Geneva.", "place",
                           analyse("Where did Iran complain?"))
    assert has_answer_type("the director general, Alexander Mikheev, told reporters", "person",
                           analyse("Who heads Rosoboronexport?"))
    assert not has_answer_type("Do You Know Everything About Deliveries of S-300", "person",
                               analyse("Who is Iran's envoy?"))


def test_headline() -> None:
    assert is_headline("Russia May Deliver S-300 Defense Systems")
    assert not is_headline(TOR)
