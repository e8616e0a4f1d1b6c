"""Folders kept in step with the index as files are added, edited and deleted (``qa ingest
--watch DIR...``, ``QA_WATCH_DIRS`` for the web app), with the ``watchfiles`` library.

Changes are debounced (a burst of saves is one update); each batch re-ingests the folders it
touched, which embeds only new and edited files and removes deleted ones. One log line per
change, then what ingestion did."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from qa.errors import IngestError, QAError
from qa.ingest.documents import SUPPORTED_EXTENSIONS
from qa.types import IngestReport

log = logging.getLogger(__name__)


def watched_folders(folders: Sequence[str | Path]) -> list[Path]:
    """The folders, resolved; one that is not a folder is refused by name."""
    out = []
    for folder in folders:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise IngestError(f"cannot watch {folder}: not a folder")
        out.append(path.resolve())
    if not out:
        raise IngestError("no folder to watch: name at least one")
    return out


def _wanted(_: object, path: str) -> bool:
    """Article files (and folders, whose deletion removes their files); no hidden or editor
    temporary files."""
    name = Path(path).name
    if name.startswith(".") or name.endswith(("~", ".tmp", ".swp", ".part")):
        return False
    suffix = Path(path).suffix.lower()
    return suffix in SUPPORTED_EXTENSIONS or suffix == ""


class FolderWatcher:
    """Watches ``folders`` and calls ``ingest(folders touched)`` after each debounced batch of
    changes. ``say(line)``: where the one-line reports go besides the log (a terminal);
    ``recent``: the last lines, for a UI."""

    def __init__(self, ingest: Callable[[list[Path]], IngestReport],
                 folders: Sequence[str | Path], *, debounce_ms: int = 700,
                 say: Callable[[str], None] | None = None) -> None:
        self.ingest = ingest
        self.folders = watched_folders(folders)
        self.debounce_ms = debounce_ms
        self.say = say
        self.recent: deque[str] = deque(maxlen=30)
        self.updates = 0  # batches ingested: a UI can tell that something changed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _note(self, line: str) -> None:
        log.info("watch: %s", line)
        self.recent.append(f"{time.strftime('%H:%M:%S')} {line}")
        if self.say is not None:
            self.say(line)

    def _root(self, path: Path) -> Path | None:
        return next((f for f in self.folders if path == f or f in path.parents), None)

    def handle(self, changes: Iterable[tuple[Any, str]], *, every_folder: bool = False
               ) -> IngestReport | None:
        """One debounced batch: ``(change, path)`` pairs as ``watchfiles`` gives them;
        ``every_folder``: update all the folders, not only those the changes touched."""
        touched: set[Path] = set(self.folders) if every_folder else set()
        for change, path in sorted(changes, key=lambda c: c[1]):
            kind = getattr(change, "name", str(change))
            self._note(f"{kind} {path}")
            root = self._root(Path(path))
            if root is not None:
                touched.add(root)
        if not touched:
            return None
        try:
            report = self.ingest(sorted(touched))
        except QAError as exc:
            self._note(f"could not update the index: {exc}")
            return None
        for f in report.files:
            if f.status != "unchanged":
                self._note(f"{f.status} {f.source}" + (f" ({f.reason})" if f.reason else ""))
        self.updates += 1
        return report

    def run(self) -> None:
        """Watches until :meth:`stop` (or Ctrl-C); blocks. Once the watch is set up, every
        folder is brought up to date (cheap when nothing changed), so that nothing written
        before the watch began is missed; then each batch updates the folders it touched."""
        from watchfiles import watch

        first = True
        for changes in watch(*self.folders, watch_filter=_wanted, debounce=self.debounce_ms,
                             stop_event=self._stop, raise_interrupt=False,
                             yield_on_timeout=True, rust_timeout=1000):
            if changes or first:
                self.handle(changes, every_folder=first)
                first = False

    def start(self) -> threading.Thread:
        """:meth:`run` in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="qa-watch", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
