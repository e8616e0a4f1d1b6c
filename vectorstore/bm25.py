"""A BM25 keyword index over the stored chunks (bm25s, Snowball-stemmed English)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


class BM25Index:
    """Built once from ``(ids, texts)``; ``search`` never rebuilds it."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        import bm25s
        import numpy as np
        import Stemmer

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG

        started = time.perf_counter()
        self.ids = list(ids)
        self._tokenizer: Any = bm25s.tokenization.Tokenizer(
            stopwords="en", stemmer=Stemmer.Stemmer("english")
        )
        self._retriever: Any = None
        self._df: dict[str, int] = {}
        if self.ids:
            corpus = self._tokenizer.tokenize(list(texts), return_as="tuple", show_progress=False)
            self._retriever = bm25s.BM25()
            self._retriever.index(corpus, show_progress=False)
            # bm25s keeps one column of scores per token: its non-zeros are the chunks having it
            per_token = np.diff(self._retriever.scores["indptr"])
            self._df = {word: int(per_token[token]) for word, token in corpus.vocab.items()}
        log.debug("BM25 index of %d chunks built in %.3f s", len(self.ids),
                  time.perf_counter() - started)

    def __len__(self) -> int:
        return len(self.ids)

    def idf(self, stems: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of each (Snowball-stemmed, lower-case) word over the
        indexed chunks: ``log(1 + (N - df + 0.5) / (df + 0.5))``; unseen words get the most."""
        n = len(self.ids)
        return {s: math.log(1.0 + (n - (df := self._df.get(s, 0)) + 0.5) / (df + 0.5))
                for s in stems}

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """Up to ``n`` ``(chunk id, score)`` pairs with a positive score, best first."""
        if self._retriever is None or n <= 0:
            return []
        tokens = self._tokenizer.tokenize(
            [query], return_as="ids", update_vocab=False, show_progress=False
        )
        if not tokens or not tokens[0]:
            return []
        docs, scores = self._retriever.retrieve(
            tokens, k=min(n, len(self.ids)), show_progress=False, n_threads=1
        )
        return [
            (self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=False) if s > 0
        ]
