"""Chunks, their vectors and the per-file records in Chroma: a local directory or a server.

Two collections per index: ``NAME`` holds the chunks (text, vector, metadata) and
``NAME-files`` holds one record per ingested file (content hash, chunk count, title). The
manifest (embedding model, dimension, chunking) lives in the chunk collection's metadata, so a
directory and a server carry it the same way; opening an index with other settings fails loudly.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlparse

from vectorstore.errors import ManifestMismatch, StoreDamaged, StoreError

log = logging.getLogger(__name__)

MetadataValue = str | int | float | bool
PENDING = "pending"  # in a file record: its chunks are being written (or a crash cut that short)


P = ParamSpec("P")
R = TypeVar("R")


def _writes(method: Callable[Concatenate[ChromaStore, P], R]
            ) -> Callable[Concatenate[ChromaStore, P], R]:
    """Run a writing method inside :meth:`ChromaStore._writing`."""
    @functools.wraps(method)
    def wrapper(self: ChromaStore, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._writing():
            return method(self, *args, **kwargs)
    return wrapper


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk to store: its stable id, text, vector and flat metadata."""

    id: str
    text: str
    embedding: Sequence[float]
    metadata: Mapping[str, MetadataValue]


@dataclass(frozen=True)
class Hit:
    """A stored chunk returned by a query; ``score`` is cosine similarity for dense queries."""

    id: str
    text: str
    metadata: Mapping[str, Any]
    score: float = 0.0


@dataclass(frozen=True)
class FileRecord:
    """What the index remembers of one ingested file."""

    key: str  # absolute path: the file's identity
    source: str  # path relative to the folder it was ingested from
    root: str  # that folder (absolute)
    sha256: str
    chunks: int
    title: str = ""
    extra: Mapping[str, MetadataValue] = field(default_factory=dict)
    pending: bool = False  # its chunks are being written, or a crash cut that short

    def to_metadata(self) -> dict[str, MetadataValue]:
        meta: dict[str, MetadataValue] = dict(self.extra)
        meta.update(
            source=self.source, root=self.root, sha256=self.sha256, chunks=self.chunks,
            title=self.title,
        )
        meta[PENDING] = self.pending  # always written: Chroma merges an upsert's metadata
        return meta

    @classmethod
    def from_metadata(cls, key: str, meta: Mapping[str, Any]) -> FileRecord:
        known = {"source", "root", "sha256", "chunks", "title", PENDING}
        return cls(
            key=key,
            source=str(meta.get("source", "")),
            root=str(meta.get("root", "")),
            sha256=str(meta.get("sha256", "")),
            chunks=int(meta.get("chunks", 0)),
            title=str(meta.get("title", "")),
            extra={k: v for k, v in meta.items() if k not in known},
            pending=bool(meta.get(PENDING, False)),
        )


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


def open_client(index_dir: str | None = None, chroma_url: str | None = None) -> Any:
    """A Chroma client: an HTTP client when ``chroma_url`` is set, else a persistent directory."""
    import chromadb

    if chroma_url:
        parsed = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        if not parsed.hostname:
            raise StoreError(f"QA_CHROMA_URL is not a URL: {chroma_url!r}")
        ssl = parsed.scheme == "https"
        port = parsed.port or (443 if ssl else 8000)
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=ssl, settings=_settings()
            )
            client.heartbeat()
        except Exception as exc:
            raise StoreError(f"cannot reach the Chroma server at {chroma_url}: {exc}") from exc
        return client
    if not index_dir:
        raise StoreError("no index directory and no Chroma server URL given")
    try:
        return chromadb.PersistentClient(path=index_dir, settings=_settings())
    except Exception as exc:  # Chroma releases the half-opened client itself
        raise StoreDamaged(f"cannot open the index directory {index_dir}: {exc}") from exc


def evict(index_dir: str) -> None:
    """Forget and stop Chroma's shared in-process client for a damaged directory that was moved
    aside, so that the rebuilt directory gets a fresh one (other clients of that directory are
    broken anyway)."""
    for system in _detach(index_dir):
        try:
            system.stop()
        except Exception as exc:  # stopping is a courtesy: never fail because of it
            log.debug("could not stop Chroma's client for %s: %s", index_dir, exc)


def _detach(index_dir: str) -> list[Any]:
    """Make the next client of ``index_dir`` a new one rather than Chroma's shared in-process
    client, which keeps each collection's vector index in memory and never sees what another
    process wrote to it; returns the detached systems (clients already open keep working).
    Uses Chroma internals, guarded: at worst a restart is needed."""
    import os

    detached: list[Any] = []
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        for key in {index_dir, os.path.abspath(index_dir)}:
            system = SharedSystemClient._identifier_to_system.pop(key, None)
            SharedSystemClient._identifier_to_refcount.pop(key, None)
            if system is not None:
                detached.append(system)
    except Exception as exc:
        log.debug("could not detach Chroma's client for %s: %s", index_dir, exc)
    return detached


def _release(client: Any) -> None:
    """Close a client whose index turned out damaged: Chroma shares one client per directory
    in a process, and a rebuilt directory must not be served by the old one."""
    try:
        client.close()
    except Exception as exc:  # closing is a courtesy: never fail because of it
        log.debug("could not close the Chroma client: %s", exc)


def _manifest_diff(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    return [
        f"{k}: index has {stored.get(k)!r}, settings ask for {wanted.get(k)!r}"
        for k in keys
        if stored.get(k) != wanted.get(k)
    ]


SYNC_INTERVAL = 1.0  # seconds between looks for another process's writes (on-disk index)


class ChromaStore:
    """The chunk and file collections of one index, checked against a manifest."""

    MANIFEST_KEY = "qa_manifest"
    GENERATION_KEY = "generation"

    def __init__(
        self,
        client: Any,
        name: str,
        manifest: Mapping[str, MetadataValue],
        *,
        location: str = "",
        replace: bool = False,
        index_dir: str | None = None,
    ) -> None:
        """``index_dir``: the on-disk directory ``client`` opened (None for a server); its
        client is renewed when another process has written to it (see :meth:`query`)."""
        self.client = client
        self.name = name
        self.manifest = dict(manifest)
        self.location = location or name
        self.index_dir = index_dir
        self._chunks: Any = None
        self._files: Any = None
        self._write_failed = ""  # the first write error: no more writes through this client
        self._seen: str | None = None  # the generation this client's vector index reflects
        self._synced = 0.0  # when another process's writes were last looked for
        self._sync_lock = threading.Lock()
        if replace:
            self._drop()
        self._open()
        if index_dir is not None:
            self._seen = self.generation()

    # -- opening -------------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            self._chunks = self.client.get_or_create_collection(
                self.name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={self.MANIFEST_KEY: json.dumps(self.manifest, sort_keys=True)},
            )
            self._files = self.client.get_or_create_collection(
                f"{self.name}-files",
                embedding_function=None,
                metadata={self.GENERATION_KEY: 0},
            )
            stored_raw = (self._chunks.metadata or {}).get(self.MANIFEST_KEY)
            unknown = not stored_raw and self._chunks.count() > 0
            if not stored_raw and not unknown:  # an empty collection without one gets ours
                stored_raw = json.dumps(self.manifest, sort_keys=True)
                self._chunks.modify(metadata={self.MANIFEST_KEY: stored_raw})
        except Exception as exc:  # whatever Chroma raises on unreadable files
            _release(self.client)
            raise StoreDamaged(
                f"cannot open collection {self.name!r} at {self.location}: {exc}") from exc
        rebuild = ("Rebuild it from the articles with `qa ingest --rebuild PATH...` "
                   "(re-embeds everything)")
        if unknown:
            raise ManifestMismatch(
                f"the index at {self.location} (collection {self.name!r}) has no manifest, "
                "so the embedding model and chunking it was built with are unknown. "
                f"{rebuild}.")
        try:
            stored = json.loads(str(stored_raw))
        except ValueError as exc:
            raise ManifestMismatch(f"the manifest of the index at {self.location} is not valid "
                                   f"JSON ({exc}). {rebuild}.") from exc
        diff = _manifest_diff(stored, self.manifest)
        if diff:
            raise ManifestMismatch(
                f"the index at {self.location} (collection {self.name!r}) was built with other "
                f"settings: {'; '.join(diff)}. {rebuild}, or point QA_INDEX_DIR / --index at "
                "another directory, or change the settings back."
            )

    def reset(self) -> None:
        """Drop every chunk and file record and start an empty index with this manifest."""
        self._drop()
        self._open()

    def _drop(self) -> None:
        for name in (self.name, f"{self.name}-files"):
            try:
                self.client.delete_collection(name)
            except Exception as exc:  # collection may not exist
                log.debug("delete_collection(%s): %s", name, exc)

    def _fresh(self, call: Any) -> Any:
        """Run ``call()``; if another client dropped and re-created the collections (a rebuild),
        re-open them once and retry."""
        try:
            return call()
        except Exception as exc:
            if "does not exist" not in str(exc):
                raise
            log.info("collection %s was re-created elsewhere; re-opening", self.name)
            self._open()
            return call()

    # -- reading -------------------------------------------------------------------------------
    def count(self) -> int:
        return int(self._fresh(lambda: self._chunks.count()))

    def generation(self) -> str:
        """A token that changes whenever chunks are written or removed (by any client)."""
        files = self._fresh(
            lambda: self.client.get_collection(f"{self.name}-files", embedding_function=None))
        return f"{files.id}:{(files.metadata or {}).get(self.GENERATION_KEY, 0)}"

    def file_records(self) -> dict[str, FileRecord]:
        """One record per completely stored file (a write in progress, or one a crash cut
        short, is not listed)."""
        return {k: r for k, r in self._all_records().items() if not r.pending}

    def _all_records(self) -> dict[str, FileRecord]:
        got = self._fresh(lambda: self._files.get(include=["metadatas"]))
        return {
            key: FileRecord.from_metadata(key, meta or {})
            for key, meta in zip(got["ids"], got["metadatas"] or [], strict=False)
        }

    def leftovers(self) -> dict[str, tuple[str, int]]:
        """Files whose chunks a crashed write left without a complete record: file key ->
        (source, number of chunks). Cheap when there are none: a pending record or chunk
        counts that do not add up are what prompts a look at every chunk's file."""
        records = self._all_records()
        complete = {k for k, r in records.items() if not r.pending}
        found: dict[str, tuple[str, int]] = {
            k: (r.source, 0) for k, r in records.items() if k not in complete}
        if not found and sum(records[k].chunks for k in complete) == self.count():
            return {}
        for hit in self.iter_chunks():
            key = str(hit.metadata.get("file_key", ""))
            if key not in complete:
                source, n = found.get(key, (str(hit.metadata.get("source", key)), 0))
                found[key] = (source, n + 1)
        return found

    @_writes
    def remove_leftovers(self) -> dict[str, tuple[str, int]]:
        """Remove what :meth:`leftovers` finds (chunks and pending records); returns it."""
        found = self.leftovers()
        if not found:
            return {}
        step = self._batch_size()
        for key in found:
            ids = self.chunk_ids_of(key)
            for i in range(0, len(ids), step):
                self._chunks.delete(ids=ids[i : i + step])
        self._files.delete(ids=list(found))
        self._bump()
        log.warning("removed the chunks of %d file(s) left by an interrupted write", len(found))
        return found

    def _sync(self) -> None:
        """Renew the client of an on-disk index when another process wrote to it: Chroma's
        in-process client keeps each collection's vector index in memory and would go on
        answering from the old one (chunk texts and metadata are read fresh anyway)."""
        if self.index_dir is None or time.monotonic() - self._synced < SYNC_INTERVAL:
            return  # looked less than a second ago: one look per second is enough
        self._synced = time.monotonic()
        now = self.generation()
        with self._sync_lock:
            if now == self._seen:
                return
            started = time.perf_counter()
            _detach(self.index_dir)
            self.client = open_client(self.index_dir)
            self._open()
            self._seen = now
        log.info("index %s was written by another process: reopened in %.2f s",
                 self.location, time.perf_counter() - started)

    def query(
        self, embedding: Sequence[float], n: int, where: Mapping[str, Any] | None = None
    ) -> list[Hit]:
        """The ``n`` chunks nearest ``embedding``, best first, scored by cosine similarity,
        as the index stands now (whoever wrote to it last)."""
        self._sync()
        total = self.count()
        if total == 0 or n <= 0:
            return []
        got = self._fresh(lambda: self._chunks.query(
            query_embeddings=[list(embedding)],
            n_results=min(n, total),
            where=dict(where) if where else None,
            include=["documents", "metadatas", "distances"],
        ))
        return [
            Hit(id=i, text=t or "", metadata=m or {}, score=1.0 - float(d))
            for i, t, m, d in zip(
                got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0],
                strict=False,
            )
        ]

    def get(self, ids: Sequence[str]) -> list[Hit]:
        """The chunks with these ids, in the order asked (missing ids are left out)."""
        if not ids:
            return []
        got = self._fresh(lambda: self._chunks.get(ids=list(ids),
                                                   include=["documents", "metadatas"]))
        by_id = {
            i: Hit(id=i, text=t or "", metadata=m or {})
            for i, t, m in zip(got["ids"], got["documents"], got["metadatas"], strict=False)
        }
        return [by_id[i] for i in ids if i in by_id]

    def iter_chunks(self, batch: int = 5000) -> Iterator[Hit]:
        """Every stored chunk (text and metadata, no vectors), page by page."""
        offset = 0
        while True:
            page = offset
            got = self._fresh(lambda: self._chunks.get(
                include=["documents", "metadatas"], limit=batch, offset=page  # noqa: B023
            ))
            ids = got["ids"]
            if not ids:
                return
            for i, t, m in zip(ids, got["documents"], got["metadatas"], strict=False):
                yield Hit(id=i, text=t or "", metadata=m or {})
            offset += len(ids)

    def chunk_ids_of(self, key: str) -> list[str]:
        return list(self._fresh(
            lambda: self._chunks.get(where={"file_key": key}, include=[]))["ids"])

    # -- writing -------------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Whatever Chroma or the disk raises while writing becomes one readable
        :class:`StoreError` (a full disk surfaces as SQLite or compaction errors)."""
        if self._write_failed and self.index_dir is not None:
            # Chroma's local client can hang on the next write after a failed one: a new client
            log.info("re-opening the index at %s after a failed write", self.location)
            with self._sync_lock:
                _detach(self.index_dir)
                self.client = open_client(self.index_dir)
                self._open()
        self._write_failed = ""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            where = self.location
            if self.index_dir is not None:
                try:
                    free = shutil.disk_usage(self.index_dir).free / 1e6
                    where = f"{where} ({free:,.0f} MB free on its disk)"
                except OSError:
                    pass
            self._write_failed = detail
            raise StoreError(f"could not write to the index at {where}: {detail}") from exc

    def _batch_size(self) -> int:
        try:
            return max(1, int(self.client.get_max_batch_size()))
        except Exception:
            return 1000

    def _mark_pending(self, records: Sequence[FileRecord]) -> None:
        """Write the records as pending first: a crash before the final records leaves a trace
        that :meth:`leftovers` finds, never chunks nobody knows of."""
        step = self._batch_size()
        for i in range(0, len(records), step):
            part = records[i : i + step]
            self._files.upsert(ids=[r.key for r in part], embeddings=[[1.0]] * len(part),
                               metadatas=[replace(r, pending=True).to_metadata() for r in part])

    @_writes
    def write_file(self, record: FileRecord, chunks: Sequence[ChunkRecord]) -> None:
        """Store a file's chunks, replacing any it had before. New chunks go in before stale ones
        are removed, so a failure part-way never leaves the file with fewer chunks than before;
        a crash part-way leaves a pending record, and the next ingest re-reads the file."""
        self.count()  # re-opens the collections if a rebuild elsewhere replaced them
        old_ids = set(self.chunk_ids_of(record.key))
        self._mark_pending([record])
        step = self._batch_size()
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            self._chunks.upsert(
                ids=[c.id for c in part],
                embeddings=[list(c.embedding) for c in part],
                documents=[c.text for c in part],
                metadatas=[{**c.metadata, "file_key": record.key} for c in part],
            )
        stale = sorted(old_ids - {c.id for c in chunks})
        for i in range(0, len(stale), step):
            self._chunks.delete(ids=stale[i : i + step])
        self._files.upsert(ids=[record.key], embeddings=[[1.0]], metadatas=[record.to_metadata()])
        self._bump()

    @_writes
    def write_new_files(self, items: Sequence[tuple[FileRecord, Sequence[ChunkRecord]]]) -> None:
        """Bulk insert of files the index does not hold yet: chunks in large batches, all file
        records in one call, one generation bump (for big first loads and benchmarks)."""
        self.count()
        step = self._batch_size()
        self._mark_pending([record for record, _ in items])
        chunks = [(record, c) for record, cs in items for c in cs]
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            self._chunks.upsert(
                ids=[c.id for _, c in part],
                embeddings=[list(c.embedding) for _, c in part],
                documents=[c.text for _, c in part],
                metadatas=[{**c.metadata, "file_key": r.key} for r, c in part],
            )
        records = [record for record, _ in items]
        for i in range(0, len(records), step):
            part_r = records[i : i + step]
            self._files.upsert(ids=[r.key for r in part_r], embeddings=[[1.0]] * len(part_r),
                               metadatas=[r.to_metadata() for r in part_r])
        self._bump()

    @_writes
    def remove_file(self, key: str) -> int:
        """Remove a file's chunks and its record; returns how many chunks went."""
        ids = self.chunk_ids_of(key)
        got = self._fresh(lambda: self._files.get(ids=[key], include=["metadatas"]))
        for meta in got["metadatas"] or []:  # a crash part-way leaves it pending, not
            self._mark_pending([FileRecord.from_metadata(key, meta or {})])  # chunk-less
        step = self._batch_size()
        for i in range(0, len(ids), step):
            self._chunks.delete(ids=ids[i : i + step])
        self._files.delete(ids=[key])
        self._bump()
        return len(ids)

    def _bump(self) -> None:
        files = self.client.get_collection(f"{self.name}-files", embedding_function=None)
        current = int((files.metadata or {}).get(self.GENERATION_KEY, 0))
        files.modify(metadata={self.GENERATION_KEY: current + 1})
        self._files = files
        with self._sync_lock:
            # our own write is in our vector index; one by another process before it is not
            if self._seen == f"{files.id}:{current}":
                self._seen = f"{files.id}:{current + 1}"
