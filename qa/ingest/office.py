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


# Extraction is bounded: a DOCX (a zip) may declare at most this many bytes of XML and of
# parts in all, and a PDF's text may grow to at most this many characters; beyond that the
# file is refused unread (a 1 MB zip can hold gigabytes of XML).
MAX_XML_BYTES = 50_000_000
MAX_PARTS_BYTES = 200_000_000
MAX_TEXT_CHARS = 20_000_000


def _check_docx_sizes(path: str, max_xml: int, max_parts: int) -> None:
    """Refuse a DOCX whose zip declares more than ``max_xml`` bytes of XML or ``max_parts`` in
    all (Python's zip reader never inflates a part past its declared size)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise NotReadable(f"cannot be read as DOCX: {exc}") from exc
    xml = sum(i.file_size for i in infos if i.filename.lower().endswith((".xml", ".rels")))
    parts = sum(i.file_size for i in infos)
    if xml > max_xml or parts > max_parts:
        raise NotReadable(
            f"expands to {max(xml, parts) / 1e6:,.0f} MB (XML {xml / 1e6:,.0f} MB), over the "
            f"{max_xml / 1e6:,.0f} MB of XML / {max_parts / 1e6:,.0f} MB in all a DOCX may hold")


@functools.lru_cache(maxsize=64)
def _extract(path: str, kind: str, mtime_ns: int, size: int, max_chars: int) -> str:
    if kind == "docx":
        _check_docx_sizes(path, min(MAX_XML_BYTES, 2 * max_chars),
                          min(MAX_PARTS_BYTES, 10 * max_chars))
    try:
        if kind == "pdf":
            from pypdf import PdfReader

            reader = PdfReader(path)
            pages: list[str] = []
            total = 0
            for page in reader.pages:
                text = (page.extract_text() or "").strip()
                total += len(text)
                if total > max_chars:
                    raise NotReadable(f"its text runs past {max_chars / 1e6:,.0f} million "
                                      "characters")
                pages.append(text)
            return "\n\n".join(p for p in pages if p)
        from docx import Document

        doc = Document(path)
        text = "\n\n".join(p.text.strip() for p in doc.paragraphs if p.text.strip())
    except NotReadable:
        raise
    except Exception as exc:
        raise NotReadable(f"cannot be read as {kind.upper()}: {exc}") from exc
    if len(text) > max_chars:
        raise NotReadable(f"its text runs past {max_chars / 1e6:,.0f} million characters")
    return text


def extract_text(path: Path, kind: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """The text of a PDF or DOCX file (``kind`` is ``"pdf"`` or ``"docx"``), at most
    ``max_chars`` long; bigger or bomb-like files raise :class:`NotReadable` with the reason."""
    stat = path.stat()
    return _extract(str(path), kind, stat.st_mtime_ns, stat.st_size, max_chars)
