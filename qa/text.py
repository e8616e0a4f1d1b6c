"""Small text utilities shared by ingestion, retrieval, answering and evaluation: words, stems,
sentences with offsets, month names, and the normalisation answers are compared under."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from qa.offline import use_bundled_caches

WORD = re.compile(r"[A-Za-z0-9]+(?:[-'’.][A-Za-z0-9]+)*")

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if
    in into is it its itself just me more most my myself no nor not now of off on once only
    or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until
    up very was we were what when where which while who whom whose why will with would you
    your yours yourself yourselves many much according say said says tell told did does do
    get got ever one ones
    """.split()
)


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    return str(_stemmer().stemWord(word.lower()))


def words(text: str) -> list[str]:
    return WORD.findall(text)


def content_stems(text: str) -> list[str]:
    """Stems of the non-stopwords of ``text``, in order."""
    return [stem(w) for w in words(text) if w.lower() not in STOPWORDS]


@functools.cache
def _punkt() -> Any:
    use_bundled_caches()
    import nltk

    from qa.offline import llama_static_dir

    cache = str(llama_static_dir() / "nltk_cache")
    if cache not in nltk.data.path:
        nltk.data.path.insert(0, cache)
    from nltk.tokenize import PunktTokenizer

    return PunktTokenizer("english")


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each sentence; lines are never joined (a line break ends a sentence)."""
    tokenizer = _punkt()
    for line in re.finditer(r"[^\n]+", text):
        chunk = line.group()
        if not chunk.strip():
            continue
        for a, b in tokenizer.span_tokenize(chunk):
            seg = chunk[a:b]
            stripped_left = len(seg) - len(seg.lstrip())
            stripped_right = len(seg) - len(seg.rstrip())
            if b - a - stripped_left - stripped_right > 0:
                yield line.start() + a + stripped_left, line.start() + b - stripped_right


def is_headline(text: str) -> bool:
    """Title Case Like A Headline: most words capitalised."""
    ws = [w for w in re.findall(r"[A-Za-z][\w'’-]*", text) if len(w) > 3]
    return len(ws) >= 3 and sum(w[0].isupper() for w in ws) / len(ws) >= 0.7


MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december"
    .split(), 1)}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
}
_MONTHS = MONTHS
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b")
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}}),?\s+(\d{{4}})\b")


def normalize(text: str) -> str:
    """Lower case, accents and punctuation out, number words as digits, dates as YYYY-MM-DD,
    thousands separators and currency signs dropped ("$700-million" = "700 million")."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = text.replace("\\$", "$")
    text = _DAY_MONTH_YEAR.sub(lambda m: f" {m[3]}-{_MONTHS[m[2]]:02d}-{int(m[1]):02d} ", text)
    text = _MONTH_DAY_YEAR.sub(lambda m: f" {m[3]}-{_MONTHS[m[1]]:02d}-{int(m[2]):02d} ", text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"[^a-z0-9\-]+", " ", text)
    text = re.sub(r"(?<![a-z0-9])-|-(?![a-z0-9])", " ", text)
    text = re.sub(r"(?<=\d)-(?=[a-z])", " ", text)  # 700-million -> 700 million
    words = [str(_NUMBER_WORDS[w]) if w in _NUMBER_WORDS else w for w in text.split()]
    return " ".join(words)

