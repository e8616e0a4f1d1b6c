"""Incremental ingestion: find files, skip the unchanged, chunk and embed the rest, store them."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import IngestError
from qa.ingest.chunking import Chunker, ChunkSpan
from qa.ingest.documents import Document, SkipFile, SourceFile, discover, load_document
from qa.safety import looks_like_injection
from qa.types import FileReport, IngestReport
from vectorstore import ChromaStore, ChunkRecord, Embedder, FileRecord, StoreError

log = logging.getLogger(__name__)
LOG_EVERY = 30.0  # seconds between log lines while a long file is embedded


def chunk_id(file_key: str, index: int) -> str:
    """Stable id: the same file and chunk position always give the same id."""
    return f"{hashlib.sha1(file_key.encode()).hexdigest()[:16]}-{index:05d}"


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class _Bar:
    """A tqdm bar (terminal) and an optional callback (UI) advanced together; for a long file,
    a second bar (and the callback) counts its passages as they are embedded."""

    def __init__(self, bar: Any, total: int,
                 callback: Callable[[int, int, str], None] | None) -> None:
        self.bar, self.total, self.callback, self.done = bar, total, callback, 0
        self.inner: Any = None
        self._logged = 0.0

    def update(self, n: int, source: str) -> None:
        self.done += n
        self.bar.update(n)
        if self.callback:
            self.callback(self.done, self.total, source)

    def passages(self, label: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.inner is None:
            self.inner = tqdm(total=total, unit="passage", desc="embedding", leave=False,
                              disable=self.bar.disable)
            self._logged = time.monotonic()
        self.inner.update(done - self.inner.n)
        if time.monotonic() - self._logged > LOG_EVERY or done == total:
            self._logged = time.monotonic()
            log.info("embedding %s: %d of %d passages", label, done, total)
        if self.callback:
            self.callback(self.done, self.total, f"{label} ({done:,} of {total:,} passages)")
        if done >= total:
            self.inner.close()
            self.inner = None

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
        self.bar.close()


@dataclass
class _Pending:
    doc: Document
    chunks: list[ChunkSpan]
    status: str


class Ingestor:
    """Brings an index up to date with a set of files and folders."""

    def __init__(
        self,
        store: ChromaStore,
        embedder: Embedder,
        chunker: Chunker,
        *,
        max_bytes: int = 20_000_000,
        embed_batch: int = 256,
        token_limit: int | None = 256,
        clean_clutter: bool = True,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.max_bytes = max_bytes
        self.embed_batch = embed_batch
        self.token_limit = token_limit
        self.clean_clutter = clean_clutter
        self._on_progress: Callable[[int, int, str], None] | None = None
        self._store_failed = ""  # the first write error of this run: later files are not read

    def run(self, paths: Iterable[str | Path], *, progress: bool = False,
            on_progress: Callable[[int, int, str], None] | None = None) -> IngestReport:
        """``on_progress(done, total, source)`` is called as each file to embed is handled."""
        started = time.perf_counter()
        files, skipped, folders = discover(paths)
        reports: list[FileReport] = [
            FileReport(s.source, str(s.path), "skipped", reason=s.reason) for s in skipped
        ]
        try:
            leftovers = self.store.remove_leftovers()  # a crashed run's chunks without a record
            known = self.store.file_records()
        except StoreError as exc:
            raise IngestError(f"cannot use the index: {exc}") from exc
        present = {str(f.path) for f in files}
        reports.extend(
            FileReport(source, key, "removed", n, reason="left by an interrupted ingest")
            for key, (source, n) in leftovers.items() if key not in present)

        todo: list[tuple[SourceFile, str]] = []
        for file in files:
            record = known.get(str(file.path))
            if record is None:
                todo.append((file, "added"))
                continue
            try:
                unchanged = record.sha256 == file_sha256(file.path) and record.source == file.source
            except OSError as exc:
                reports.append(FileReport(file.source, str(file.path), "skipped",
                                          reason=f"cannot be read: {exc.strerror or exc}",
                                          problem=True))
                continue
            if unchanged:
                reports.append(FileReport(
                    file.source, str(file.path), "unchanged", record.chunks,
                    kept_chars=int(record.extra.get("kept_chars", 0)),
                    dropped_chars=int(record.extra.get("dropped_chars", 0))))
            else:
                todo.append((file, "updated"))

        self._on_progress = on_progress
        embedded = self._embed_and_store(todo, reports, progress=progress)
        reports.extend(self._remove_vanished(known, files, folders))
        return IngestReport(
            files=tuple(sorted(reports, key=lambda r: (r.source, r.path))),
            embedded_chunks=embedded,
            total_chunks=self.store.count(),
            seconds=time.perf_counter() - started,
        )

    # ------------------------------------------------------------------------------------------
    def _embed_and_store(
        self, todo: Sequence[tuple[SourceFile, str]], reports: list[FileReport], *, progress: bool
    ) -> int:
        from tqdm import tqdm

        bar = _Bar(tqdm(total=len(todo), unit="file", desc="ingesting",
                        disable=not progress or not todo, leave=False),
                   len(todo), self._on_progress)
        pending: list[_Pending] = []
        embedded = 0
        try:
            for file, status in todo:
                if self._store_failed:  # a full disk fails every write: stop reading, embedding
                    reports.append(FileReport(file.source, str(file.path), "failed",
                                              reason=f"not indexed: {self._store_failed}"))
                    bar.update(1, file.source)
                    continue
                try:
                    doc = load_document(file, self.max_bytes, clean_clutter=self.clean_clutter)
                except SkipFile as exc:
                    reports.append(FileReport(file.source, str(file.path), "skipped",
                                              reason=str(exc), problem=True))
                    bar.update(1, file.source)
                    continue
                try:
                    chunks = self.chunker.split(doc.text)
                except Exception as exc:  # whatever the splitter meets: this file fails alone
                    log.warning("%s: cannot be split into passages: %s", file.source, exc)
                    reports.append(FileReport(
                        file.source, str(file.path), "failed", problem=True,
                        reason=f"cannot be split into passages: {str(exc).splitlines()[0][:200]}"))
                    bar.update(1, file.source)
                    continue
                if not chunks:
                    reports.append(FileReport(file.source, str(file.path), "skipped",
                                              reason="no text to index"))
                    bar.update(1, file.source)
                    continue
                pending.append(_Pending(doc, chunks, status))
                if sum(len(p.chunks) for p in pending) >= self.embed_batch:
                    embedded += self._flush(pending, reports, bar)
                    pending = []
            embedded += self._flush(pending, reports, bar)
        finally:
            bar.close()
        return embedded

    def _flush(self, pending: list[_Pending], reports: list[FileReport], bar: _Bar) -> int:
        if not pending:
            return 0
        texts = [c.text for p in pending for c in p.chunks]
        self._check_window(texts)
        try:
            vectors = self._embed(texts, pending, bar)
        except Exception as exc:
            for p in pending:
                reports.append(FileReport(p.doc.file.source, str(p.doc.file.path), "failed",
                                          reason=f"embedding failed: {exc}"))
                bar.update(1, p.doc.file.source)
            return 0
        offset = 0
        new_files: list[tuple[_Pending, FileRecord, list[ChunkRecord]]] = []
        for p in pending:
            vecs = vectors[offset : offset + len(p.chunks)]
            offset += len(p.chunks)
            record = self._record(p.doc, len(p.chunks))
            records = self._chunk_records(p.doc, p.chunks, vecs)
            if p.status == "added":
                new_files.append((p, record, records))
                continue
            file = p.doc.file
            try:
                self.store.write_file(record, records)
                reports.append(self._stored_report(p))
            except StoreError as exc:
                self._store_failed = self._store_failed or str(exc)
                reports.append(FileReport(file.source, str(file.path), "failed",
                                          reason=f"could not be stored: {exc}"))
            bar.update(1, file.source)
        if new_files:  # files new to the index go in with one bulk write
            try:
                self.store.write_new_files([(record, records) for _, record, records in new_files])
                for p, _, _ in new_files:
                    reports.append(self._stored_report(p))
            except StoreError as exc:
                self._store_failed = self._store_failed or str(exc)
                for p, _, _ in new_files:
                    reports.append(FileReport(p.doc.file.source, str(p.doc.file.path), "failed",
                                              reason=f"could not be stored: {exc}"))
            for p, _, _ in new_files:
                bar.update(1, p.doc.file.source)
        return len(texts)

    def _embed(self, texts: list[str], pending: list[_Pending], bar: _Bar) -> list[list[float]]:
        """All vectors; a flush of more than two batches (a long file) is embedded batch by
        batch, its progress shown in passages (a 20 MB file is an hour of embedding here)."""
        if len(texts) <= 2 * self.embed_batch:
            return self.embedder.embed(texts)
        label = ", ".join(p.doc.file.source for p in pending[:2]) + (
            f" and {len(pending) - 2} more" if len(pending) > 2 else "")
        vectors: list[list[float]] = []
        for i in range(0, len(texts), self.embed_batch):
            vectors.extend(self.embedder.embed(texts[i : i + self.embed_batch]))
            bar.passages(label, len(vectors), len(texts))
        return vectors

    @staticmethod
    def _stored_report(p: _Pending) -> FileReport:
        note = f"decoded as {p.doc.encoding}" if p.doc.encoding not in ("utf-8", "pdf", "docx") \
            else ""
        if p.doc.replaced:
            note = f"{p.doc.replaced} undecodable bytes replaced"
        return FileReport(p.doc.file.source, str(p.doc.file.path), p.status,  # type: ignore[arg-type]
                          len(p.chunks), reason=note, kept_chars=p.doc.kept_chars,
                          dropped_chars=p.doc.dropped_chars)

    def _check_window(self, texts: Sequence[str]) -> None:
        if not self.token_limit:
            return
        counts = [self.embedder.count_tokens(t) for t in texts]
        over = [c for c in counts if c is not None and c > self.token_limit]
        if over:
            log.warning(
                "%d of %d chunks exceed the embedding model's %d-token window (longest %d) and "
                "are truncated when embedded; lower QA_CHUNK_SIZE",
                len(over), len(texts), self.token_limit, max(over),
            )

    @staticmethod
    def _record(doc: Document, chunks: int) -> FileRecord:
        return FileRecord(
            key=str(doc.file.path), source=doc.file.source, root=str(doc.file.root),
            sha256=doc.sha256, chunks=chunks, title=doc.title,
            extra={"outlet": doc.meta.outlet, "published": doc.meta.published,
                   "url": doc.meta.url, "encoding": doc.encoding,
                   "kept_chars": doc.kept_chars, "dropped_chars": doc.dropped_chars},
        )

    @staticmethod
    def _chunk_records(
        doc: Document, chunks: Sequence[ChunkSpan], vectors: Sequence[Sequence[float]]
    ) -> list[ChunkRecord]:
        key = str(doc.file.path)
        injection = looks_like_injection(doc.text)
        out = []
        for chunk, vec in zip(chunks, vectors, strict=True):
            start, end = doc.file_range(chunk.start, chunk.end)
            spans = ""
            if doc.spans is not None:
                spans = json.dumps([
                    [t - chunk.start, f, n] for t, f, n in doc.spans
                    if t < chunk.end and t + n > chunk.start
                ])
            out.append(ChunkRecord(
                id=chunk_id(key, chunk.index),
                text=chunk.text,
                embedding=vec,
                metadata={
                    "source": doc.file.source, "path": key, "root": str(doc.file.root),
                    "title": doc.title, "chunk_index": chunk.index, "start": start, "end": end,
                    "spans": spans, "file_sha256": doc.sha256, "encoding": doc.encoding,
                    "outlet": doc.meta.outlet, "published": doc.meta.published,
                    "published_int": doc.meta.published_int, "url": doc.meta.url,
                    "injection": injection,
                },
            ))
        return out

    def _remove_vanished(
        self, known: dict[str, FileRecord], files: Sequence[SourceFile], folders: Sequence[Path]
    ) -> list[FileReport]:
        present = {str(f.path) for f in files}
        reports = []
        for key, record in known.items():
            if key in present or Path(key).exists():
                continue
            if not any(Path(key).is_relative_to(folder) for folder in folders):
                continue
            try:
                removed = self.store.remove_file(key)
            except StoreError as exc:
                reports.append(FileReport(record.source, key, "failed", reason=str(exc)))
                continue
            reports.append(FileReport(record.source, key, "removed", removed))
        return reports
