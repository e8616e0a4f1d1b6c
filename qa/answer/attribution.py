"""What an LLM answer may show: claims the model left uncited (or cited to a source that does
not back them) get the retrieved sentence that does back them; claims nothing backs are taken
out of the answer text, never shown as part of it.

Small local models often omit or misplace ``[n]`` markers; a true sentence found verbatim in a
retrieved passage should not be labelled unsupported for that. The test of "backs" is the one
the claim checks use (:func:`qa.answer.claims.judge`): the claim's numbers and names in the sentence
and enough of its words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from qa.answer.citations import MARKER, marker_numbers, tidy
from qa.answer.claims import judge
from qa.answer.evidence import Sentence, split_sentences
from qa.answer.verify import FileCache, verify
from qa.safety import looks_like_injection
from qa.types import Citation, Claim, Passage

ADDED = "citation added: the model cited no source that backs it; this one does"


def _bare(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", text)).strip()


def _backing(claim: str, sentences: Sequence[Sentence]) -> Sentence | None:
    """The retrieved sentence that best supports ``claim`` on words, numbers and names."""
    best: tuple[float, Sentence] | None = None
    for s in sentences:
        verdict = judge(claim, 0, len(claim), (1,), s.text, 0.0, have_sim=False)
        if verdict.label == "supported" and (best is None or verdict.score > best[0]):
            best = (verdict.score, s)
    return best[1] if best else None


def attribute(text: str, citations: Sequence[Citation], claims: Sequence[Claim],
              passages: Sequence[Passage]) -> tuple[str, tuple[Citation, ...], set[str]]:
    """``text`` with every unsupported claim that a retrieved sentence backs citing that
    sentence (its own markers replaced); the citations, and the bare texts of the claims that
    got one."""
    bad = [c for c in claims if c.label == "unsupported"]
    if not bad:
        return text, tuple(citations), set()
    seen: dict[tuple[str, int, int], Sentence] = {}
    for p in passages:
        for s in split_sentences(p):
            if not looks_like_injection(s.text):
                seen.setdefault(s.key, s)
    sentences = list(seen.values())
    cited = list(citations)
    files = FileCache()
    added: set[str] = set()
    for claim in sorted(bad, key=lambda c: c.start, reverse=True):  # offsets stay valid
        bare = _bare(claim.text)
        sentence = _backing(bare, sentences)
        if sentence is None:
            continue
        a, b = sentence.file_range()
        n = next((c.n for c in cited if (c.path, c.start, c.end) == (sentence.passage.path, a, b)),
                 None)
        if n is None:
            checked = verify(sentence.citation(max((c.n for c in cited), default=0) + 1),
                             sentence.passage, files)
            if checked is None:
                continue
            cited.append(checked)
            n = checked.n
        span = MARKER.sub("", text[claim.start : claim.end]).rstrip()
        end_mark = re.search(r"[.!?]+[\"”’')]*$", span)
        cut = end_mark.start() if end_mark else len(span)
        text = f"{text[: claim.start]}{span[:cut].rstrip()} [{n}]{span[cut:]} {text[claim.end :]}"
        added.add(bare)
    return tidy(text), tuple(cited), added


def flag_added(claims: Sequence[Claim], added: set[str]) -> tuple[Claim, ...]:
    """The claims whose citation :func:`attribute` added, marked as such."""
    return tuple(replace(c, citation_added=True, reasons=(*c.reasons, ADDED))
                 if _bare(c.text) in added else c for c in claims)


def carry_flags(claims: Sequence[Claim], before: Sequence[Claim]) -> tuple[Claim, ...]:
    """``claims`` (re-checked after the text was renumbered or cut) with the "citation added"
    flags of the same claims ``before``."""
    return flag_added(claims, {_bare(c.text) for c in before if c.citation_added})


def leave_out(text: str, claims: Sequence[Claim]) -> tuple[str, tuple[Claim, ...]]:
    """``text`` without its unsupported claims, and those claims (no longer in the text:
    ``shown`` False, offsets -1)."""
    removed: list[Claim] = []
    for claim in sorted(claims, key=lambda c: c.start, reverse=True):
        if claim.label != "unsupported":
            continue
        text = f"{text[: claim.start]} {text[claim.end :]}"
        removed.append(replace(claim, text=_bare(claim.text), start=-1, end=-1, shown=False))
    return tidy(text), tuple(reversed(removed))


def keep_cited(text: str, citations: Sequence[Citation]) -> tuple[str, tuple[Citation, ...]]:
    """Only the citations ``text`` still refers to, renumbered 1, 2, ... in order of first
    mention."""
    order: dict[int, int] = {}
    for m in MARKER.finditer(text):
        for x in marker_numbers(m):
            order.setdefault(x, len(order) + 1)
    by_n = {c.n: c for c in citations}
    order = {old: new for old, new in order.items() if old in by_n}
    order = {old: i for i, old in enumerate(order, 1)}
    text = MARKER.sub(lambda m: "".join(
        f"[{order[x]}]" for x in marker_numbers(m) if x in order),
        text)
    return tidy(text), tuple(replace(by_n[old], n=new) for old, new in order.items())
