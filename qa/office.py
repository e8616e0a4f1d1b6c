"""Text out of PDF (pypdf) and DOCX (python-docx) files.

Such files have no text to quote verbatim, so their citations point into the text these
functions extract (``Citation.encoding`` is ``"pdf"`` or ``"docx"``): ``read_file_text(path,
encoding)[start:end] == quote``. Extraction is deterministic for a given file.
"""

from __future__ import annotations

import functools
from pathlib import Path

EXTRACTED = {".pdf": "pdf", ".docx": "docx"}


class NotReadable(Exception):
    """The file could not be parsed as its extension claims."""


@functools.lru_cache(maxsize=64)
def _extract(path: str, kind: str, mtime_ns: int, size: int) -> str:
    try:
        if kind == "pdf":
            from pypdf import PdfReader

            reader = PdfReader(path)
            pages = [(page.extract_text() or "").strip() for page in reader.pages]
            return "\n\n".join(p for p in pages if p)
        from docx import Document

        doc = Document(path)
        return "\n\n".join(p.text.strip() for p in doc.paragraphs if p.text.strip())
    except Exception as exc:
        raise NotReadable(f"cannot be read as {kind.upper()}: {exc}") from exc


def extract_text(path: Path, kind: str) -> str:
    """The text of a PDF or DOCX file (``kind`` is ``"pdf"`` or ``"docx"``)."""
    stat = path.stat()
    return _extract(str(path), kind, stat.st_mtime_ns, stat.st_size)
