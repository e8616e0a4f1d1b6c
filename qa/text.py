"""Small text utilities shared by retrieval and answering: words, stems, sentences with offsets."""

from __future__ import annotations

import functools
import re
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
