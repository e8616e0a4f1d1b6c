"""Near-duplicate passages across files (wire copies): MinHash over word 3-shingles."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from datasketch import MinHash

NUM_PERM = 128
THRESHOLD = 0.8


def _shingles(text: str, n: int = 3) -> set[bytes]:
    words = re.findall(r"\w+", text.lower())
    if len(words) < n:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}


@functools.lru_cache(maxsize=4096)
def signature(text: str) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, seed=7)
    m.update_batch(list(_shingles(text)))
    return m


def similar(a: str, b: str) -> float:
    """Estimated Jaccard similarity of the two texts' word 3-shingles."""
    return float(signature(a).jaccard(signature(b)))


def copies(quote: str, candidates: Iterable[tuple[str, str]],
           threshold: float = THRESHOLD) -> list[str]:
    """Keys of ``(key, sentence)`` candidates that repeat ``quote`` almost word for word."""
    if len(re.findall(r"\w+", quote)) < 6:  # too short to call a copy
        return []
    out: list[str] = []
    for key, sentence in candidates:
        if key not in out and similar(quote, sentence) >= threshold:
            out.append(key)
    return out
