"""Citation markers in LLM output: parsed, validated against the sources actually given,
renumbered in order of first use, and tied to a verbatim quote from the cited source."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qa.answer.evidence import Sentence, split_sentences
from qa.safety import looks_like_injection
from qa.text import content_stems, sentence_spans
from qa.types import Citation, Passage

log = logging.getLogger(__name__)

MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
_OPEN_MARKER = re.compile(r"\[[\d\s,;]{0,12}$")


def marker_numbers(marker: re.Match[str]) -> list[int]:
    """The numbers of one :data:`MARKER` match: ``[1, 3]`` gives ``[1, 3]``."""
    return [int(x) for x in re.split(r"\s*[,;]\s*", marker.group(1))]


@dataclass
class MarkerRewriter:
    """Streaming-safe rewrite of ``[n]`` markers: invalid numbers dropped (and logged), valid
    ones renumbered 1, 2, ... in order of first appearance. ``[1, 3]`` becomes ``[1][2]``."""

    valid: frozenset[int]
    mapping: dict[int, int] = field(default_factory=dict)
    dropped: list[int] = field(default_factory=list)
    _buffer: str = ""

    def _rewrite(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            out = []
            for num in marker_numbers(m):
                if num not in self.valid:
                    self.dropped.append(num)
                    log.warning("dropped citation [%d]: no such source was given", num)
                    continue
                new = self.mapping.setdefault(num, len(self.mapping) + 1)
                marker = f"[{new}]"
                if marker not in out:
                    out.append(marker)
            return "".join(out)

        return MARKER.sub(repl, text)

    def feed(self, piece: str) -> str:
        """Text that is safe to show now; a possibly unfinished marker is held back."""
        self._buffer += piece
        held = _OPEN_MARKER.search(self._buffer)
        cut = held.start() if held else len(self._buffer)
        ready, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return self._rewrite(ready)

    def flush(self) -> str:
        ready, self._buffer = self._buffer, ""
        return self._rewrite(ready)


def tidy(text: str) -> str:
    """Spaces before markers and doubled spaces left by dropped markers removed."""
    text = re.sub(r"[ \t]+(?=\[\d+\])", " ", text)
    text = re.sub(r"(?<=\S) +([.,;:])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip()


_LEADING = re.compile(r"^\s*((?:\[\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*\]\s*)+)")
_AS_OF = re.compile(r"\(as of [^)]*\)|\[unsupported\]")


def _numbers_in(text: str) -> tuple[int, ...]:
    return tuple(n for m in MARKER.finditer(text) for n in marker_numbers(m))


def marked_sentences(text: str) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """``(sentence without markers, start, end, citation numbers)`` for each sentence of an
    answer. Markers that a sentence splitter puts at the start of the next sentence ("...
    (JCPOA). [1] In late August ...") belong to the sentence before them."""
    out: list[list[Any]] = []
    for a, b in sentence_spans(text):
        sentence = text[a:b]
        lead = _LEADING.match(sentence)
        if lead and out:
            out[-1][3] += _numbers_in(lead.group(1))
            out[-1][2] = a + lead.end(1)
            a += lead.end()
            sentence = text[a:b]
        bare = re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", _AS_OF.sub("", sentence))).strip()
        if not re.search(r"\w", bare):
            if out:
                out[-1][3] += _numbers_in(sentence)
                out[-1][2] = b
            continue
        out.append([bare, a, b, _numbers_in(sentence)])
    return [(s, a, b, tuple(n)) for s, a, b, n in out]


def claims_with_markers(text: str) -> list[tuple[str, list[int]]]:
    """Each sentence of the answer with the citation numbers it carries."""
    return [(bare, list(nums)) for bare, _, _, nums in marked_sentences(text)]


def best_quote(claim: str, passage: Passage) -> Sentence:
    """The sentence of ``passage`` that shares most with ``claim`` (numbers count double)."""
    sentences = split_sentences(passage, min_words=1) or [Sentence(passage, 0, len(passage.text))]
    # text addressed to AI assistants is never evidence for a claim
    sentences = [s for s in sentences if not looks_like_injection(s.text)] or sentences
    claim_terms = set(content_stems(claim))
    claim_numbers = set(re.findall(r"\d[\d,.]*", claim))

    def score(s: Sentence) -> tuple[float, int]:
        terms = set(content_stems(s.text))
        numbers = set(re.findall(r"\d[\d,.]*", s.text))
        return (len(claim_terms & terms) + 2 * len(claim_numbers & numbers), -s.start)

    return max(sentences, key=score)


def citations_for(text: str, given: Sequence[Passage]) -> list[Citation]:
    """One citation per marker number in ``text`` (already renumbered): ``given[n - 1]`` is the
    passage behind ``[n]``; its quote is the passage sentence that best matches the claim."""
    by_number: dict[int, Citation] = {}
    for claim, nums in claims_with_markers(text):
        for n in nums:
            if n in by_number or not 1 <= n <= len(given):
                continue
            sentence = best_quote(claim, given[n - 1])
            by_number[n] = sentence.citation(n)
    return [by_number[n] for n in sorted(by_number)]
