"""Per-claim support: every sentence of an answer is checked against the quotes it cites.

A claim is ``supported`` when its numbers and names are in its cited quotes and its wording is
close to them, ``partial`` when some of it is, ``unsupported`` when it cites nothing, states a
number its quotes do not contain, or shares too little with them. Signals: content-word overlap,
numbers and names that must match, and embedding similarity (no NLI model is installable with
its weights offline)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from qa.answer.citations import marked_sentences
from qa.answer.question import entities, mentions
from qa.safety import looks_like_injection
from qa.text import content_stems, normalize
from qa.types import Citation, Claim, Label
from vectorstore import Embedder

SUPPORTED_AT = 0.6
PARTIAL_AT = 0.4

_NUMBER = re.compile(r"(?<![\w-])\d[\d,.]*(?![\w-]*[a-z])")
# "..., but not the price of the S-400" / "The articles don't say ...": a statement of what the
# sources lack is not a factual claim to find in them
_GAP = re.compile(
    r"(?:,?\s*\b(?:but|while|although|however)\b[^.]*?)?\b(?:not|don't|doesn't|do not|"
    r"does not|no information|nothing)\b[^.]*?\b(?:say|says|give|gives|mention|mentions|state|"
    r"states|report|reports|cover|covers|specify|specifies|price|value|number|figure|date)\b[^.]*",
    re.I)
_GAP_ONLY = re.compile(r"^\s*(?:the\s+)?(?:articles?|sources?)\s+(?:(?:do not|don't|does not|"
                       r"doesn't)\s+(?:say|give|mention|state|report)|(?:give|report|state)s?"
                       r"\s+different\s+(?:figures|dates|numbers|statuses))", re.I)

def _numbers(text: str) -> set[str]:
    norm = normalize(text)
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(norm)}


def _names(text: str) -> list[str]:
    """Proper names and codes (S-300, Tor-M1) of a claim; numbers are checked separately."""
    return [e for e in entities(text) if not _NUMBER.fullmatch(e) and len(e) >= 2]


def _stems(text: str) -> set[str]:
    return set(content_stems(normalize(text)))


def _cos(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(y * y for y in b)) or 1.0
    return dot / (na * nb)


def split_claims(text: str) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """Sentences of ``text`` with their citation numbers (see ``marked_sentences``)."""
    return marked_sentences(text)


def check_claims(text: str, citations: Sequence[Citation], embedder: Embedder | None,
                 ) -> tuple[Claim, ...]:
    """Label every claim of ``text`` against the quotes of the citations it carries."""
    by_n = {c.n: c for c in citations}
    parts = split_claims(text)
    if not parts:
        return ()
    pairs: list[tuple[str, str]] = []
    for claim, _, _, nums in parts:
        quotes = " ".join(by_n[n].quote for n in nums if n in by_n)
        pairs.append((claim, quotes))
    sims: list[float] = [0.0] * len(parts)
    todo = [i for i, (_, q) in enumerate(pairs) if q]
    if embedder is not None and todo:
        vectors = embedder.embed([pairs[i][0] for i in todo] + [pairs[i][1] for i in todo])
        half = len(todo)
        for k, i in enumerate(todo):
            sims[i] = max(0.0, _cos(vectors[k], vectors[half + k]))
    out = []
    for (claim, start, end, nums), (_, quotes), sim in zip(parts, pairs, sims, strict=True):
        out.append(judge(claim, start, end, nums, quotes, sim, have_sim=embedder is not None))
    return tuple(out)


def judge(claim: str, start: int, end: int, nums: tuple[int, ...], quotes: str, sim: float,
          *, have_sim: bool) -> Claim:
    """The label of one claim (``nums``: its citation numbers) against ``quotes``, the text
    of the quotes it cites; ``sim``: their embedding similarity, if ``have_sim``."""
    reasons: list[str] = []
    if _GAP_ONLY.match(claim) and not nums:
        return Claim(claim, start, end, nums, "supported", 1.0,
                     ("states what the articles do not cover",))
    full = claim
    claim = _GAP.sub("", claim).strip() or claim
    if claim != full:
        reasons.append("the part saying what the articles lack is not checked")
    if quotes and looks_like_injection(quotes):
        return Claim(full, start, end, nums, "unsupported", 0.0,
                     ("its quote is an instruction addressed to AI assistants, not a fact",))
    if not quotes:
        why = "cites no source" if not nums else "cites a source that was not given"
        return Claim(full, start, end, nums, "unsupported", 0.0, (why,))
    claim_stems = _stems(claim)
    quote_stems = _stems(quotes)
    lexical = len(claim_stems & quote_stems) / len(claim_stems) if claim_stems else 1.0
    missing_numbers = sorted(_numbers(claim) - _numbers(quotes))
    low_quotes = quotes.lower()
    missing_names = [n for n in _names(claim) if not mentions(low_quotes, n)]
    names_ok = 0.0 if missing_names else 1.0
    score = (0.45 * lexical + 0.35 * sim + 0.2 * names_ok) if have_sim else (
        0.7 * lexical + 0.3 * names_ok)
    if missing_numbers:
        reasons.append(f"numbers not in the cited quotes: {', '.join(missing_numbers)}")
    if missing_names:
        reasons.append(f"names not in the cited quotes: {', '.join(missing_names)}")
    if missing_numbers or score < PARTIAL_AT or (missing_names and lexical < 0.5):
        label: Label = "unsupported"
        if not missing_numbers:
            reasons.append(f"little overlap with the cited quotes (score {score:.2f})")
    elif missing_names or score < SUPPORTED_AT:
        label = "partial"
        if not missing_names:
            reasons.append(f"partly covered by the cited quotes (score {score:.2f})")
    else:
        label = "supported"
    return Claim(full, start, end, nums, label, score, tuple(reasons))


def mark_unsupported(text: str, claims: Sequence[Claim]) -> str:
    """``[unsupported]`` after every claim its sources do not back: marked, never kept
    silently."""
    for claim in sorted(claims, key=lambda c: c.end, reverse=True):
        if claim.label == "unsupported":
            text = f"{text[: claim.end]} [unsupported]{text[claim.end :]}"
    return text
