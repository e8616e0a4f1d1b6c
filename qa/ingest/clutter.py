"""Page clutter out, article body in: a line classifier for text and Markdown dumps of web pages.

Saved news pages carry menus, section labels, share/comment/login prompts, image credits,
"Recent Posts" lists and headlines of unrelated stories around the article. Each non-empty line is
labelled ``body`` or ``clutter`` with a reason; the body is joined into a clean text whose
``spans`` map every character back to the original file, so citations still quote the file.
Measured on hand-labelled lines of the bundled articles by ``tests/test_clutter.py``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from qa.text import is_headline

Span = tuple[int, int, int]  # (offset in clean text, offset in source text, length)


@dataclass(frozen=True)
class Line:
    start: int
    end: int
    text: str
    body: bool
    reason: str


_LINK_ONLY = re.compile(r"^(?:\s*[-*•|]?\s*\[[^\]]*\]\([^)]*\)\s*)+$")
_TIME_AGO = re.compile(r"^\d+\s+(?:seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?)"
                       r"\s+ago$", re.I)
_BOILERPLATE = re.compile(
    r"^(?:share|share this|tweet|print|email|e-mail:?|name\s*:|your comments?:?|comments?:?|send|"
    r"submit|subscribe|login|log in|sign in|register|loader|loading\.*|chats?|newsfeed|menu|"
    r"search|advertisement|published by|posted by|related|tags?:?|read more|see also)$"
    r"|\b(?:sign up (?:to|for)|subscribe to|our telegram channel|follow us on|"
    r"log in or register|to participate in the discussion|all rights reserved|cookie policy|"
    r"privacy policy|terms of (?:use|service)|get the latest news|do not necessarily reflect|"
    r"never miss a story|newsletter|click here|download (?:our|the) app)\b",
    re.I)
_END_MARKERS = re.compile(
    r"^(?:recent posts|related (?:posts|stories|articles|news)|more (?:news|stories)|"
    r"all news|most (?:read|popular)|popular (?:posts|stories)|latest news|read also|"
    r"you may also like|trending|newsfeed)\s*:?$", re.I)
_SITE_SUFFIX = re.compile(r"\s[-–|]\s[A-Z][\w.]*(?:\s[A-Z][\w.]*){0,3}$")
_TERMINAL = re.compile(r"[.!?][\"”’')\]]*$|[\"”]$")


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'’$%.-]+", text)


def _latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    return latin / len(letters)


def _body_like(text: str) -> bool:
    """A full sentence of some length: what article paragraphs are made of (a Title Case
    question is a headline, not a sentence)."""
    if text.rstrip("\"”’' ").endswith("?") and is_headline(text):
        return False
    return len(_words(text)) >= 8 and bool(_TERMINAL.search(text))


def _headline_like(text: str) -> bool:
    n = len(_words(text))
    return (3 <= n <= 25 and not _TERMINAL.search(text.rstrip("?"))) or (
        3 <= n <= 25 and text.rstrip().endswith("?"))


def _hard_clutter(text: str, doc_latin: bool) -> str | None:
    """A reason when the line is clutter whatever its position, else None."""
    stripped = text.strip()
    if _LINK_ONLY.match(stripped):
        return "link list"
    if _TIME_AGO.match(stripped):
        return "timestamp"
    if _BOILERPLATE.search(stripped):
        return "share/comment/login prompt or site boilerplate"
    if stripped.startswith("©") or re.match(r"^(?:photo|image|credit)s?\s*[:/]", stripped, re.I):
        return "image credit"
    if stripped.endswith(("…", "...")):
        return "teaser"
    if len(stripped) <= 2 or not any(c.isalpha() for c in stripped):
        return "fragment"
    if doc_latin and _latin_share(stripped) < 0.5:
        return "text in another script"
    if _SITE_SUFFIX.search(stripped) and len(_words(stripped)) < 12:
        return "caption or site name"
    return None


def classify(text: str) -> list[Line]:
    """Every non-empty line of ``text``, labelled body or clutter with a reason."""
    raw = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[^\n]+", text)
           if m.group().strip()]
    doc_latin = _latin_share(text) >= 0.8
    out: list[Line] = []
    title: str | None = None
    body_started = False
    ended = False
    for start, end, line in raw:
        stripped = line.strip()
        # trim the line to its visible text so offsets never include edge whitespace
        lead = len(line) - len(line.lstrip())
        start, end = start + lead, start + lead + len(stripped)

        def label(is_body: bool, reason: str, s: int = start, e: int = end,
                  t: str = stripped) -> None:
            out.append(Line(s, e, t, is_body, reason))

        if ended:
            label(False, "after the end of the article")
            continue
        if _END_MARKERS.match(stripped):
            ended = body_started
            label(False, "section marker (recent/related posts)")
            continue
        reason = _hard_clutter(stripped, doc_latin)
        if reason:
            label(False, reason)
            continue
        if title and stripped.startswith(title) and not stripped.replace(title, "").strip():
            label(False, "repeated headline")
            continue
        if _body_like(stripped) or len(_words(stripped)) > 25:
            body_started = True
            label(True, "paragraph")
            continue
        if len(_words(stripped)) < 3:
            label(False, "short label")
            continue
        if not body_started and title is None and _headline_like(stripped) \
                and len(_words(stripped)) >= 4:
            title = stripped
            label(True, "headline")
            continue
        if _headline_like(stripped):
            label(False, "headline of another story" if body_started else "before the article")
            continue
        label(body_started, "short paragraph" if body_started else "before the article")
    return out


@dataclass(frozen=True)
class Cleaned:
    text: str
    spans: tuple[Span, ...]
    lines: tuple[Line, ...]
    kept_chars: int
    dropped_chars: int


def clean(text: str) -> Cleaned:
    """The body lines joined by blank lines, with spans back to ``text``."""
    return from_lines(text, classify(text))


def from_lines(text: str, lines: Sequence[Line]) -> Cleaned:
    """A :class:`Cleaned` text from lines already labelled."""
    parts: list[str] = []
    spans: list[Span] = []
    length = 0
    for line in lines:
        if not line.body:
            continue
        if parts:
            parts.append("\n\n")
            length += 2
        spans.append((length, line.start, line.end - line.start))
        parts.append(text[line.start : line.end])
        length += line.end - line.start
    kept = sum(ln.end - ln.start for ln in lines if ln.body)
    dropped = sum(ln.end - ln.start for ln in lines if not ln.body)
    return Cleaned("".join(parts), tuple(spans), tuple(lines), kept, dropped)


def compose(outer: Sequence[Span], inner: Sequence[Span]) -> list[Span]:
    """Spans clean→source from spans clean→middle (``outer``) and middle→source (``inner``)."""
    out: list[Span] = []
    for c_off, m_off, length in outer:
        m_end = m_off + length
        for i_m, i_s, i_len in inner:
            lo, hi = max(m_off, i_m), min(m_end, i_m + i_len)
            if lo < hi:
                out.append((c_off + (lo - m_off), i_s + (lo - i_m), hi - lo))
    return out
