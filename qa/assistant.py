"""The assistant: one object behind the Python API, the CLI and the UI."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from qa.attribution import attribute, carry_flags, flag_added, keep_cited, leave_out
from qa.chunking import Chunker
from qa.citations import MARKER, citations_for
from qa.claims import check_claims, mark_unsupported
from qa.conversation import referenced_citation, stable_numbers
from qa.documents import Document
from qa.duplicates import copies
from qa.errors import (
    ConfigError,
    ContextTooLong,
    IndexBuilding,
    IndexLocked,
    IndexUnavailable,
    IngestError,
    LLMError,
    QAError,
)
from qa.evidence import Sentence, split_sentences
from qa.extractive import NOT_IN_ARTICLES, Candidate, ExtractiveAnswerer, clean_for_display
from qa.ingest import Ingestor
from qa.llm import ChatModel
from qa.llm_answer import LLMAnswerer, LLMReply
from qa.question import QuestionAnalysis, analyse
from qa.retrieval import Filters, HybridRetriever, Retrieval, make_filters
from qa.safety import INJECTION_WARNING, strip_foreign_links
from qa.settings import Settings, load_settings
from qa.text import sentence_spans
from qa.types import Answer, Citation, Claim, FileReport, IngestReport, Passage
from qa.verify import FileCache, verify
from vectorstore import (
    ChromaStore,
    Embedder,
    FileRecord,
    StoreDamaged,
    StoreError,
    StoreLocked,
    make_embedder,
    open_store,
    write_lock,
)

log = logging.getLogger(__name__)

Mode = Literal["extractive", "llm"]
Turn = tuple[str, str]
History = Sequence[Turn | Answer] | None


def _turns(history: History) -> list[Turn]:
    out: list[Turn] = []
    for item in history or ():
        if isinstance(item, Answer):
            out.append((item.question, item.text))
        else:
            out.append((str(item[0]), str(item[1])))
    return out


def _span_in_file(cand: Candidate, citation: Citation) -> tuple[int, int] | None:
    """The candidate's answer span as file offsets, following the citation if verification
    found its quote at another place in the file."""
    if cand.span is None:
        return None
    s = cand.sentence
    a, b = Sentence(s.passage, s.start + cand.span[0], s.start + cand.span[1]).file_range()
    shift = citation.start - s.file_range()[0]
    a, b = a + shift, b + shift
    return (a, b) if citation.start <= a < b <= citation.end else None


class Assistant:
    """Ask a folder of articles; every claim cites a file and a verbatim quote.

    ``Assistant()`` opens the index named by the settings (``QA_*`` environment variables);
    any part can be passed in instead (embedder, store, chat model).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        store: ChromaStore | None = None,
        chat: ChatModel | None = None,
        rebuild: bool = False,
    ) -> None:
        """``rebuild``: start the index afresh (empty), whatever state it is in: another
        embedding model, no manifest, damaged files (a damaged directory is moved aside)."""
        self.settings = settings or load_settings()
        s = self.settings
        self.embedder = embedder or make_embedder(
            s.embed_model, batch_size=s.embed_batch_size, base_url=s.embed_base_url,
            api_key=s.llm_key,
        )
        self.chunker = Chunker(s.chunk_size, s.chunk_overlap)
        self.store = store or self._open_store(rebuild)
        self.retriever = HybridRetriever(
            self.store, self.embedder, candidates=s.candidates, rrf_k=s.rrf_k,
            dedup_threshold=s.dedup_threshold,
        )
        self.extractive = ExtractiveAnswerer(
            self.embedder, min_support=s.min_support, max_sentences=s.max_sentences)
        self._chat = chat
        self._ingest_lock = threading.RLock()
        # (files done, files in all) while the corpus is first indexed into an empty index
        self._building: tuple[int, int] | None = None

    # -- set-up --------------------------------------------------------------------------------
    def manifest(self) -> dict[str, str | int]:
        return {"schema": 1, "embed_model": self.embedder.name,
                "dimension": self.embedder.dimension, **self.settings.chunk_manifest()}

    @property
    def _local_dir(self) -> Path | None:
        """The on-disk index directory (None when the index is on a Chroma server)."""
        return None if self.settings.chroma_url else self.settings.index_dir

    def _open_store(self, rebuild: bool = False) -> ChromaStore:
        s = self.settings
        location = s.chroma_url or str(s.index_dir)
        try:
            return open_store(s.collection, self.manifest(), index_dir=self._local_dir,
                              chroma_url=s.chroma_url, rebuild=rebuild,
                              lock_timeout=s.lock_timeout)
        except StoreLocked as exc:
            raise IndexLocked(str(exc)) from exc
        except StoreDamaged as exc:
            raise IndexUnavailable(
                f"{exc}. The index looks damaged: rebuild it from the articles with "
                "`qa ingest --rebuild PATH...` (a damaged directory is moved aside, not "
                "deleted)") from exc
        except StoreError as exc:
            raise IndexUnavailable(str(exc)) from exc
        except OSError as exc:
            raise IndexUnavailable(f"cannot create the index directory {location}: {exc}") from exc

    @property
    def chat(self) -> ChatModel:
        if self._chat is None:
            s = self.settings
            if not s.llm_configured:
                raise ConfigError("no LLM endpoint: set QA_LLM_BASE_URL or OPENAI_API_KEY")
            self._chat = ChatModel(
                s.llm_model, base_url=s.base_url, api_key=s.llm_key, timeout=s.llm_timeout,
                max_retries=s.llm_max_retries, temperature=s.llm_temperature,
                max_tokens=s.llm_max_tokens, answer_limit=s.llm_answer_limit,
            )
        return self._chat

    @property
    def mode(self) -> Mode:
        """The answer mode used when ``ask`` is not told one."""
        if self._chat is not None and self.settings.mode == "auto":
            return "llm"
        return self.settings.answer_mode

    # -- ingestion -----------------------------------------------------------------------------
    def ingest(self, paths: Iterable[str | Path] | None = None, *, rebuild: bool = False,
               progress: bool = False,
               on_progress: Callable[[int, int, str], None] | None = None) -> IngestReport:
        """Bring the index up to date with ``paths`` (files or folders, recursively; default:
        the corpus folder). Unchanged files are not re-embedded; changed ones are replaced;
        files gone from an ingested folder are removed. ``rebuild`` empties the index first.
        ``progress`` shows a terminal bar; ``on_progress(done, total, source)`` reports to a UI."""
        targets = list(paths) if paths is not None else [self.settings.corpus_dir]
        with self._ingest_lock:
            try:
                with write_lock(self._local_dir, self.settings.lock_timeout):
                    report = self._ingest(targets, rebuild, progress, on_progress)
            except StoreLocked as exc:
                raise IndexLocked(str(exc)) from exc
            except StoreError as exc:
                raise IndexUnavailable(str(exc)) from exc
        self.retriever.invalidate()
        log.info("ingest: %s", report.summary())
        return report

    def _ingest(self, targets: Sequence[str | Path], rebuild: bool, progress: bool,
                on_progress: Callable[[int, int, str], None] | None) -> IngestReport:
        if rebuild:
            self.store.reset()
        return Ingestor(
            self.store, self.embedder, self.chunker,
            max_bytes=int(self.settings.max_file_mb * 1_000_000),
            embed_batch=max(self.settings.embed_batch_size * 8, 64),
            clean_clutter=self.settings.clean_clutter,
        ).run(targets, progress=progress, on_progress=on_progress)

    def ensure_ingested(self, *, progress: bool = False,
                        on_progress: Callable[[int, int, str], None] | None = None,
                        ) -> IngestReport | None:
        """Ingest the corpus folder if the index is empty; None when it already has chunks.
        Until it is done, questions get :class:`IndexBuilding` (never an answer from a
        half-built index)."""
        with self._ingest_lock:
            if self.count() > 0:
                self._building = None
                return None
            self._building = (0, 0)

            def track(done: int, total: int, source: str) -> None:
                self._building = (done, total)
                if on_progress:
                    on_progress(done, total, source)

            try:
                return self.ingest([self.settings.corpus_dir], progress=progress,
                                   on_progress=track)
            finally:
                self._building = None

    def start_indexing(self, on_progress: Callable[[int, int, str], None] | None = None,
                       ) -> threading.Thread | None:
        """:meth:`ensure_ingested` in a background thread (a server starting up); questions
        asked before it is done get :class:`IndexBuilding`. None when the index has chunks."""
        with self._ingest_lock:  # not while another build or ingest holds it
            if self._building is not None or self.count() > 0:
                return None
            self._building = (0, 0)  # before the thread runs: no question slips in first

        def run() -> None:
            try:
                self.ensure_ingested(on_progress=on_progress)
            except QAError as exc:
                log.error("indexing the corpus failed: %s", exc)
            finally:
                self._building = None

        thread = threading.Thread(target=run, name="qa-indexing", daemon=True)
        thread.start()
        return thread

    @property
    def indexing(self) -> tuple[int, int] | None:
        """``(files done, files in all)`` while the corpus is first being indexed, else None."""
        return self._building

    def check_ready(self) -> None:
        """Raises :class:`IndexBuilding` while the corpus is first being indexed."""
        building = self._building
        if building is not None:
            raise IndexBuilding(*building)

    def add_files(self, uploads: Iterable[tuple[str, bytes]],
                  on_progress: Callable[[int, int, str], None] | None = None) -> IngestReport:
        """Store uploaded ``(file name, content)`` pairs in the upload folder and ingest them.
        Names are sanitised; unsupported types and files over ``QA_MAX_UPLOAD_MB`` are refused
        with the name in the message; nothing is written outside the upload folder."""
        from qa.library import save_uploads

        saved = save_uploads(uploads, self.settings.upload_dir,
                             int(self.settings.max_upload_mb * 1_000_000))
        return self.ingest(saved, on_progress=on_progress)

    def remove(self, source: str) -> FileReport:
        """Take a file out of the index (by its source name or path). An uploaded file is also
        deleted from the upload folder; other files stay on disk."""
        from qa.library import remove_file

        with self._ingest_lock:
            try:
                with write_lock(self._local_dir, self.settings.lock_timeout):
                    report = remove_file(self.store, self.files(), source,
                                         self.settings.upload_dir)
            except StoreLocked as exc:
                raise IndexLocked(str(exc)) from exc
            except StoreError as exc:
                raise IndexUnavailable(str(exc)) from exc
        self.retriever.invalidate()
        return report

    def reindex(self, on_progress: Callable[[int, int, str], None] | None = None,
                ) -> IngestReport:
        """Re-ingest every folder the index knows (and the corpus folder): picks up edits,
        additions and deletions on disk."""
        roots = {Path(r.root) for r in self.files()} | {self.settings.corpus_dir}
        return self.ingest(sorted(r for r in roots if r.is_dir()), on_progress=on_progress)

    def count(self) -> int:
        try:
            return self.store.count()
        except Exception as exc:
            raise IndexUnavailable(f"cannot read the index: {exc}") from exc

    def show(self, source: str) -> Document:
        """A file's article text as it is indexed (clutter removed) with its metadata."""
        from qa.documents import SkipFile, SourceFile, load_document

        records = self.files()
        wanted = str(Path(source).expanduser().resolve()) if source else ""
        matches = [r for r in records if source in (r.source, r.key) or r.key == wanted]
        if not matches:  # only what is indexed is shown, never any file on disk
            raise IngestError(f"not in the index: {source} (`qa files` lists what is)")
        record = matches[0]
        file = SourceFile(Path(record.key), Path(record.root), record.source)
        try:
            return load_document(file, int(self.settings.max_file_mb * 1_000_000),
                                 clean_clutter=self.settings.clean_clutter)
        except SkipFile as exc:
            raise IngestError(f"{source}: {exc}") from exc

    def files(self) -> list[FileRecord]:
        """The ingested files, by source name."""
        try:
            return sorted(self.store.file_records().values(), key=lambda r: r.source)
        except Exception as exc:
            raise IndexUnavailable(f"cannot read the index: {exc}") from exc

    # -- retrieval -----------------------------------------------------------------------------
    def retrieve(self, question: str, top_k: int | None = None,
                 filters: Filters | None = None) -> Retrieval:
        self.check_ready()
        try:
            return self.retriever.retrieve(question, top_k or self.settings.top_k, filters)
        except StoreError as exc:
            raise IndexUnavailable(str(exc)) from exc

    # -- answering -----------------------------------------------------------------------------
    def ask(self, question: str, history: History = None, *, mode: Mode | None = None,
            top_k: int | None = None, sources: Sequence[str] | None = None,
            since: str | date | None = None, until: str | date | None = None,
            fallback: bool | None = None) -> Answer:
        """Answer ``question`` from the articles. ``history``: earlier ``(question, answer)``
        pairs or :class:`Answer` objects of this conversation. ``sources`` (file names or
        paths), ``since`` and ``until`` (publication dates, inclusive) restrict what is read.
        ``fallback`` (default ``QA_LLM_FALLBACK``): answer extractively when the LLM fails,
        instead of raising :class:`LLMError`."""
        final: Answer | None = None
        filters = make_filters(sources, since, until)
        for item in self._run(question, history, mode=mode, top_k=top_k, streaming=False,
                              filters=filters, fallback=fallback):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, question: str, history: History = None, *, mode: Mode | None = None,
               top_k: int | None = None, sources: Sequence[str] | None = None,
               since: str | date | None = None, until: str | date | None = None,
               fallback: bool | None = None) -> Iterator[str | Answer]:
        """Yields pieces of answer text as they are ready, then the final :class:`Answer`
        (whose ``text`` is authoritative: it may differ from the pieces, e.g. on abstention,
        or when an LLM stream broke off and the extractive answer replaced it)."""
        yield from self._run(question, history, mode=mode, top_k=top_k, streaming=True,
                             filters=make_filters(sources, since, until), fallback=fallback)

    def check_question(self, question: str) -> str:
        """The question with its white space tidied; empty or over-long questions are refused
        with a message saying what to do."""
        limit = self.settings.max_question_chars
        tidy = " ".join(question.replace("\x00", " ").split())
        bad = re.search(r"[\ud800-\udfff]", tidy)
        if bad:  # a lone surrogate: JSON "\ud800", or non-UTF-8 bytes on a command line
            raise QAError(f"the question is not valid text (character {bad.start() + 1} is "
                          f"{bad.group()!a}): send it as UTF-8")
        if not tidy:
            raise QAError("the question is empty: ask something about the articles")
        if len(tidy) > limit:
            raise QAError(f"the question is {len(tidy):,} characters long; ask in at most "
                          f"{limit:,} (QA_MAX_QUESTION_CHARS)")
        return tidy

    def _run(self, question: str, history: History, *, mode: Mode | None, top_k: int | None,
             streaming: bool, filters: Filters | None = None,
             fallback: bool | None = None) -> Iterator[str | Answer]:
        question = self.check_question(question)
        self.check_ready()
        started = time.perf_counter()
        turns = _turns(history)
        prior = [h for h in history or () if isinstance(h, Answer)]
        chosen = mode or self.mode
        notes: list[str] = []
        ref = referenced_citation(question, prior)
        standalone: str | None = None
        if ref is not None:  # "tell me more about [2]": read that source
            filters = Filters(sources=(ref.source,), since=filters.since if filters else 0,
                              until=filters.until if filters else 0)
            query = f"{MARKER.sub(ref.title or ref.source, question)} {ref.quote}"
        elif turns and chosen == "llm":
            standalone = self._condense(question, turns)
            query = standalone or question
        else:
            query = question
        analysis = analyse(question).with_context(analyse(turns[-1][0]) if turns else None)
        if ref is None and turns and chosen == "extractive" and analysis.entities \
                and not analyse(question).entities:
            query = f"{question} {' '.join(analysis.entities)}"  # carry the entities over
        retrieval = self.retrieve(query, top_k, filters)
        if chosen == "llm":
            try:
                answer = yield from self._llm(standalone or question, turns, retrieval, streaming)
                yield self._finish(replace(answer, question=question,
                                           standalone_question=standalone),
                                   started, retrieval, prior)
                return
            except LLMError as exc:
                if not (self.settings.llm_fallback if fallback is None else fallback):
                    raise
                log.warning("LLM failed, answering extractively: %s", exc)
                notes.append(f"LLM unavailable ({exc}); extractive answer given instead.")
        if ref is not None:
            answer = self._more_about(question, ref, retrieval, notes)
        else:
            answer = self._extract(question, analysis, retrieval, notes)
        if streaming:
            yield answer.text
        yield self._finish(answer, started, retrieval, prior)

    def _condense(self, question: str, turns: list[Turn]) -> str | None:
        """A follow-up rewritten as a stand-alone question by the LLM (None if that fails)."""
        try:
            rewritten = LLMAnswerer(self.chat, prompts_dir=self.settings.prompts_dir).condense(
                question, turns)
        except LLMError as exc:
            log.warning("could not rewrite the follow-up: %s", exc)
            return None
        log.info("follow-up %r rewritten as %r", question, rewritten)
        return rewritten

    def _finish(self, answer: Answer, started: float, retrieval: Retrieval,
                prior: Sequence[Answer] = ()) -> Answer:
        timings = dict(retrieval.timings)
        timings.update(answer.timings)
        flagged = {p.path for p in retrieval.passages if p.injection}
        citations = tuple(
            replace(c, also_in=self._copies_of(c),
                    warning=INJECTION_WARNING if c.path in flagged else c.warning)
            for c in answer.citations)
        notes = list(answer.notes)
        if any(c.warning for c in citations):
            notes.append("The answer quotes an article that contains instructions aimed at AI "
                         "assistants; treat it with care.")
        text, citations = stable_numbers(answer.text, citations, prior)
        claims = tuple(c for c in answer.claims if c.shown)
        left_out = tuple(c for c in answer.claims if not c.shown)
        if answer.answered and (not claims or text != answer.text):
            # checked here unless the LLM path already checked this very text; extractive
            # sentences are their own quotes, so the lexical checks suffice (no embedding)
            embedder = self.embedder if answer.mode == "llm" else None
            claims = carry_flags(check_claims(text, citations, embedder), claims)
        claims = (*claims, *left_out)
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        return replace(answer, text=text, citations=citations, passages=retrieval.passages,
                       timings=timings, notes=tuple(dict.fromkeys(notes)), claims=claims)

    def _copies_of(self, citation: Citation) -> tuple[str, ...]:
        """Other files carrying the cited passage almost word for word (wire copies)."""
        try:
            hits = self.retriever.keyword_search(citation.quote, 8)
        except StoreError as exc:
            log.warning("duplicate look-up failed: %s", exc)
            return ()
        candidates = [
            (str(h.metadata.get("source", "")), h.text[a:b])
            for h in hits if h.metadata.get("path") != citation.path
            for a, b in sentence_spans(h.text)
        ]
        return tuple(copies(citation.quote, candidates))

    def _extract(self, question: str, analysis: QuestionAnalysis, retrieval: Retrieval,
                 notes: list[str]) -> Answer:
        t0 = time.perf_counter()
        found = self.extractive.extract(analysis, retrieval.passages, retrieval.query_vector,
                                        retrieval.term_weights)
        files = FileCache()
        parts: list[str] = []
        citations: list[Citation] = []
        for group in found.groups:
            # the same statement in several files is cited once; the copies show as "also in"
            for cand in group:
                citation = verify(cand.sentence.citation(len(citations) + 1),
                                  cand.sentence.passage, files)
                if citation is not None:
                    citation = replace(citation, answer_span=_span_in_file(cand, citation))
                    citations.append(citation)
                    dated = f" (as of {citation.published})" if citation.published else ""
                    parts.append(f"{clean_for_display(cand.sentence.text)} [{citation.n}]{dated}")
                    break
        answered = bool(parts)
        if not answered and found.groups:
            notes.append("The supporting files changed since they were indexed: run qa ingest.")
        if answered and found.conflict and len(parts) > 1:
            parts.insert(0, "The articles give different figures:")
        text = " ".join(parts) if answered else NOT_IN_ARTICLES
        return Answer(
            question=question, text=text, answered=answered, mode="extractive",
            citations=tuple(citations), notes=tuple(notes), support=found.best_score,
            timings={"answer_ms": (time.perf_counter() - t0) * 1000},
        )

    def _llm(self, question: str, turns: list[Turn], retrieval: Retrieval,
             streaming: bool) -> Generator[str, None, Answer]:
        t0 = time.perf_counter()
        answerer = LLMAnswerer(self.chat, prompts_dir=self.settings.prompts_dir)
        passages = retrieval.passages
        notes: list[str] = []
        try:
            reply = yield from self._llm_reply(answerer, question, passages, turns, streaming)
        except ContextTooLong as exc:
            if len(passages) < 2:
                raise
            # the request was refused before any text came: once more with half the passages
            passages = passages[: len(passages) // 2]
            log.warning("%s; retrying with %d passages", exc, len(passages))
            notes.append(f"The sources did not fit the model's context; answered from the "
                         f"best {len(passages)} passages.")
            reply = yield from self._llm_reply(answerer, question, passages, turns, streaming)
        text, citations, claims = self._checked(reply, passages, notes)
        tokens = {"prompt_tokens": reply.prompt_tokens,
                  "completion_tokens": reply.completion_tokens}
        bad = [c for c in claims if c.label == "unsupported"]
        if bad:  # one repair attempt, naming each failing claim
            problems = [f'"{c.text}" ({"; ".join(c.reasons)})' for c in bad]
            log.info("repairing %d unsupported claim(s)", len(bad))
            reply = answerer.repair(question, passages, turns, reply.raw, problems)
            tokens = {"prompt_tokens": tokens["prompt_tokens"] + reply.prompt_tokens,
                      "completion_tokens": tokens["completion_tokens"] + reply.completion_tokens}
            notes.append(f"{len(bad)} unsupported claim(s) in the first answer; the model was "
                         "asked once to repair them.")
            text, citations, claims = self._checked(reply, passages, notes)
            if any(c.label == "unsupported" for c in claims):
                if self.settings.unsupported == "mark":
                    text = mark_unsupported(text, claims)
                    claims = ()  # the markers moved the offsets: _finish checks the final text
                    notes.append("Sentences marked [unsupported] are not backed by their "
                                  "sources.")
                else:
                    text, left_out = leave_out(text, claims)
                    text, citations = keep_cited(text, citations)
                    shown = check_claims(text, citations, self.embedder) if text else ()
                    claims = (*carry_flags(shown, claims), *left_out)
                    notes.append(f"Left out {len(left_out)} claim(s) of the model's answer that "
                                 "no source supports (listed under claims).")
                    if not text:
                        return replace(self._instead_of_llm(question, retrieval, notes, claims,
                                                            t0), tokens=tokens)
        if reply.incomplete and reply.answered:
            text = f"{text} …"
            notes.append(f"The model's answer was cut off at its token limit "
                         f"(QA_LLM_MAX_TOKENS={self.chat.max_tokens}): it is incomplete.")
        return Answer(
            question=question, text=text if reply.answered else NOT_IN_ARTICLES,
            answered=reply.answered, mode="llm", citations=citations if reply.answered else (),
            model=self.chat.model, notes=tuple(notes), claims=claims,
            timings={"answer_ms": (time.perf_counter() - t0) * 1000},
            incomplete=reply.incomplete and reply.answered, tokens=tokens,
        )

    def _checked(self, reply: LLMReply, passages: Sequence[Passage], notes: list[str],
                 ) -> tuple[str, tuple[Citation, ...], tuple[Claim, ...]]:
        """The reply's text, citations and claim labels, after claims the model cited wrongly
        or not at all got the retrieved sentence that backs them, if one does."""
        text, citations = self._llm_citations(reply, passages, notes)
        if not reply.answered:
            return text, citations, ()
        claims = check_claims(text, citations, self.embedder)
        text, citations, added = attribute(text, citations, claims, passages)
        if added:
            text, citations = keep_cited(text, citations)  # a wrong source cited by none now
            claims = flag_added(check_claims(text, citations, self.embedder), added)
            notes.append(f"{len(added)} claim(s) had no citation backing them; the retrieved "
                         "sentence that supports each was cited (citation added).")
        return text, citations, claims

    def _instead_of_llm(self, question: str, retrieval: Retrieval, notes: list[str],
                        claims: tuple[Claim, ...], t0: float) -> Answer:
        """No claim of the LLM's answer is supported: the extractive answer (or "the articles
        don't say"), with the LLM's claims kept as left out."""
        notes.append("The LLM's answer was not supported by the sources; the extractive answer "
                     "is shown instead.")
        answer = self._extract(question, analyse(question), retrieval, notes)
        return replace(answer, claims=claims, model=self.chat.model,
                       timings={"answer_ms": (time.perf_counter() - t0) * 1000})

    @staticmethod
    def _llm_reply(answerer: LLMAnswerer, question: str, passages: Sequence[Passage],
                   turns: list[Turn], streaming: bool) -> Generator[str, None, LLMReply]:
        if not streaming:
            return answerer.answer(question, passages, turns)
        reply = None
        for item in answerer.stream(question, passages, turns):
            if isinstance(item, str):
                yield item
            else:
                reply = item
        assert reply is not None
        return reply

    def _llm_citations(self, reply: LLMReply, passages: Sequence[Passage],
                       notes: list[str]) -> tuple[str, tuple[Citation, ...]]:
        notes.extend(f"dropped citation [{n}]: the model cited a source it was not given"
                     for n in reply.dropped)
        text, removed = strip_foreign_links(reply.text, [p.url for p in passages])
        if removed:
            notes.append(f"removed {removed} link(s) or image(s) not from the sources")
        files = FileCache()
        citations: list[Citation] = []
        if reply.answered:
            for c in citations_for(text, reply.cited):
                checked = verify(c, reply.cited[c.n - 1], files)
                if checked is not None:
                    citations.append(checked)
        return text, tuple(citations)

    def _more_about(self, question: str, ref: Citation, retrieval: Retrieval,
                    notes: list[str]) -> Answer:
        """Extractive "tell me more about [n]": the sentences that follow the cited quote in its
        source (or precede it, at the end of the article)."""
        t0 = time.perf_counter()
        sentences = sorted(
            {s.key: s for p in retrieval.passages if p.path == ref.path
             for s in split_sentences(p)}.values(), key=lambda s: s.key[1])
        after = [s for s in sentences if s.key[1] >= ref.end]
        before = [s for s in sentences if s.key[2] <= ref.start]
        chosen = after[:2] or before[-2:]
        files = FileCache()
        parts: list[str] = []
        citations: list[Citation] = []
        for s in chosen:
            c = verify(s.citation(len(citations) + 1), s.passage, files)
            if c is not None:
                citations.append(c)
                parts.append(f"{clean_for_display(s.text)} [{c.n}]")
        return Answer(
            question=question, text=" ".join(parts) if parts else NOT_IN_ARTICLES,
            answered=bool(parts), mode="extractive", citations=tuple(citations),
            notes=tuple(notes), timings={"answer_ms": (time.perf_counter() - t0) * 1000})

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, questions: str | Path | None = None, *, mode: Mode | None = None,
                 out: str | Path | None = None, progress: bool = False) -> Any:
        """Run a question set (default ``eval/questions.jsonl``) through this assistant and
        return the :class:`qa.evaluation.Report`; with ``out``, write results, report and plots
        there."""
        from qa.evalset import default_questions, load_questions
        from qa.evaluation import build_report, evaluate, probe_rows, run_settings, write_outputs

        chosen = mode or self.mode
        items = load_questions(questions or default_questions())
        probe = probe_rows(self, items, progress=progress) if chosen == "extractive" else []
        rows = evaluate(self, items, chosen, progress=progress)
        report = build_report(rows, run_settings(self, chosen), probe)
        if out is not None:
            write_outputs(report, Path(out))
        return report
