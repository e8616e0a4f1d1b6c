"""Article text is data, never instructions: injection markers, delimiter hygiene, and links in
answers limited to the sources' own hosts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlparse

ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|all|"
    r"your|the)\b[^.\n]{0,20}\b(?:instructions?|prompts?|rules?|directions?)\b"
    r"|\b(?:system prompt|you are now|act as|new instructions?|reply (?:only )?with|"
    r"respond (?:only )?with|(?:to|for) (?:the )?(?:ai|assistant|language model|llm|chatbot))\b",
    re.I)
INJECTION_WARNING = "this source contains text addressed to AI assistants; it was treated as data"


def visible(text: str) -> str:
    """``text`` without zero-width characters (used to read what an injection says)."""
    return ZERO_WIDTH.sub("", text)


def looks_like_injection(text: str) -> bool:
    return bool(_INJECTION.search(visible(text)))


def sanitize_source(text: str) -> str:
    """Source text safe to put between <source> tags: no zero-width tricks, no fake closing
    tag."""
    text = visible(text)
    return re.sub(r"</?\s*source\b", lambda m: m.group().replace("source", "s\u2024ource"), text,
                  flags=re.I)


# destinations may follow "(" after white space and may be scheme-relative ("//host/x")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*([^)\s]*)[^)]*\)")
_MD_REF_IMAGE = re.compile(r"!\[[^\]]*\]\[[^\]]*\]")
_MD_LINK = re.compile(r"\[([^\]]+)\]\(\s*([^)\s]*)[^)]*\)")
_MD_REF_DEF = re.compile(r"^[ \t]{0,3}\[[^\]]+\]:[ \t]*<?([^\s>]+)>?.*$", re.M)
_HTML_TAG = re.compile(
    r"<\s*/?\s*(?:img|image|a|iframe|frame|script|style|link|meta|base|svg|video|audio|source|"
    r"track|picture|object|embed|form|input|button)\b[^>]*>", re.I)
_BARE_URL = re.compile(r"(?:https?://|\bwww\.)[^\s)\]>\"']+", re.I)


def _host(url: str) -> str:
    url = url.strip().strip("<>")
    if url.lower().startswith("www."):
        url = "//" + url
    return (urlparse(url).hostname or "").lower()


def strip_foreign_links(text: str, allowed_urls: Iterable[str]) -> tuple[str, int]:
    """Remove images, HTML tags and links whose host is not one of the sources' own;
    returns the text and how many were removed."""
    hosts = {_host(u) for u in allowed_urls if u} - {""}
    removed = 0

    def image(m: re.Match[str]) -> str:
        nonlocal removed
        removed += 1
        return ""

    def link(m: re.Match[str]) -> str:
        nonlocal removed
        if _host(m.group(2)) in hosts:
            return m.group(0)
        removed += 1
        return m.group(1)

    def foreign(m: re.Match[str]) -> str:  # bare addresses and reference definitions
        nonlocal removed
        if _host(m.group(m.lastindex or 0)) in hosts:
            return m.group(0)
        removed += 1
        return ""

    text = _MD_IMAGE.sub(image, text)
    text = _MD_REF_IMAGE.sub(image, text)
    text = _HTML_TAG.sub(image, text)
    text = _MD_REF_DEF.sub(foreign, text)
    text = _MD_LINK.sub(link, text)
    text = _BARE_URL.sub(foreign, text)
    return re.sub(r"[ \t]{2,}", " ", text), removed


_OPENERS = {"[": "]", "(": ")", "<": ">"}


def _safe_cut(text: str) -> int:
    """The longest prefix of ``text`` that no later text can turn into (part of) a link, an
    image, a tag or a reference definition: it ends in white space outside every bracket, and
    not on a line that may be a reference definition (those are released whole)."""
    cut = 0
    open_: list[str] = []
    line_start = 0
    for i, ch in enumerate(text):
        if ch == "\n":
            line_start = i + 1
        if open_ and ch == open_[-1]:
            open_.pop()
        elif ch in "[(" or (ch == "<" and re.match(r"<\s*[A-Za-z/!]", text[i:i + 3])):
            open_.append(_OPENERS[ch])
        elif ch.isspace() and not open_:
            line = text[line_start:i]
            if ch == "\n" or not line.lstrip(" \t").startswith("["):
                cut = i + 1
    return cut


class LinkGuard:
    """:func:`strip_foreign_links` for text that arrives in pieces: each piece is held back
    until nothing after it can make it part of a link or image, so no outside address leaves
    the server, not even in a streamed delta."""

    def __init__(self, allowed_urls: Iterable[str]) -> None:
        self.allowed = list(allowed_urls)
        self.held = ""

    def feed(self, piece: str) -> str:
        self.held += piece
        cut = _safe_cut(self.held)
        out, self.held = self.held[:cut], self.held[cut:]
        return strip_foreign_links(out, self.allowed)[0] if out else ""

    def flush(self) -> str:
        out, self.held = self.held, ""
        return strip_foreign_links(out, self.allowed)[0] if out else ""
