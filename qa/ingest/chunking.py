"""Token-sized, sentence-aware chunks that know where they sit in the document text."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from qa.offline import tiktoken_encoding, use_bundled_caches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkSpan:
    """``text == document_text[start:end]``."""

    index: int
    text: str
    start: int
    end: int


class Chunker:
    """llama-index's ``SentenceSplitter`` on tiktoken (cl100k_base) tokens, plus offsets.

    The default 160 tokens keeps every chunk inside all-MiniLM-L6-v2's 256-token window with room
    to spare for text that WordPiece splits finely (names, codes, numbers): on the bundled
    articles the longest chunk is 159 MiniLM tokens (``tests/test_answers_real.py``); ingestion
    logs a warning whenever a chunk would be truncated."""

    def __init__(self, chunk_size: int = 160, chunk_overlap: int = 24) -> None:
        if chunk_overlap >= chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._splitter: Any = None

    def _get_splitter(self) -> Any:
        if self._splitter is None:
            use_bundled_caches()
            from llama_index.core.node_parser import SentenceSplitter

            self._splitter = SentenceSplitter(
                chunk_size=self.chunk_size,
                chunk_overlap=self.chunk_overlap,
                tokenizer=tiktoken_encoding().encode,
                paragraph_separator="\n\n",
            )
        return self._splitter

    def split(self, text: str) -> list[ChunkSpan]:
        """Chunks of ``text`` with their offsets. Text longer than :data:`BLOCK_CHARS` is
        split into blocks at paragraph, line or word breaks first: the sentence splitter's
        regular expressions run per block, so their time grows with the text, never past
        their limit (300,000 short lines in one paragraph used to abort the run)."""
        out: list[ChunkSpan] = []
        for a, b in blocks(text, BLOCK_CHARS):
            block = text[a:b]
            pieces = [p for p in self._get_splitter().split_text(block) if p.strip()]
            cursor = 0
            for piece in pieces:
                start = block.find(piece, cursor)
                if start < 0:  # the splitter changed whitespace: fall back to a fresh search
                    start = block.find(piece)
                if start < 0:
                    log.warning("chunk not found verbatim in its document; skipped: %r",
                                piece[:60])
                    continue
                out.append(ChunkSpan(len(out), piece, a + start, a + start + len(piece)))
                cursor = start + 1
        return out


BLOCK_CHARS = 50_000


def blocks(text: str, limit: int) -> list[tuple[int, int]]:
    """``(start, end)`` ranges covering ``text``, each at most ``limit`` characters, cut at
    the last paragraph break, else line break, else space before the limit."""
    out: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > limit:
        end = start + limit
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = text.rfind(sep, start + 1, end)
            if cut > start:
                break
        cut = cut if cut > start else end
        out.append((start, cut))
        start = cut
    out.append((start, len(text)))
    return out
