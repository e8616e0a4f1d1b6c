"""Chroma storage, embeddings and keyword search. Knows nothing of the ``qa`` package."""

from vectorstore.bm25 import BM25Index
from vectorstore.embeddings import (
    Embedder,
    HashEmbedder,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
)
from vectorstore.errors import (
    EmbeddingError,
    ManifestMismatch,
    StoreDamaged,
    StoreError,
    StoreLocked,
)
from vectorstore.lock import lock_path, write_lock
from vectorstore.opening import open_store
from vectorstore.store import ChromaStore, ChunkRecord, FileRecord, Hit, evict, open_client

__all__ = [
    "BM25Index",
    "ChromaStore",
    "ChunkRecord",
    "Embedder",
    "EmbeddingError",
    "FileRecord",
    "HashEmbedder",
    "Hit",
    "ManifestMismatch",
    "OpenAIEmbedder",
    "SentenceTransformerEmbedder",
    "StoreDamaged",
    "StoreError",
    "StoreLocked",
    "evict",
    "lock_path",
    "make_embedder",
    "open_client",
    "open_store",
    "write_lock",
]
