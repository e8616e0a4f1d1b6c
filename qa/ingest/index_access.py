"""Opening the index and writing to it under its write lock, with the vector store's errors
turned into the project's (a locked index, a damaged or unreachable one)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from qa.errors import IndexLocked, IndexUnavailable
from qa.settings import Settings
from vectorstore import ChromaStore, StoreDamaged, StoreError, StoreLocked, open_store, write_lock


def local_dir(settings: Settings) -> Path | None:
    """The on-disk index directory (None when the index is on a Chroma server)."""
    return None if settings.chroma_url else settings.index_dir


def open_index(settings: Settings, manifest: Mapping[str, str | int],
               rebuild: bool = False) -> ChromaStore:
    """The index named by ``settings`` (on disk or on a Chroma server); ``rebuild`` starts it
    afresh whatever state it is in."""
    location = settings.chroma_url or str(settings.index_dir)
    try:
        return open_store(settings.collection, manifest, index_dir=local_dir(settings),
                          chroma_url=settings.chroma_url, rebuild=rebuild,
                          lock_timeout=settings.lock_timeout)
    except StoreLocked as exc:
        raise IndexLocked(str(exc)) from exc
    except StoreDamaged as exc:
        raise IndexUnavailable(
            f"{exc}. The index looks damaged: rebuild it from the articles with "
            "`qa ingest --rebuild PATH...` (a damaged directory is moved aside, not "
            "deleted)") from exc
    except StoreError as exc:
        raise IndexUnavailable(str(exc)) from exc
    except OSError as exc:
        raise IndexUnavailable(f"cannot create the index directory {location}: {exc}") from exc


@contextlib.contextmanager
def writing(settings: Settings) -> Iterator[None]:
    """Holds the index's write lock (one writer at a time, across processes)."""
    try:
        with write_lock(local_dir(settings), settings.lock_timeout):
            yield
    except StoreLocked as exc:
        raise IndexLocked(str(exc)) from exc
    except StoreError as exc:
        raise IndexUnavailable(str(exc)) from exc
