"""One writer at a time for an on-disk index, across processes (a lock file beside it).

A Chroma server serialises writes itself, so indexes reached by URL need no lock.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from vectorstore.errors import StoreLocked

log = logging.getLogger(__name__)


def lock_path(index_dir: str | Path) -> Path:
    """``DIR.lock`` next to the index directory (outside it, so a damaged directory can be
    moved aside while the lock is held)."""
    path = Path(index_dir).resolve()
    return path.with_name(f"{path.name}.lock")


@contextlib.contextmanager
def write_lock(index_dir: str | Path | None, timeout: float) -> Iterator[None]:
    """Hold the index's write lock, waiting up to ``timeout`` seconds for another writer;
    ``index_dir=None`` (a Chroma server) takes no lock."""
    if index_dir is None:
        yield
        return
    path = lock_path(index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=timeout, poll_interval=0.1)
    except Timeout as exc:
        raise StoreLocked(
            f"another process is writing the index at {index_dir} (it holds {path}); waited "
            f"{timeout:g} s. Try again when it has finished (QA_LOCK_TIMEOUT sets the wait), or "
            "let several processes share a Chroma server (QA_CHROMA_URL)") from exc
    try:
        log.debug("write lock %s taken", path)
        yield
    finally:
        lock.release()
