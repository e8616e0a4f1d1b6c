"""The document library behind the UI: safe uploads and removals."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from qa.errors import IngestError
from qa.ingest.documents import (
    SUPPORTED_EXTENSIONS,
    Document,
    SkipFile,
    SourceFile,
    load_document,
)
from qa.ingest.urls import sidecar_of
from qa.types import FileReport
from vectorstore import ChromaStore, FileRecord

log = logging.getLogger(__name__)

UPLOAD_EXTENSIONS = frozenset({".txt", ".md", ".markdown", ".html", ".htm"}) & SUPPORTED_EXTENSIONS


def safe_name(name: str) -> str:
    """A plain file name: no folders (``/`` or ``\\``), no leading dots, only letters, digits,
    ``._-``, at most 80 characters before the extension."""
    base = Path(name.replace("\\", "/").replace("\x00", "")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:80] or "upload"
    return f"{stem}{suffix}"


def shown(name: str) -> str:
    """A file name as it may be printed in a message: printable, at most 60 characters."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in name)
    return repr(clean if len(clean) <= 60 else clean[:57] + "...")


def save_uploads(uploads: Iterable[tuple[str, bytes]], folder: Path, max_bytes: int) -> list[Path]:
    """Write each upload into ``folder`` under a safe, unique name; refuse bad ones by name."""
    items = list(uploads)
    problems = []
    for name, data in items:
        suffix = Path(safe_name(name)).suffix.lower()
        if suffix not in UPLOAD_EXTENSIONS:
            problems.append(f"{shown(name)}: only {', '.join(sorted(UPLOAD_EXTENSIONS))} "
                            "files can be uploaded")
        elif len(data) > max_bytes:
            problems.append(f"{shown(name)}: {len(data) / 1e6:.1f} MB is over the "
                            f"{max_bytes / 1e6:.0f} MB upload cap")
        elif not data.strip():
            problems.append(f"{shown(name)}: the file is empty")
    if problems:
        raise IngestError("upload refused: " + "; ".join(problems))
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    saved = []
    for name, data in items:
        target = (root / safe_name(name)).resolve()
        if target.parent != root:  # defence in depth: never outside the upload folder
            raise IngestError(f"upload refused: {shown(name)}: bad file name")
        if target.exists() and target.read_bytes() != data:
            digest = hashlib.sha256(data).hexdigest()[:8]
            target = target.with_name(f"{target.stem}-{digest}{target.suffix}")
        target.write_bytes(data)
        saved.append(target)
        log.info("saved upload %s (%d bytes)", target.name, len(data))
    return saved


def remove_file(store: ChromaStore, records: Sequence[FileRecord], source: str,
                upload_dir: Path) -> FileReport:
    matches = [r for r in records if source in (r.source, r.key)]
    if not matches:
        raise IngestError(f"no such file in the index: {source}")
    if len(matches) > 1:
        raise IngestError(f"{source} names several files; give the full path")
    record = matches[0]
    removed = store.remove_file(record.key)
    path = Path(record.key)
    if path.is_file() and path.resolve().parent in (upload_dir.resolve(),
                                                    (upload_dir / "web").resolve()):
        path.unlink()  # an upload, or a page fetched by URL (and the note of its URL)
        sidecar_of(path).unlink(missing_ok=True)
    return FileReport(record.source, record.key, "removed", removed)


def indexed_document(records: Sequence[FileRecord], source: str, max_bytes: int,
                     clean_clutter: bool = True) -> Document:
    """The article text of an indexed file (by source name or path) as it is indexed, with its
    metadata. Only what is indexed is shown, never any other file on disk."""
    wanted = str(Path(source).expanduser().resolve()) if source else ""
    matches = [r for r in records if source in (r.source, r.key) or r.key == wanted]
    if not matches:
        raise IngestError(f"not in the index: {source} (`qa files` lists what is)")
    record = matches[0]
    file = SourceFile(Path(record.key), Path(record.root), record.source)
    try:
        return load_document(file, max_bytes, clean_clutter=clean_clutter)
    except SkipFile as exc:
        raise IngestError(f"{source}: {exc}") from exc
