"""Errors raised by the vector store layer (it knows nothing of the ``qa`` package)."""


class StoreError(Exception):
    """Base class of every error raised by :mod:`vectorstore`."""


class ManifestMismatch(StoreError):
    """The index on disk (or on the server) was built with other settings."""


class EmbeddingError(StoreError):
    """The embedding model could not be loaded or failed to embed."""


class StoreLocked(StoreError):
    """Another process is writing the same on-disk index."""


class StoreDamaged(StoreError):
    """The on-disk index cannot be read: its files are truncated, garbled or missing."""
