"""Clutter removal measured against hand labels of every line of the bundled articles."""

import json
from pathlib import Path

import pytest

from qa.ingest.clutter import classify, clean
from qa.settings import BUNDLED_ARTICLES
from qa.text import sentence_spans

pytestmark = pytest.mark.unit

LABELS = Path(__file__).parent / "fixtures" / "clutter_labels.json"


def _line_numbers(text: str) -> list[int]:
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    return starts


def test_cleaner_keeps_body_and_drops_clutter() -> None:
    labels = json.loads(LABELS.read_text())
    body_sentences = kept_sentences = clutter_lines = dropped_lines = 0
    for name, label in labels.items():
        if name.startswith("_"):
            continue
        text = (BUNDLED_ARTICLES / name).read_text()
        starts = _line_numbers(text)
        gold_body = set(label["body"])
        lines = classify(text)
        cleaned = clean(text).text
        for line in lines:
            number = sum(1 for s in starts if s <= line.start)
            if number in gold_body:
                for a, b in sentence_spans(line.text):
                    body_sentences += 1
                    kept_sentences += line.text[a:b] in cleaned
            else:
                clutter_lines += 1
                dropped_lines += not line.body
        labelled = {sum(1 for s in starts if s <= ln.start) for ln in lines}
        assert gold_body <= labelled, f"{name}: a labelled body line was not seen"
    kept = kept_sentences / body_sentences
    dropped = dropped_lines / clutter_lines
    print(f"\nbody sentences kept: {kept_sentences}/{body_sentences} = {kept:.1%}; "
          f"clutter lines dropped: {dropped_lines}/{clutter_lines} = {dropped:.1%}")
    assert kept >= 0.98
    assert dropped >= 0.95


def test_unseen_page_shapes() -> None:
    """A page the rules were not written against."""
    page = "\n".join([
        "Home | World | Business | Sport",
        "Breaking",
        "Ukraine signs grain export deal with Turkey",
        "By Jane Doe, Reuters",
        "ISTANBUL, July 22 (Reuters) - Ukraine and Russia signed a deal on Friday to reopen "
        "Ukraine's Black Sea ports for grain exports, raising hopes of easing a food crisis.",
        "The agreement was brokered by Turkey and the United Nations after two months of talks.",
        "Follow us on Twitter",
        "Read more:",
        "Markets rally as oil prices fall",
        "Five things to know before the bell",
        "Cookie settings | Privacy Policy",
    ])
    lines = {ln.text: ln for ln in classify(page)}
    assert lines["Ukraine signs grain export deal with Turkey"].body
    assert lines["The agreement was brokered by Turkey and the United Nations after two months "
                 "of talks."].body
    for clutter in ("Home | World | Business | Sport", "Breaking", "Follow us on Twitter",
                    "Markets rally as oil prices fall", "Five things to know before the bell",
                    "Cookie settings | Privacy Policy"):
        assert not lines[clutter].body, clutter


def test_clean_text_maps_back_to_the_file() -> None:
    for path in sorted(BUNDLED_ARTICLES.iterdir()):
        text = path.read_text()
        cleaned = clean(text)
        for t_off, f_off, n in cleaned.spans:
            assert cleaned.text[t_off : t_off + n] == text[f_off : f_off + n]
        assert cleaned.kept_chars + cleaned.dropped_chars == sum(
            len(line.strip()) for line in text.splitlines())
