"""Opening an index safely: the first creation of an on-disk index and every rebuild happen
under the write lock, an index another process is creating right now is waited for, and a
rebuild of a damaged directory moves it aside (never deletes it) and starts afresh."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

from vectorstore.errors import StoreDamaged
from vectorstore.lock import write_lock
from vectorstore.store import ChromaStore, MetadataValue, evict, open_client

log = logging.getLogger(__name__)

CHROMA_FILE = "chroma.sqlite3"  # what a created Chroma directory holds


def open_store(name: str, manifest: Mapping[str, MetadataValue], *,
               index_dir: Path | None = None, chroma_url: str | None = None,
               rebuild: bool = False, lock_timeout: float = 60.0) -> ChromaStore:
    """The index in ``index_dir`` (or on the Chroma server at ``chroma_url``), checked against
    ``manifest``; ``rebuild`` empties it whatever state it is in."""
    location = chroma_url or str(index_dir)

    def open_it() -> ChromaStore:
        if index_dir is not None:
            index_dir.mkdir(parents=True, exist_ok=True)
        client = open_client(None if index_dir is None else str(index_dir), chroma_url)
        return ChromaStore(client, name, manifest, location=location, replace=rebuild,
                           index_dir=None if index_dir is None else str(index_dir))

    if index_dir is None:  # a server serialises writers itself
        return open_it()
    first: StoreDamaged | None = None
    if not rebuild and (index_dir / CHROMA_FILE).exists():
        try:
            return open_it()
        except StoreDamaged as exc:  # perhaps another process is creating it this moment:
            first = exc  # wait for that writer, then look again with a fresh client
            evict(str(index_dir))
    with write_lock(index_dir, lock_timeout):
        try:
            return open_it()
        except StoreDamaged as exc:
            if not rebuild:
                raise (first or exc) from None  # the first failure says most
        aside = index_dir.with_name(f"{index_dir.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        index_dir.rename(aside)
        evict(str(index_dir))
        log.warning("moved the damaged index %s aside to %s", index_dir, aside)
        return open_it()
