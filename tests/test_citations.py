import pytest

from qa.answer.citations import MarkerRewriter, claims_with_markers, tidy

pytestmark = pytest.mark.unit


def test_markers_are_renumbered_and_invented_ones_dropped() -> None:
    rw = MarkerRewriter(frozenset({1, 2, 3}))
    out = rw.feed("Iran got 29 systems [3]. The deal was $700 million [7][1, 3].") + rw.flush()
    assert out == "Iran got 29 systems [1]. The deal was $700 million [2][1]."
    assert rw.mapping == {3: 1, 1: 2}
    assert rw.dropped == [7]


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_markers_split_across_stream_pieces(size: int) -> None:
    text = "Iran got 29 systems [2]. Russia shipped them [12][1]."
    rw = MarkerRewriter(frozenset({1, 2}))
    out = "".join(rw.feed(text[i : i + size]) for i in range(0, len(text), size)) + rw.flush()
    assert out == "Iran got 29 systems [1]. Russia shipped them [2]."
    assert rw.dropped == [12]


def test_brackets_that_are_not_markers_pass_through() -> None:
    rw = MarkerRewriter(frozenset({1}))
    assert rw.feed("contacts [on delivery] continue [1]") + rw.flush() == (
        "contacts [on delivery] continue [1]")


def test_claims_with_markers() -> None:
    claims = claims_with_markers("Iran got 29 systems [1]. The deal was signed in 2005. [2][1] "
                                 "Crews were trained.")
    assert claims == [("Iran got 29 systems.", [1]), ("The deal was signed in 2005.", [2, 1]),
                      ("Crews were trained.", [])]


def test_tidy() -> None:
    assert tidy("Iran got 29  systems  [1] .") == "Iran got 29 systems [1]."
