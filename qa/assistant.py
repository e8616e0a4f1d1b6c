"""The assistant: one object behind the Python API, the CLI and the UI.

It is the wiring: it builds the parts from the settings (embedder, index, retriever, reader,
LLM client) and runs the steps, which live in ``qa.ingest`` (reading and storing articles) and
``qa.answer`` (retrieving, reading, citing, checking)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from qa.answer.conversation import History, follow_up
from qa.answer.conversation import turns as as_turns
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.finishing import finish
from qa.answer.llm import Chat, ChatModel
from qa.answer.question import analyse, plain_question, tidy_question
from qa.answer.retrieval import Filters, HybridRetriever, Retrieval, make_filters
from qa.answer.steps_extractive import extractive_answer, more_about
from qa.answer.steps_llm import LLMSteps
from qa.errors import IndexUnavailable, LLMError
from qa.ingest.chunking import Chunker
from qa.ingest.documents import Document
from qa.ingest.first_build import FirstBuild
from qa.ingest.index_access import open_index, writing
from qa.ingest.ingestor import Ingestor
from qa.settings import Settings, load_settings
from qa.types import Answer, FileReport, IngestReport
from vectorstore import ChromaStore, Embedder, FileRecord, StoreError, make_embedder

log = logging.getLogger(__name__)

Mode = Literal["extractive", "llm"]


class Assistant:
    """Ask a folder of articles; every claim cites a file and a verbatim quote.

    ``Assistant()`` opens the index named by the settings (``QA_*`` environment variables);
    any part can be passed in instead (embedder, store, chat model).
    """

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None,
                 store: ChromaStore | None = None, chat: Chat | None = None, llm: Any = None,
                 rebuild: bool = False) -> None:
        """``rebuild``: start the index afresh (empty), whatever state it is in: another
        embedding model, no manifest, damaged files (a damaged directory is moved aside).
        ``chat``: the answering model (default: the OpenAI-compatible endpoint the settings
        name); ``llm``: any LlamaIndex LLM (``llama_index.core.llms.LLM``) instead, with the
        same prompts, citation checks and repair."""
        self.settings = settings or load_settings()
        s = self.settings
        self.embedder = embedder or make_embedder(
            s.embed_model, batch_size=s.embed_batch_size, base_url=s.embed_base_url,
            api_key=s.llm_key,
        )
        self.chunker = Chunker(s.chunk_size, s.chunk_overlap)
        self.store = store or open_index(s, self.manifest(), rebuild)
        self.retriever = HybridRetriever(
            self.store, self.embedder, candidates=s.candidates, rrf_k=s.rrf_k,
            dedup_threshold=s.dedup_threshold,
        )
        self.extractive = ExtractiveAnswerer(
            self.embedder, min_support=s.min_support, max_sentences=s.max_sentences)
        if llm is not None:
            from qa.answer.llamaindex_llm import LlamaIndexChat

            chat = LlamaIndexChat(llm)
        self._chat = chat
        self._ingest_lock = threading.RLock()
        self._first = FirstBuild(self._ingest_lock, self.count, lambda progress, on_progress:
                                 self.ingest(None, progress=progress, on_progress=on_progress))

    # -- set-up --------------------------------------------------------------------------------
    def manifest(self) -> dict[str, str | int]:
        return {"schema": 1, "embed_model": self.embedder.name,
                "dimension": self.embedder.dimension, **self.settings.chunk_manifest()}

    @property
    def chat(self) -> Chat:
        if self._chat is None:
            self._chat = ChatModel.from_settings(self.settings)
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
        with self._ingest_lock, writing(self.settings):
            if rebuild:
                self.store.reset()
            report = Ingestor(
                self.store, self.embedder, self.chunker,
                max_bytes=int(self.settings.max_file_mb * 1_000_000),
                embed_batch=max(self.settings.embed_batch_size * 8, 64),
                clean_clutter=self.settings.clean_clutter,
            ).run(targets, progress=progress, on_progress=on_progress)
        self.retriever.invalidate()
        log.info("ingest: %s", report.summary())
        return report

    def ensure_ingested(self, *, progress: bool = False,
                        on_progress: Callable[[int, int, str], None] | None = None,
                        ) -> IngestReport | None:
        """Ingest the corpus folder if the index is empty; None when it already has chunks.
        Until it is done, questions get :class:`IndexBuilding` (never an answer from a
        half-built index)."""
        return self._first.ensure(progress, on_progress)

    def start_indexing(self, on_progress: Callable[[int, int, str], None] | None = None,
                       ) -> threading.Thread | None:
        """:meth:`ensure_ingested` in a background thread (a server starting up); questions
        asked before it is done get :class:`IndexBuilding`. None when the index has chunks."""
        return self._first.start(on_progress)

    @property
    def indexing(self) -> tuple[int, int] | None:
        """``(files done, files in all)`` while the corpus is first being indexed, else None."""
        return self._first.state

    def check_ready(self) -> None:
        """Raises :class:`IndexBuilding` while the corpus is first being indexed."""
        self._first.check()

    def add_files(self, uploads: Iterable[tuple[str, bytes]],
                  on_progress: Callable[[int, int, str], None] | None = None) -> IngestReport:
        """Store uploaded ``(file name, content)`` pairs in the upload folder and ingest them.
        Names are sanitised; unsupported types and files over ``QA_MAX_UPLOAD_MB`` are refused
        with the name in the message; nothing is written outside the upload folder."""
        from qa.ingest.library import save_uploads

        saved = save_uploads(uploads, self.settings.upload_dir,
                             int(self.settings.max_upload_mb * 1_000_000))
        return self.ingest(saved, on_progress=on_progress)

    def add_urls(self, urls: Iterable[str]) -> IngestReport:
        """Fetch pages by URL (:mod:`qa.ingest.urls`: stored in the upload folder) and ingest
        them; a URL that failed is a ``failed`` line of the report and changes nothing."""
        from qa.ingest.urls import fetch_all

        saved, failed = fetch_all(list(urls), self.settings)
        report = self.ingest(saved) if saved else IngestReport((), 0, self.count(), 0.0)
        return replace(report, files=(*report.files, *failed))

    def remove(self, source: str) -> FileReport:
        """Take a file out of the index (by its source name or path). An uploaded file is also
        deleted from the upload folder; other files stay on disk."""
        from qa.ingest.library import remove_file

        with self._ingest_lock, writing(self.settings):
            report = remove_file(self.store, self.files(), source, self.settings.upload_dir)
        self.retriever.invalidate()
        return report

    def reindex(self, on_progress: Callable[[int, int, str], None] | None = None,
                ) -> IngestReport:
        """Re-ingest every folder the index knows (and the corpus folder): picks up edits,
        additions and deletions on disk."""
        roots = {Path(r.root) for r in self.files()} | {self.settings.corpus_dir}
        return self.ingest(sorted(r for r in roots if r.is_dir()), on_progress=on_progress)

    def count(self) -> int:
        return int(self._reading(self.store.count))

    def _reading(self, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception as exc:
            raise IndexUnavailable(f"cannot read the index: {exc}") from exc

    def show(self, source: str) -> Document:
        """A file's article text as it is indexed (clutter removed) with its metadata."""
        from qa.ingest.library import indexed_document

        return indexed_document(self.files(), source, int(self.settings.max_file_mb * 1_000_000),
                                self.settings.clean_clutter)

    def files(self) -> list[FileRecord]:
        """The ingested files, by source name."""
        records = self._reading(self.store.file_records).values()
        return sorted(records, key=lambda r: r.source)

    # -- retrieval -----------------------------------------------------------------------------
    def retrieve(self, question: str, top_k: int | None = None,
                 filters: Filters | None = None) -> Retrieval:
        self.check_ready()
        try:
            return self.retriever.retrieve(question, top_k or self.settings.top_k, filters)
        except StoreError as exc:
            raise IndexUnavailable(str(exc)) from exc

    # -- LlamaIndex ----------------------------------------------------------------------------
    def as_retriever(self, top_k: int = 5, **filters: Any) -> Any:
        """The hybrid retrieval as a LlamaIndex retriever; ``filters``: as :meth:`ask` takes."""
        from qa.integrations.llama_index import QARetriever

        return QARetriever(self, top_k, **filters)

    def as_query_engine(self, **options: Any) -> Any:
        """:meth:`ask` as a LlamaIndex query engine; ``options``: those of :meth:`ask`."""
        from qa.integrations.llama_index import QAQueryEngine

        return QAQueryEngine(self, **options)

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
        items = list(self._run(question, history, mode=mode, top_k=top_k, streaming=False,
                               filters=make_filters(sources, since, until), fallback=fallback))
        assert isinstance(items[-1], Answer)  # the last item is the answer
        return items[-1]

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
        return tidy_question(question, self.settings.max_question_chars)

    def _run(self, question: str, history: History, *, mode: Mode | None, top_k: int | None,
             streaming: bool, filters: Filters | None = None,
             fallback: bool | None = None) -> Iterator[str | Answer]:
        asked = self.check_question(question)
        question = plain_question(asked) or asked  # read without pasted markup; shown as asked
        self.check_ready()
        started = time.perf_counter()
        turns = as_turns(history)
        prior = [h for h in history or () if isinstance(h, Answer)]
        notes: list[str] = []
        steps = self._llm_steps() if (mode or self.mode) == "llm" else None
        plan = follow_up(question, turns, prior, filters, steps.condense if steps else None)
        standalone, ref = plan.standalone, plan.ref
        retrieval = self.retrieve(plan.query, top_k, plan.filters)
        if steps is not None:
            try:
                answer = yield from steps.answer(standalone or question, turns, retrieval,
                                                 streaming)
                yield finish(replace(answer, question=asked, standalone_question=standalone),
                             started, retrieval, prior, self.retriever, self.embedder)
                return
            except LLMError as exc:
                if not (self.settings.llm_fallback if fallback is None else fallback):
                    raise
                log.warning("LLM failed, answering extractively: %s", exc)
                notes.append(f"LLM unavailable ({exc}); extractive answer given instead.")
        if ref is not None:
            answer = more_about(question, ref, retrieval, notes)
        else:
            answer = extractive_answer(self.extractive, question, plan.analysis, retrieval, notes,
                                       lambda part: self.retrieve(part, top_k, plan.filters))
        final = finish(replace(answer, question=asked), started, retrieval, prior,
                       self.retriever, self.embedder)
        if streaming:  # in one piece, numbered as it is in the conversation
            yield final.text
        yield final

    def _extract(self, question: str, retrieval: Retrieval, notes: list[str]) -> Answer:
        return extractive_answer(self.extractive, question, analyse(question), retrieval, notes)

    def _llm_steps(self) -> LLMSteps:
        return LLMSteps(self.chat, self.embedder, self._extract,
                        prompts_dir=self.settings.prompts_dir,
                        unsupported=self.settings.unsupported)
