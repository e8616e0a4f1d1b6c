"""What a conversation carries from turn to turn: stable citation numbers, the citation a
follow-up such as "tell me more about [2]" points at, and what a follow-up is searched with."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from qa.answer.citations import MARKER, marker_numbers
from qa.answer.question import QuestionAnalysis, analyse
from qa.answer.retrieval import Filters
from qa.types import Answer, Citation

_REF = re.compile(r"\[(\d+)\]")


def referenced_citation(question: str, prior: Sequence[Answer]) -> Citation | None:
    """The earlier citation a follow-up such as "tell me more about [2]" points at."""
    m = _REF.search(question)
    if not m:
        return None
    n = int(m.group(1))
    for answer in reversed(prior):
        for c in answer.citations:
            if c.n == n:
                return c
    return None


def stable_numbers(text: str, citations: Sequence[Citation], prior: Sequence[Answer],
                   ) -> tuple[str, tuple[Citation, ...]]:
    """Renumber so that a passage cited earlier in the conversation keeps its number and new
    ones continue after the highest number used so far. A passage is known by its file's name
    in the index and its offsets (what an answer's JSON carries, e.g. back from a server)."""
    known: dict[tuple[str, int, int], int] = {}
    for answer in prior:
        for c in answer.citations:
            known.setdefault((c.source, c.start, c.end), c.n)
    if not known:
        return text, tuple(citations)
    next_n = max(known.values()) + 1
    mapping: dict[int, int] = {}
    for c in citations:
        key = (c.source, c.start, c.end)
        if key not in known:
            known[key] = next_n
            next_n += 1
        mapping[c.n] = known[key]
    renumbered = MARKER.sub(
        lambda m: "".join(f"[{mapping.get(x, x)}]" for x in marker_numbers(m)), text)
    return renumbered, tuple(sorted((replace(c, n=mapping[c.n]) for c in citations),
                                    key=lambda c: c.n))


Turn = tuple[str, str]
History = Sequence[Turn | Answer] | None


def turns(history: History) -> list[Turn]:
    """``(question, answer text)`` pairs from a history of pairs or :class:`Answer` objects."""
    out: list[Turn] = []
    for item in history or ():
        if isinstance(item, Answer):
            out.append((item.question, item.text))
        else:
            out.append((str(item[0]), str(item[1])))
    return out


@dataclass(frozen=True)
class FollowUp:
    """How a question is searched and read, given the conversation: ``query`` and
    ``filters`` for retrieval, ``ref`` (the earlier citation "tell me more about [2]" points
    at), ``standalone`` (an LLM's stand-alone rewrite), ``analysis`` (with the previous
    question's names carried over)."""

    query: str
    filters: Filters | None
    ref: Citation | None
    standalone: str | None
    analysis: QuestionAnalysis


def follow_up(question: str, history: list[Turn], prior: Sequence[Answer],
              filters: Filters | None, condense: Callable[[str, list[Turn]], str | None] | None,
              ) -> FollowUp:
    """``condense``: the LLM's rewrite of a follow-up (None in extractive mode, where the
    previous question's names are added to the query when the question has none)."""
    ref = referenced_citation(question, prior)
    standalone: str | None = None
    query = question
    if ref is not None:  # "tell me more about [2]": read that source
        filters = Filters(sources=(ref.source,), since=filters.since if filters else 0,
                          until=filters.until if filters else 0)
        query = f"{MARKER.sub(ref.title or ref.source, question)} {ref.quote}"
    elif history and condense is not None:
        standalone = condense(question, history)
        query = standalone or question
    own = analyse(question)
    analysis = own.with_context(analyse(history[-1][0]) if history else None)
    if ref is None and history and condense is None and analysis.entities and not own.entities:
        query = f"{question} {' '.join(analysis.entities)}"  # carry the entities over
    return FollowUp(query, filters, ref, standalone, analysis)
