"""The small frozen records passed between stages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

FileStatus = Literal["added", "updated", "unchanged", "removed", "skipped", "failed"]


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk. ``start``/``end`` locate ``text`` in the file as ``open(path).read()``
    returns it (for HTML, the extracted text maps back to the file through ``spans``)."""

    id: str
    source: str  # path relative to the folder it was ingested from
    path: str  # absolute path
    title: str
    text: str
    start: int
    end: int
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    spans: tuple[tuple[int, int, int], ...] = ()  # (text offset, file offset, length)
    sha256: str = ""  # of the file when it was indexed
    outlet: str = ""
    published: str = ""  # ISO date or ""
    url: str = ""
    encoding: str = "utf-8"
    injection: bool = False  # the article contains text addressed to AI assistants
    dense_score: float | None = None  # cosine similarity to the query, when found by dense search

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "title": self.title, "score": round(self.score, 4),
                "text": self.text, "start": self.start, "end": self.end,
                "outlet": self.outlet or None, "published": self.published or None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Passage:
        """What :meth:`to_json` wrote (the id and path are not in it: empty here)."""
        return cls(id="", source=data["source"], path="", title=data["title"],
                   text=data["text"], start=data["start"], end=data["end"],
                   score=data["score"], outlet=data.get("outlet") or "",
                   published=data.get("published") or "")


@dataclass(frozen=True)
class Citation:
    """``open(path).read()[start:end] == quote``; ``n`` is the marker ``[n]`` in the answer."""

    n: int
    source: str
    path: str
    title: str
    quote: str
    start: int
    end: int
    outlet: str = ""
    published: str = ""
    url: str = ""
    also_in: tuple[str, ...] = ()  # other files that carry the same passage (wire copies)
    encoding: str = "utf-8"  # open(path, encoding=encoding).read()[start:end] == quote
    warning: str = ""  # e.g. the source contains instructions aimed at AI assistants
    # extractive: where in the file (inside start..end) the value that answers the question sits
    answer_span: tuple[int, int] | None = None

    def span_in_quote(self) -> tuple[int, int] | None:
        """``answer_span`` as offsets into ``quote``."""
        if self.answer_span is None:
            return None
        a, b = self.answer_span[0] - self.start, self.answer_span[1] - self.start
        return (a, b) if 0 <= a < b <= len(self.quote) else None

    def passage_in(self, passages: Sequence[Passage]) -> Passage | None:
        """The passage among ``passages`` that holds the quote, if any."""
        return next((p for p in passages if p.source == self.source and p.path == self.path
                     and p.start <= self.start and self.end <= p.end), None)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "source": self.source, "title": self.title, "quote": self.quote,
                "start": self.start, "end": self.end, "outlet": self.outlet or None,
                "published": self.published or None, "url": self.url or None,
                "also_in": list(self.also_in), "warning": self.warning or None,
                "answer_span": list(self.answer_span) if self.answer_span else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Citation:
        """What :meth:`to_json` wrote (the server's file path is not in it: empty here)."""
        span = data.get("answer_span")
        return cls(n=data["n"], source=data["source"], path="", title=data["title"],
                   quote=data["quote"], start=data["start"], end=data["end"],
                   outlet=data.get("outlet") or "", published=data.get("published") or "",
                   url=data.get("url") or "", also_in=tuple(data.get("also_in") or ()),
                   warning=data.get("warning") or "",
                   answer_span=(span[0], span[1]) if span else None)


Label = Literal["supported", "partial", "unsupported"]


@dataclass(frozen=True)
class Claim:
    """One sentence of an answer (``Answer.text[start:end]``) and how well the quotes it cites
    support it."""

    text: str
    start: int
    end: int
    citations: tuple[int, ...]
    label: Label
    score: float
    reasons: tuple[str, ...] = ()
    shown: bool = True  # False: left out of the answer text (unsupported; offsets -1)
    citation_added: bool = False  # the model cited no backing source; a retrieved one was found

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "citations": list(self.citations), "label": self.label,
                "score": round(self.score, 3), "reasons": list(self.reasons),
                "shown": self.shown, "citation_added": self.citation_added}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Claim:
        """What :meth:`to_json` wrote (offsets in the answer text are not in it: found again
        there, -1 for a claim left out)."""
        return cls(text=data["text"], start=-1, end=-1, citations=tuple(data["citations"]),
                   label=data["label"], score=data["score"], reasons=tuple(data["reasons"]),
                   shown=data["shown"], citation_added=data["citation_added"])


@dataclass(frozen=True)
class Answer:
    """The answer, the same in the API, the CLI and ``--json``."""

    question: str
    text: str
    answered: bool
    mode: Literal["extractive", "llm"]
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    model: str | None = None
    notes: tuple[str, ...] = ()
    support: float | None = None  # extractive: score of the best candidate sentence
    claims: tuple[Claim, ...] = ()
    standalone_question: str | None = None  # a follow-up rewritten with the conversation
    incomplete: bool = False  # the LLM's answer was cut short (token limit)
    tokens: Mapping[str, int] = field(default_factory=dict)  # LLM prompt/completion tokens

    @property
    def sources(self) -> tuple[str, ...]:
        """Cited files, in citation order, each once."""
        return tuple(dict.fromkeys(c.source for c in self.citations))

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "answered": self.answered,
            "mode": self.mode,
            "model": self.model,
            "citations": [c.to_json() for c in self.citations],
            "passages": [p.to_json() for p in self.passages],
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "notes": list(self.notes),
            "support": None if self.support is None else round(self.support, 4),
            "claims": [c.to_json() for c in self.claims],
            "standalone_question": self.standalone_question,
            "incomplete": self.incomplete,
            "tokens": dict(self.tokens),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Answer:
        """The answer :meth:`to_json` wrote, e.g. by a running ``qa serve`` (files' absolute
        paths and passage ids stay on the server)."""
        text = data["answer"]
        claims = []
        for item in data.get("claims") or ():
            claim = Claim.from_json(item)
            at = text.find(claim.text) if claim.shown else -1
            claims.append(replace(claim, start=at, end=at + len(claim.text) if at >= 0 else -1))
        support = data.get("support")
        return cls(question=data["question"], text=text, answered=data["answered"],
                   mode=data["mode"], model=data.get("model"),
                   citations=tuple(Citation.from_json(c) for c in data.get("citations") or ()),
                   passages=tuple(Passage.from_json(p) for p in data.get("passages") or ()),
                   timings=dict(data.get("timings") or {}), notes=tuple(data.get("notes") or ()),
                   support=None if support is None else float(support), claims=tuple(claims),
                   standalone_question=data.get("standalone_question"),
                   incomplete=bool(data.get("incomplete")), tokens=dict(data.get("tokens") or {}))


@dataclass(frozen=True)
class FileReport:
    """What ingestion did with one file."""

    source: str
    path: str
    status: FileStatus
    chunks: int = 0
    reason: str = ""
    kept_chars: int = 0  # article text indexed
    dropped_chars: int = 0  # page clutter left out
    problem: bool = False  # skipped because the file is broken (not merely unsupported)


@dataclass(frozen=True)
class IngestReport:
    """Per-file outcome of one ingestion run."""

    files: tuple[FileReport, ...]
    embedded_chunks: int
    total_chunks: int
    seconds: float

    def count(self, status: FileStatus) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def ok(self) -> bool:
        """No file failed and none was skipped for being broken (empty, binary, unreadable,
        undecodable, over the size cap); unsupported types are not failures."""
        return not any(f.status == "failed" or f.problem for f in self.files)

    def summary(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in
                 ("added", "updated", "unchanged", "removed", "skipped", "failed") if self.count(s)]
        return (f"{', '.join(parts) or 'no files'}; {self.embedded_chunks} chunks embedded, "
                f"{self.total_chunks} in the index ({self.seconds:.1f} s)")

    def to_json(self) -> dict[str, Any]:
        return {"files": [asdict(f) for f in self.files], "embedded_chunks": self.embedded_chunks,
                "total_chunks": self.total_chunks, "seconds": round(self.seconds, 2)}
