"""Citations checked against the files as they are now."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path

from qa.ingest.documents import read_file_text
from qa.types import Citation, Passage

log = logging.getLogger(__name__)


class FileCache:
    """Reads (and hashes) each cited file once per answer."""

    def __init__(self) -> None:
        self._texts: dict[tuple[str, str], str | None] = {}
        self._hashes: dict[str, str | None] = {}

    def text(self, path: str, encoding: str = "utf-8") -> str | None:
        key = (path, encoding)
        if key not in self._texts:
            try:
                self._texts[key] = read_file_text(Path(path), encoding)
            except (OSError, LookupError):
                self._texts[key] = None
        return self._texts[key]

    def sha256(self, path: str) -> str | None:
        if path not in self._hashes:
            try:
                self._hashes[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                self._hashes[path] = None
        return self._hashes[path]


def verify(citation: Citation, passage: Passage, files: FileCache) -> Citation | None:
    """The citation, checked against the file as it is now, so that
    ``open(path, encoding=citation.encoding).read()[start:end] == quote``. If the file changed
    since indexing, a quote still in it is found again; one no longer there drops the citation
    (logged). For HTML the quote is the markup-bearing slice of the file."""
    text = files.text(citation.path, citation.encoding)
    if text is None:
        log.warning("citation dropped: %s cannot be read", citation.path)
        return None
    unchanged = not passage.sha256 or files.sha256(citation.path) == passage.sha256
    if unchanged:
        quote = text[citation.start : citation.end]
        if quote == citation.quote or (passage.spans and quote):
            return replace(citation, quote=quote)
    where = text.find(citation.quote)
    if where >= 0:
        log.info("citation relocated in %s (file changed since indexing)", citation.source)
        return replace(citation, start=where, end=where + len(citation.quote))
    log.warning("citation dropped: quote no longer in %s; re-ingest it", citation.source)
    return None
