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


_MD_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)")
_HTML_TAG = re.compile(r"<\s*(?:img|a|iframe|script)\b[^>]*>(?:[^<]*</\s*a\s*>)?", re.I)
_BARE_URL = re.compile(r"https?://[^\s)\]>\"']+")


def _host(url: str) -> str:
    return (urlparse(url).hostname or "").lower()


def strip_foreign_links(text: str, allowed_urls: Iterable[str]) -> tuple[str, int]:
    """Remove images, HTML tags and links whose host is not one of the sources' own;
    returns the text and how many were removed."""
    hosts = {_host(u) for u in allowed_urls if u}
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

    def bare(m: re.Match[str]) -> str:
        nonlocal removed
        if _host(m.group(0)) in hosts:
            return m.group(0)
        removed += 1
        return ""

    text = _MD_IMAGE.sub(image, text)
    text = _HTML_TAG.sub(image, text)
    text = _MD_LINK.sub(link, text)
    text = _BARE_URL.sub(bare, text)
    return re.sub(r"[ \t]{2,}", " ", text), removed
