"""What the web chat shows, and its event handlers. No Gradio import here: ``app.py`` wires these
functions to components, and tests call them directly."""

from __future__ import annotations

import functools
import html
import logging
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.assistant import Assistant
from qa.errors import QAError
from qa.serve.conversations import ConversationStore, as_markdown
from qa.types import Answer, Citation, IngestReport, Passage

if TYPE_CHECKING:
    from qa.ingest.watching import FolderWatcher

log = logging.getLogger(__name__)

EXAMPLES = [
    "How many Tor-M1 air defense systems did Iran receive?",
    "When was the UN arms embargo on Iran lifted?",
    "How much was the 2007 S-300 deal worth?",
    "Where did Iran file its complaint against Rosoboronexport?",
]

Message = dict[str, str]
Progress = Callable[[int, int, str], None]


# -- rendering --------------------------------------------------------------------------------
def _anchor(turn: int, n: int) -> str:
    return f"cite-{turn}-{n}"


def render_answer(answer: Answer, turn: int) -> str:
    """The chat bubble: answer text with each ``[n]`` a link to its source in the panel."""
    by_n = {c.n: c for c in answer.citations}

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        c = by_n.get(n)
        if c is None:
            return m.group(0)
        tip = html.escape(f"{c.source}: {' '.join(c.quote.split())}", quote=True)
        return f'<a class="cite" href="#{_anchor(turn, n)}" title="{tip}">[{n}]</a>'

    body = re.sub(r"\[(\d+)\]", link, _with_badges(answer))
    parts = []
    if not answer.answered:
        parts.append('<span class="abstain">Not in the articles</span> ')
    parts.append(body)
    if answer.citations:
        files = ", ".join(
            f"\\[{c.n}\\] {as_text(c.source)}"
            + (f" (also in {as_text(', '.join(c.also_in))})" if c.also_in else "")
            for c in answer.citations)
        parts.append(f'\n\n<span class="cited-files">Sources: {files}</span>')
    left_out = [c for c in answer.claims if not c.shown]
    if left_out:
        items = "".join(f"<li>{as_text(c.text)} <i>({as_text('; '.join(c.reasons))})</i></li>"
                        for c in left_out)
        parts.append(f'\n\n<details class="left-out"><summary>Left out: not supported by the '
                     f"sources ({len(left_out)})</summary><ul>{items}</ul></details>")
    for note in answer.notes:
        parts.append(f'\n\n<span class="note">Note: {as_text(note)}</span>')
    if answer.mode == "llm" and answer.model:
        parts.append(f'\n\n<span class="note">Answered by {as_text(answer.model)}</span>')
    return "".join(parts)


_BADGES = {"supported": "✓", "partial": "≈", "unsupported": "✗ unsupported"}
# what makes Markdown text a link, an image or an address: "[" and "]" (links, images,
# references), "\\" (which would undo an escape), "@" (e-mail), "://" and "www." (bare URLs)
_LINK_SYNTAX = re.compile(r"[\[\]\\@]|:(?=//)|(?<=\bwww)\.", re.I)


def _defused(text: str) -> str:
    """``text`` with its tags escaped and its link syntax backslashed."""
    return _LINK_SYNTAX.sub(lambda m: "\\" + m.group(), html.escape(text, quote=False))


def _links_off(text: str) -> str:
    """Answer text for the Markdown chat: tags escaped and link, image and address syntax
    backslashed (emphasis and lists still render); ``[n]`` markers are kept for the links."""
    return "".join(part if re.fullmatch(r"\[\d+\]", part) else _defused(part)
                   for part in re.split(r"(\[\d+\])", text))


def _with_badges(answer: Answer) -> str:
    """The escaped answer text with a support badge after each claim."""
    text = answer.text
    out: list[str] = []
    pos = 0
    for claim in sorted((c for c in answer.claims if c.shown), key=lambda c: c.end):
        if claim.end < pos:
            continue
        why = "; ".join(claim.reasons) or "its cited quotes back it"
        tip = html.escape(f"{claim.label} (score {claim.score:.2f}): {why}", quote=True)
        out.append(_links_off(text[pos : claim.end]))
        out.append(f' <span class="claim claim-{claim.label}" title="{tip}">'
                   f"{_BADGES[claim.label]}</span>")
        pos = claim.end
    out.append(_links_off(text[pos:]))
    return "".join(out)


def _highlighted(p: Passage, c: Citation | None) -> str:
    """The passage text with the cited quote marked."""
    text = p.text
    if c is None:
        return html.escape(text)
    if p.spans:
        from qa.ingest.documents import text_range

        local = text_range(p.spans, c.start, c.end)
    else:
        local = (c.start - p.start, c.end - p.start)
    a, b = local if local else (-1, -1)
    if not (0 <= a < b <= len(text)):
        return html.escape(text)
    quote = html.escape(text[a:b])
    span = c.span_in_quote()
    if span is not None and text[a:b] == c.quote:  # the answer itself in bold
        quote = (html.escape(c.quote[: span[0]]) + '<b class="answer-span">'
                 + html.escape(c.quote[span[0] : span[1]]) + "</b>"
                 + html.escape(c.quote[span[1] :]))
    return (html.escape(text[:a]) + '<mark class="quote">' + quote
            + "</mark>" + html.escape(text[b:]))


def render_sources(turns: Sequence[Answer]) -> str:
    """The sources panel: for each answer (latest first), its citations with the quote
    highlighted in its passage, then the retrieved passages it did not cite."""
    if not turns:
        return ('<div class="sources-empty">Sources appear here. Click a citation such as '
                "[1] in an answer to open its passage.</div>")
    blocks = []
    for turn in range(len(turns) - 1, -1, -1):
        answer = turns[turn]
        latest = turn == len(turns) - 1
        items = []
        cited_ids = set()
        for c in answer.citations:
            p = c.passage_in(answer.passages)
            if p is not None:
                cited_ids.add((p.source, p.start, p.end))
            body = _highlighted(p, c) if p else f'<mark class="quote">{html.escape(c.quote)}</mark>'
            about = " · ".join(html.escape(x) for x in (c.outlet, c.published) if x)
            also = (f'<div class="also">Also in: {html.escape(", ".join(c.also_in))}</div>'
                    if c.also_in else "")
            if c.url:  # as text: the page stays on this machine until the reader copies it
                also += f'<div class="url">From {html.escape(c.url)}</div>'
            if c.warning:
                also += f'<div class="warning">⚠ {html.escape(c.warning)}</div>'
            items.append(
                f'<details class="source" id="{_anchor(turn, c.n)}"{" open" if latest else ""}>'
                f"<summary><b>[{c.n}]</b> {html.escape(c.title)} "
                f'<span class="file">{html.escape(c.source)}{" · " + about if about else ""}'
                f" · chars {c.start}–{c.end}</span>"
                f'</summary>{also}<div class="passage">{body}</div></details>')
        others = [p for p in answer.passages if (p.source, p.start, p.end) not in cited_ids]
        if others:
            rest = "".join(
                f'<details class="retrieved"><summary>{html.escape(p.title)} '
                f'<span class="file">{html.escape(p.source)} · score {p.score:.4f}</span>'
                f'</summary><div class="passage">{html.escape(p.text)}</div></details>'
                for p in others)
            items.append(f'<div class="uncited"><div class="label">Retrieved, not cited '
                         f"({len(others)})</div>{rest}</div>")
        head = html.escape(answer.question)
        blocks.append(f'<section class="turn"><div class="question">Q{turn + 1}: {head}</div>'
                      f'{"".join(items)}</section>')
    return "".join(blocks)


LIBRARY_HEADERS = ["file", "title", "outlet", "published", "passages", "kept / clutter chars",
                   "status"]


def library_rows(assistant: Assistant) -> list[list[Any]]:
    rows = []
    for r in assistant.files():
        status = "indexed" if Path(r.key).is_file() else "missing on disk"
        extra = r.extra
        rows.append([r.source, r.title, extra.get("outlet") or "—",
                     extra.get("published") or "unknown", r.chunks,
                     f"{extra.get('kept_chars', 0)} / {extra.get('dropped_chars', 0)}", status])
    return rows


def report_text(report: IngestReport) -> str:
    lines = [f"**{report.summary()}**"]
    for f in report.files:
        detail = f" — {f.chunks} chunks" if f.chunks else ""
        if f.kept_chars or f.dropped_chars:
            detail += f", {f.kept_chars} chars kept, {f.dropped_chars} dropped as clutter"
        if f.reason:
            detail += f" — {f.reason}"
        lines.append(f"- {f.status}: `{f.source}`{detail}")
    return "\n".join(lines)


def _with_reply(chat: list[Message], content: str) -> list[Message]:
    """A new message list: ``chat`` plus the assistant's reply (each yield is its own list)."""
    return [*chat, {"role": "assistant", "content": content}]


def as_text(text: str) -> str:
    """``text`` to be shown as it is in the chat, which renders Markdown and HTML: no tag,
    link, image or emphasis comes alive."""
    return re.sub(r"([*_~`])", r"\\\1", _defused(text))


def _error(message: str) -> str:
    return f'<span class="error">⚠️ {html.escape(message)}</span>'


# -- handlers ---------------------------------------------------------------------------------
@dataclass
class ChatSettings:
    mode: str
    top_k: int


class Handlers:
    """Every event of the web app. Per-session state (the answers so far) is passed in and
    returned, never kept here: one ``Handlers`` serves all sessions."""

    def __init__(self, assistant: Assistant, watcher: FolderWatcher | None = None) -> None:
        self.assistant = assistant
        self.watcher = watcher  # QA_WATCH_DIRS: its recent changes are shown in the Library

    def library(self) -> tuple[list[list[Any]], str]:
        """The Library table as the index stands, and what the watched folders changed."""
        if self.watcher is None:
            return self.sources_table(), ""
        folders = ", ".join(str(f) for f in self.watcher.folders)
        lines = "\n".join(f"- {as_text(line)}" for line in list(self.watcher.recent)[-8:])
        return self.sources_table(), f"Watching {as_text(folders)}." + (
            f" Recent changes:\n\n{lines}" if lines else "")

    def modes(self) -> list[str]:
        return ["extractive", "llm"] if self.assistant.settings.llm_configured else ["extractive"]

    def status(self) -> str:
        a = self.assistant
        building = a.indexing
        if building is not None:
            done, total = building
            progress = f" {done} of {total}" if total else ""
            return (f"⏳ **Indexing{progress} articles…** Questions are answered as soon as "
                    "the index is complete.")
        files = len(a.files())
        model = a.settings.llm_model if a.settings.llm_configured else "none configured"
        return (f"**{files} articles**, {a.count()} passages indexed · default mode "
                f"**{a.mode}** · LLM: {model} · embeddings: {a.embedder.name}")

    def startup(self) -> str:
        """Start indexing the corpus in the background if the index is empty (a server
        normally started it already), then describe the index or the indexing."""
        try:
            self.assistant.start_indexing()  # a no-op when built or being built
            return self.status()
        except QAError as exc:
            return f"⚠️ {exc}"

    def ready(self) -> bool:
        """Whether questions can be answered (the index is not being built)."""
        return self.assistant.indexing is None

    def respond(self, message: str, chat: list[Message], turns: list[Answer], mode: str,
                top_k: int) -> Iterator[tuple[list[Message], list[Answer], str, str]]:
        """Streams ``(chat, turns, sources_html, textbox)`` as the answer arrives."""
        try:
            question = self.assistant.check_question(message or "")
        except QAError as exc:  # empty or over-long: say so, keep the session as it was
            shown = " ".join((message or "").split())
            shown = shown[:200] + "…" if len(shown) > 200 else shown
            prompt = ([{"role": "user", "content": as_text(shown)}] if shown else [])
            yield _with_reply([*chat, *prompt], _error(str(exc))), turns, render_sources(turns), ""
            return
        chat = [*chat, {"role": "user", "content": as_text(question)}]
        sources = render_sources(turns)
        yield _with_reply(chat, "…"), turns, sources, ""
        chosen = mode if mode in self.modes() else "extractive"
        text = ""
        try:
            for piece in self.assistant.stream(question, turns, mode=chosen,  # type: ignore[arg-type]
                                               top_k=int(top_k)):
                if isinstance(piece, Answer):
                    turns = [*turns, piece]
                    yield (_with_reply(chat, render_answer(piece, len(turns) - 1)), turns,
                           render_sources(turns), "")
                    return
                text += piece
                # shown as text while it streams, marked as not yet checked: the checked
                # answer replaces it (claims no source backs are left out of that one)
                yield (_with_reply(chat, f'{as_text(text)} <span class="note">checking…</span>'),
                       turns, sources, "")
        except QAError as exc:
            yield _with_reply(chat, _error(str(exc))), turns, sources, ""
        except Exception as exc:  # never a traceback in the chat
            log.exception("unexpected error answering %r", question)
            yield _with_reply(chat, _error(f"Unexpected error: {exc}")), turns, sources, ""

    def clear(self) -> tuple[list[Message], list[Answer], str]:
        return [], [], render_sources([])

    # -- conversations kept in QA_HISTORY_DB, per user -----------------------------------------
    @functools.cached_property
    def conversations(self) -> ConversationStore:
        return ConversationStore(self.assistant.settings.history_path)

    @staticmethod
    def owner(username: str | None, browser: str | None) -> str:
        """Whose conversations a page sees: the logged-in user's (``QA_AUTH``), else this
        browser's (a random id the page keeps in the browser's storage), never a shared
        history."""
        if username:
            return f"user:{username}"
        return f"browser:{browser}" if browser else ""

    @staticmethod
    def new_browser() -> str:
        return uuid.uuid4().hex

    def conversation_choices(self, user: str) -> list[tuple[str, str]]:
        """``(title, id)`` of the user's conversations, the latest first."""
        if not user:
            return []
        return [(c.title, c.id) for c in self.conversations.of_user(user)]

    def open_conversation(self, conversation: str | None, user: str
                          ) -> tuple[list[Message], list[Answer], str]:
        """The chat, the answers and the sources panel of a stored conversation."""
        answers = self.conversations.answers(conversation, user) if conversation else []
        chat: list[Message] = []
        for turn, answer in enumerate(answers):
            chat += [{"role": "user", "content": as_text(answer.question)},
                     {"role": "assistant", "content": render_answer(answer, turn)}]
        return chat, answers, render_sources(answers)

    def respond_kept(self, message: str, chat: list[Message], turns: list[Answer], mode: str,
                     top_k: int, conversation: str | None, user: str
                     ) -> Iterator[tuple[list[Message], list[Answer], str, str, str | None]]:
        """:meth:`respond`, each answer stored in the user's conversation (a new one on the
        first question); also yields the conversation's id."""
        for chat_now, turns_now, sources, box in self.respond(message, chat, turns, mode, top_k):
            if len(turns_now) > len(turns) and user:  # no owner yet: not kept
                conversation = self.conversations.add(conversation, user, turns_now[-1])
            yield chat_now, turns_now, sources, box, conversation

    def rename_conversation(self, conversation: str | None, title: str, user: str) -> str:
        if not conversation:
            return "Ask a question first: the conversation is kept from its first answer."
        try:
            self.conversations.rename(conversation, user, title or "")
        except QAError as exc:
            return f"⚠️ {exc}"
        return f"Renamed to {as_text(' '.join(title.split()))}."

    def delete_conversation(self, conversation: str | None, user: str) -> None:
        if conversation:
            self.conversations.delete(conversation, user)

    def export_conversation(self, conversation: str | None, user: str) -> str | None:
        """A Markdown file of the conversation (questions, answers, numbered citations with
        their quotes) for the Export button; None when there is nothing to export."""
        answers = self.conversations.answers(conversation, user) if conversation else []
        if not answers or conversation is None:
            return None
        title = self.conversations.title(conversation, user)
        folder = Path(tempfile.gettempdir()) / "qa-exports" / conversation
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:60] or "conversation"
        path = folder / f"{name}.md"
        path.write_text(as_markdown(title, answers), encoding="utf-8")
        return str(path)

    def upload(self, paths: Sequence[str] | None,
               progress: Progress | None = None) -> tuple[list[list[Any]], str]:
        if not paths:
            return library_rows(self.assistant), "Choose .txt, .md or .html files to upload."
        try:
            uploads = [(Path(p).name, Path(p).read_bytes()) for p in paths]
            report = self.assistant.add_files(uploads, on_progress=progress)
            message = report_text(report)
        except QAError as exc:
            message = f"⚠️ {exc}"
        except OSError as exc:
            message = f"⚠️ cannot read the upload: {exc.strerror or exc}"
        return library_rows(self.assistant), message

    def add_urls(self, text: str | None) -> tuple[list[list[Any]], str]:
        """Articles by URL, one per line (or separated by spaces)."""
        urls = (text or "").split()
        if not urls:
            return library_rows(self.assistant), "Paste the address of an article page."
        try:
            message = report_text(self.assistant.add_urls(urls))
        except QAError as exc:
            message = f"⚠️ {exc}"
        return library_rows(self.assistant), message

    def remove(self, source: str | None) -> tuple[list[list[Any]], str]:
        if not source:
            return library_rows(self.assistant), "Pick a file to remove."
        try:
            report = self.assistant.remove(source)
            message = f"Removed `{report.source}` ({report.chunks} passages)."
        except QAError as exc:
            message = f"⚠️ {exc}"
        return library_rows(self.assistant), message

    def reindex(self, progress: Progress | None = None) -> tuple[list[list[Any]], str]:
        try:
            message = report_text(self.assistant.reindex(on_progress=progress))
        except QAError as exc:
            message = f"⚠️ {exc}"
        return library_rows(self.assistant), message

    def sources_table(self) -> list[list[Any]]:
        return library_rows(self.assistant)

    def sources(self) -> list[str]:
        return [r.source for r in self.assistant.files()]


def start_watching(assistant: Assistant) -> FolderWatcher | None:
    """The watcher of ``QA_WATCH_DIRS`` (None when it names none), started in a thread: it
    brings those folders up to date, then follows their changes."""
    folders = assistant.settings.watch_paths
    if not folders:
        return None
    from qa.ingest.watching import FolderWatcher

    watcher = FolderWatcher(lambda roots: assistant.ingest(roots), folders)
    watcher.start()
    return watcher
