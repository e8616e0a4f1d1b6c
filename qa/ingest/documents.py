"""Finding article files and reading them into text that maps back to the file.

Citations must quote the file verbatim at its offsets, as ``open(path).read()`` returns it. Plain
text and Markdown are used as read. HTML is turned into readable text by the standard library's
HTML tokenizer, keeping for every piece of text where it sits in the file (``spans``), so a
sentence of the extracted text maps back to the exact characters of the file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from qa.errors import IngestError
from qa.ingest import metadata
from qa.ingest.clutter import Cleaned, clean, compose, from_lines
from qa.ingest.clutter import Line as ClutterLine
from qa.ingest.metadata import Metadata
from qa.ingest.office import EXTRACTED, NotReadable, extract_text
from qa.ingest.urls import fetched_url

log = logging.getLogger(__name__)

TEXT_EXTENSIONS = frozenset({".txt", ".text"})
MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown"})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
OFFICE_EXTENSIONS = frozenset(EXTRACTED)
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS | MARKDOWN_EXTENSIONS | HTML_EXTENSIONS | OFFICE_EXTENSIONS

Span = tuple[int, int, int]  # (offset in extracted text, offset in file text, length)


class SkipFile(Exception):
    """Raised by ``load_document`` with the reason a file cannot be ingested."""


@dataclass(frozen=True)
class SourceFile:
    """A file found under one of the paths given to ingestion."""

    path: Path  # absolute
    root: Path  # the folder it was found in (for a file given directly: its parent)
    source: str  # path relative to root, with forward slashes


@dataclass(frozen=True)
class Document:
    """A file's article text as the pipeline sees it: clutter removed, every character mapped
    back to the file text through ``spans`` (None: ``text`` is the file text itself)."""

    file: SourceFile
    text: str
    title: str
    sha256: str
    spans: tuple[Span, ...] | None = None
    meta: Metadata = field(default_factory=Metadata)
    kept_chars: int = 0
    dropped_chars: int = 0
    encoding: str = "utf-8"
    replaced: int = 0  # undecodable bytes replaced by U+FFFD

    def file_range(self, start: int, end: int) -> tuple[int, int]:
        return file_range(self.spans, start, end)


@dataclass(frozen=True)
class Skipped:
    path: Path
    source: str
    reason: str


def discover(paths: Iterable[str | Path]) -> tuple[list[SourceFile], list[Skipped], list[Path]]:
    """Files to ingest under ``paths`` (folders recursively), files skipped with a reason, and
    the folders walked (whose vanished files ingestion then removes)."""
    found: dict[Path, SourceFile] = {}
    skipped: list[Skipped] = []
    folders: list[Path] = []
    for raw in paths:
        given = Path(raw).expanduser()
        if not given.exists():
            raise IngestError(f"no such file or folder: {given}")
        if given.is_dir():
            root = given.resolve()
            folders.append(root)
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if path.is_dir():
                    continue
                _consider(path, root, rel.as_posix(), found, skipped)
        else:
            root = given.resolve().parent if not given.is_symlink() else given.absolute().parent
            _consider(given.absolute(), root, given.name, found, skipped)
    return list(found.values()), skipped, folders


def _consider(
    path: Path, root: Path, source: str, found: dict[Path, SourceFile], skipped: list[Skipped]
) -> None:
    try:
        resolved = path.resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 raises RuntimeError on a symlink loop
        reason = "symlink loop" if isinstance(exc, RuntimeError) else f"cannot be resolved: {exc}"
        skipped.append(Skipped(path, source, reason))
        return
    if path.is_symlink() and not resolved.is_relative_to(root):
        skipped.append(Skipped(path, source, "symlink leads outside the folder"))
        return
    if resolved.suffix.lower() not in SUPPORTED_EXTENSIONS:
        suffix = resolved.suffix or "(none)"
        skipped.append(Skipped(path, source, f"unsupported file type {suffix}"))
        return
    if not resolved.is_file():
        skipped.append(Skipped(path, source, "not a regular file"))
        return
    found.setdefault(resolved, SourceFile(path=resolved, root=root, source=source))


def read_file_text(path: Path, encoding: str = "utf-8") -> str:
    """The text citations index into: ``open(path, encoding=encoding).read()`` (undecodable
    bytes replaced, as at ingestion), or for ``encoding`` ``"pdf"``/``"docx"`` the extracted
    text."""
    if encoding in EXTRACTED.values():
        try:
            # the file was accepted at ingestion: only the bomb guards apply here
            return extract_text(path, encoding, max_chars=2**40)
        except NotReadable as exc:
            raise OSError(str(exc)) from exc
    with open(path, encoding=encoding, errors="replace") as fh:
        return fh.read()


def decode(data: bytes) -> tuple[str, str, int]:
    """``(text, encoding, replaced)``: UTF-8 if it decodes, else the encoding charset-normalizer
    detects; bytes that still don't decode become U+FFFD and are counted. Newlines are read as
    ``open()`` reads them, so offsets match ``open(path, encoding=...).read()``."""
    def read(encoding: str) -> str:
        return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="strict").read()

    try:
        return read("utf-8"), "utf-8", 0
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    encoding = best.encoding if best is not None else "utf-8"
    try:
        return read(encoding), encoding, 0
    except (UnicodeDecodeError, LookupError):
        text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace").read()
        return text, "utf-8", text.count("\ufffd")


@dataclass(frozen=True)
class _Decoded:
    sha256: str
    encoding: str
    replaced: int

    def fields(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "encoding": self.encoding, "replaced": self.replaced}


def load_document(file: SourceFile, max_bytes: int, *, clean_clutter: bool = True) -> Document:
    """Read, decode and clean ``file``; raise :class:`SkipFile` with a reason when it can't be
    used. A page fetched by URL (``qa ingest URL``) records the URL it came from."""
    doc = _load(file, max_bytes, clean_clutter)
    url = fetched_url(file.path)
    return replace(doc, meta=replace(doc.meta, url=url)) if url else doc


def _load(file: SourceFile, max_bytes: int, clean_clutter: bool) -> Document:
    try:
        size = file.path.stat().st_size
        if size > max_bytes:
            raise SkipFile(f"larger than the {max_bytes / 1e6:.0f} MB cap ({size / 1e6:.1f} MB)")
        data = file.path.read_bytes()
    except OSError as exc:
        raise SkipFile(f"cannot be read: {exc.strerror or exc}") from exc
    kind = EXTRACTED.get(file.path.suffix.lower())
    if kind:
        return _office_document(file, data, kind, max_bytes)
    if b"\x00" in data[:8192]:
        raise SkipFile("binary content (NUL bytes), not text")
    text, encoding, replaced = decode(data)
    if not text.strip():
        raise SkipFile("empty")
    if replaced and replaced > max(20, len(text) // 20):
        raise SkipFile(f"not text: {replaced} undecodable bytes")
    decoded = _Decoded(hashlib.sha256(data).hexdigest(), encoding, replaced)
    if file.path.suffix.lower() in HTML_EXTENSIONS:
        return _html_document(file, text, clean_clutter, decoded)
    cleaned = clean(text) if clean_clutter else None
    clutter = [ln.text for ln in cleaned.lines if not ln.body] if cleaned else []
    meta = metadata.from_text(text, clutter)
    if file.path.suffix.lower() in MARKDOWN_EXTENSIONS:
        heading = re.search(r"^#{1,2}\s+(.+?)\s*#*\s*$", text, re.M)
        title = heading.group(1) if heading else guess_title(text)
    else:
        title = _headline(cleaned) or guess_title(text)
    title = title or file.path.stem
    if cleaned is None or not cleaned.text.strip():
        if cleaned is not None:
            log.info("%s: every line looks like clutter; indexing it whole", file.source)
        return Document(file, text, title, meta=meta, kept_chars=len(text.strip()),
                        **decoded.fields())
    return Document(file, cleaned.text, title, spans=cleaned.spans, meta=meta,
                    kept_chars=cleaned.kept_chars, dropped_chars=cleaned.dropped_chars,
                    **decoded.fields())


def _office_document(file: SourceFile, data: bytes, kind: str, max_chars: int) -> Document:
    """PDF/DOCX: extracted text (at most ``max_chars``, the file cap), no clutter removal
    (documents, not saved web pages)."""
    try:
        text = extract_text(file.path, kind, max_chars)
    except NotReadable as exc:
        raise SkipFile(str(exc)) from exc
    if not text.strip():
        raise SkipFile(f"no text in the {kind.upper()} (scanned images need OCR)")
    title = guess_title(text) or file.path.stem
    return Document(file, text, title, hashlib.sha256(data).hexdigest(),
                    meta=metadata.from_text(text, []), kept_chars=len(text), encoding=kind)


def _headline(cleaned: Cleaned | None) -> str:
    if cleaned is None:
        return ""
    return next((ln.text for ln in cleaned.lines if ln.body and ln.reason == "headline"), "")


def _html_document(file: SourceFile, source: str, clean_clutter: bool,
                   decoded: _Decoded) -> Document:
    """Visible text with offsets (stdlib tokenizer); the article body chosen by trafilatura."""
    extracted, spans, html_title = html_to_text(source)
    if not extracted.strip():
        raise SkipFile("no visible text in the HTML")
    meta, meta_title = metadata.from_html(source, extracted)
    title = meta_title or html_title or guess_title(extracted) or file.path.stem
    total = len(extracted.strip())
    if not clean_clutter:
        return Document(file, extracted, title, spans=tuple(spans), meta=meta,
                        kept_chars=total, **decoded.fields())
    body = _trafilatura_body(source, extracted)
    if body is None:  # trafilatura found no article: classify the lines instead
        body = clean(extracted)
    if not body.text.strip():
        return Document(file, extracted, title, spans=tuple(spans), meta=meta,
                        kept_chars=total, **decoded.fields())
    return Document(file, body.text, title, spans=tuple(compose(body.spans, spans)), meta=meta,
                    kept_chars=body.kept_chars, dropped_chars=body.dropped_chars,
                    **decoded.fields())


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _trafilatura_body(source: str, extracted: str) -> Cleaned | None:
    """Lines of ``extracted`` that trafilatura's main-content extraction keeps."""
    import trafilatura

    main = trafilatura.extract(source, include_comments=False, include_tables=True)
    if not main:
        return None
    keep = f" {_norm(main)} "
    lines = []
    for m in re.finditer(r"[^\n]+", extracted):
        line = m.group().strip()
        if not line:
            continue
        start = m.start() + (len(m.group()) - len(m.group().lstrip()))
        norm = _norm(line)
        lines.append(ClutterLine(start, start + len(line), line,
                                 bool(norm) and f" {norm} " in keep, "trafilatura"))
    return from_lines(extracted, lines)


_LINK_LINE = re.compile(r"^\s*(\[[^\]]*\]\([^)]*\)\s*)+$")


def guess_title(text: str, max_lines: int = 40) -> str:
    """A headline among the first lines: 3 to 20 words, no closing full stop, not a link;
    it must come before the first long body sentence."""
    seen = 0
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        seen += 1
        if seen > max_lines:
            break
        words = line.split()
        if len(words) > 20 and line.endswith((".", '."', ".”")):
            break  # body text started before any headline
        if line.startswith(("-", "*", "©")) or _LINK_LINE.match(line):
            continue
        if 3 <= len(words) <= 20 and not line.endswith((".", ":", ",")):
            # a headline repeated three times in a row is still the headline
            return line
    return ""


def file_range(spans: Sequence[Span] | None, start: int, end: int) -> tuple[int, int]:
    """Map ``[start, end)`` of the extracted text to the file text. Identity for plain files."""
    if spans is None or end <= start:
        return start, end
    first = last = None
    for t_off, f_off, length in spans:
        if first is None and start < t_off + length:
            first = f_off + max(0, start - t_off)
        if t_off < end:
            last = f_off + min(length, end - t_off)
        else:
            break
    if first is None or last is None:
        raise ValueError(f"range {start}:{end} lies outside the mapped text")
    return first, max(first, last)


def text_range(spans: Sequence[Span], start: int, end: int) -> tuple[int, int] | None:
    """The inverse of :func:`file_range`: where file offsets ``[start, end)`` sit in the
    extracted text (None when they fall outside every span)."""
    first = last = None
    for t_off, f_off, length in spans:
        if first is None and start < f_off + length:
            first = t_off + max(0, start - f_off)
        if f_off < end:
            last = t_off + min(length, end - f_off)
    if first is None or last is None:
        return None
    return first, max(first, last)


_BLOCK_TAGS = frozenset(
    """
    address article aside blockquote br dd div dl dt figcaption figure footer form h1 h2 h3
    h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul
    """.split()
)
_HIDDEN_TAGS = frozenset("script style noscript template svg head iframe object".split())
_TOKEN = re.compile(r"\S+|\s+")


class _TextExtractor(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source = source
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[list[int]] = []
        self.hidden = 0
        self.in_title = False
        self.title_parts: list[str] = []

    # offsets ---------------------------------------------------------------------------------
    def _offset(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def _emit(self, text: str, file_offset: int | None) -> None:
        if not text:
            return
        if file_offset is not None:
            last = self.spans[-1] if self.spans else None
            if last and last[0] + last[2] == self.length and last[1] + last[2] == file_offset:
                last[2] += len(text)
            else:
                self.spans.append([self.length, file_offset, len(text)])
        self.parts.append(text)
        self.length += len(text)

    def _ends_with(self, suffix: str) -> bool:
        tail = "".join(self.parts[-3:])
        return tail.endswith(suffix) or self.length == 0

    def _break(self) -> None:
        while self.parts and self.parts[-1] == " ":
            self.parts.pop()
            self.length -= 1
            if self.spans and self.spans[-1][0] + self.spans[-1][2] > self.length:
                self.spans[-1][2] -= 1
                if self.spans[-1][2] == 0:
                    self.spans.pop()
        if not self._ends_with("\n\n"):
            self._emit("\n\n" if not self._ends_with("\n") else "\n", None)

    # events ----------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag in _BLOCK_TAGS and not self.hidden:
            self._break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS and not self.hidden:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK_TAGS and not self.hidden:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title_parts.append(data)
        if self.hidden:
            return
        base = self._offset()
        for m in _TOKEN.finditer(data):
            piece = m.group()
            if piece.isspace():
                if not self._ends_with(" ") and not self._ends_with("\n"):
                    self._emit(" ", base + m.start() if piece == " " else None)
            else:
                self._emit(piece, base + m.start())

    def _char(self, text: str) -> None:
        if self.in_title:
            self.title_parts.append(text)
        if not self.hidden:
            self._emit(text, None)

    def handle_entityref(self, name: str) -> None:
        import html

        self._char(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        import html

        self._char(html.unescape(f"&#{name};"))


def html_to_text(source: str) -> tuple[str, list[Span], str]:
    """Visible text of an HTML page, the spans mapping it to ``source``, and the <title>."""
    parser = _TextExtractor(source)
    parser.feed(source)
    parser.close()
    text = "".join(parser.parts)
    spans = [(t, f, n) for t, f, n in parser.spans if n > 0]
    title = " ".join("".join(parser.title_parts).split())
    return text, spans, title
