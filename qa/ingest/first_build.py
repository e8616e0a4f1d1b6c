"""Indexing the corpus folder into an empty index, in the foreground or in a background thread
while a server starts; until it is done, questions get :class:`IndexBuilding` (never an answer
from a half-built index)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from qa.errors import IndexBuilding, QAError
from qa.types import IngestReport

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


class FirstBuild:
    """``count()`` says how many chunks the index holds; ``ingest_corpus(progress,
    on_progress)`` ingests the corpus folder; ``lock`` is the one every ingestion holds."""

    def __init__(self, lock: threading.RLock, count: Callable[[], int],
                 ingest_corpus: Callable[[bool, Progress], IngestReport]) -> None:
        self._lock = lock
        self._count = count
        self._ingest_corpus = ingest_corpus
        # (files done, files in all) while the corpus is first indexed into an empty index
        self.state: tuple[int, int] | None = None

    def ensure(self, progress: bool = False,
               on_progress: Progress | None = None) -> IngestReport | None:
        with self._lock:
            if self._count() > 0:
                self.state = None
                return None
            self.state = (0, 0)

            def track(done: int, total: int, source: str) -> None:
                self.state = (done, total)
                if on_progress:
                    on_progress(done, total, source)

            try:
                return self._ingest_corpus(progress, track)
            finally:
                self.state = None

    def start(self, on_progress: Progress | None = None) -> threading.Thread | None:
        with self._lock:  # not while another build or ingest holds it
            if self.state is not None or self._count() > 0:
                return None
            self.state = (0, 0)  # before the thread runs: no question slips in first

        def run() -> None:
            try:
                self.ensure(on_progress=on_progress)
            except QAError as exc:
                log.error("indexing the corpus failed: %s", exc)
            finally:
                self.state = None

        thread = threading.Thread(target=run, name="qa-indexing", daemon=True)
        thread.start()
        return thread

    def check(self) -> None:
        state = self.state
        if state is not None:
            raise IndexBuilding(*state)
