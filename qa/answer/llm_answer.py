"""LLM answers: numbered sources in, ``[n]``-cited text out, every marker checked."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from qa.answer.citations import MARKER, MarkerRewriter, tidy
from qa.answer.llm import Chat, Message, Usage
from qa.answer.prompts import render
from qa.safety import LinkGuard, sanitize_source, visible
from qa.types import Passage

log = logging.getLogger(__name__)

SENTINEL = "NOT_IN_SOURCES"


@dataclass(frozen=True)
class LLMReply:
    """The model's answer after marker checks: ``cited[n - 1]`` is the passage behind ``[n]``."""

    text: str
    answered: bool
    cited: tuple[Passage, ...]
    dropped: tuple[int, ...]
    raw: str
    incomplete: bool = False  # cut at the token limit
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _attr(value: str) -> str:
    return visible(value).replace('"', "'").replace("<", "(").replace(">", ")")


class LLMAnswerer:
    def __init__(self, chat: Chat, *, prompts_dir: str | None = None) -> None:
        self.chat = chat
        self.prompts_dir = prompts_dir

    def messages(self, question: str, passages: Sequence[Passage],
                 history: Sequence[tuple[str, str]] = ()) -> list[Message]:
        blocks = "\n\n".join(
            render("source_block", self.prompts_dir, n=i, source=_attr(p.source),
                   title=_attr(p.title), outlet=_attr(p.outlet or "unknown"),
                   published=p.published or "unknown", text=sanitize_source(p.text))
            for i, p in enumerate(passages, 1)
        )
        msgs: list[Message] = [
            {"role": "system", "content": render("answer_system", self.prompts_dir,
                                                 sentinel=SENTINEL)},
        ]
        for user, assistant in history:
            msgs.append({"role": "user", "content": user})
            msgs.append({"role": "assistant", "content": assistant})
        msgs.append({"role": "user", "content": render(
            "answer_user", self.prompts_dir, sources=blocks, question=question, sentinel=SENTINEL)})
        return msgs

    def condense(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """The follow-up ``question`` rewritten as a stand-alone question."""
        transcript = "\n".join(f"User: {q}\nAssistant: {MARKER.sub('', a)}"
                               for q, a in history[-4:])
        prompt = render("condense", self.prompts_dir, history=transcript, question=question)
        text, _ = self.chat.complete([{"role": "user", "content": prompt}])
        line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        return line.strip('"') or question

    def repair(self, question: str, passages: Sequence[Passage],
               history: Sequence[tuple[str, str]], previous: str,
               problems: Sequence[str]) -> LLMReply:
        """One more try after unsupported claims, naming each of them."""
        msgs = self.messages(question, passages, history)
        msgs.append({"role": "assistant", "content": previous})
        listed = "\n".join(f"- {p}" for p in problems)
        msgs.append({"role": "user", "content": render("repair", self.prompts_dir,
                                                       problems=listed, sentinel=SENTINEL)})
        raw, usage = self.chat.complete(msgs)
        rewriter = MarkerRewriter(frozenset(range(1, len(passages) + 1)))
        text = rewriter.feed(raw) + rewriter.flush()
        return self._reply(raw, text, rewriter, passages, usage)

    def answer(self, question: str, passages: Sequence[Passage],
               history: Sequence[tuple[str, str]] = ()) -> LLMReply:
        raw, usage = self.chat.complete(self.messages(question, passages, history))
        rewriter = MarkerRewriter(frozenset(range(1, len(passages) + 1)))
        text = rewriter.feed(raw) + rewriter.flush()
        return self._reply(raw, text, rewriter, passages, usage)

    def stream(self, question: str, passages: Sequence[Passage],
               history: Sequence[tuple[str, str]] = ()) -> Iterator[str | LLMReply]:
        """Yields display-ready text pieces, then the :class:`LLMReply`. Nothing is shown until
        it is clear the reply is not the abstention sentinel, and no piece carries a link or
        image to a host that is not the sources' own (the reply's text keeps them, for the
        final cleaning to count)."""
        rewriter = MarkerRewriter(frozenset(range(1, len(passages) + 1)))
        guard = LinkGuard(p.url for p in passages if p.url)
        raw_parts: list[str] = []
        shown: list[str] = []
        deciding = True
        pieces = self.chat.stream(self.messages(question, passages, history))
        while True:
            try:
                piece = next(pieces)
            except StopIteration as stop:
                usage = stop.value
                break
            raw_parts.append(piece)
            if deciding:
                head = "".join(raw_parts).lstrip()
                if len(head) < len(SENTINEL) and SENTINEL.startswith(head):
                    continue
                deciding = False
                if head.startswith(SENTINEL):
                    continue
                piece = "".join(raw_parts)
            if SENTINEL in "".join(raw_parts):
                continue
            out = rewriter.feed(piece)
            shown.append(out)
            safe = guard.feed(out)
            if safe:
                yield safe
        raw = "".join(raw_parts)
        if SENTINEL not in raw:
            shown.append(rewriter.flush())
            tail = guard.feed(shown[-1]) + guard.flush()
            if tail:
                yield tail
        yield self._reply(raw, "".join(shown), rewriter, passages, usage)

    @staticmethod
    def _reply(raw: str, text: str, rewriter: MarkerRewriter,
               passages: Sequence[Passage], usage: Usage | None) -> LLMReply:
        prompt = (usage.prompt_tokens or 0) if usage else 0
        completion = (usage.completion_tokens or 0) if usage else 0
        if SENTINEL in raw or not raw.strip():
            return LLMReply("", False, (), tuple(rewriter.dropped), raw,
                            prompt_tokens=prompt, completion_tokens=completion)
        order = sorted(rewriter.mapping, key=rewriter.mapping.__getitem__)
        return LLMReply(tidy(text), True, tuple(passages[i - 1] for i in order),
                        tuple(rewriter.dropped), raw,
                        usage is not None and usage.finish_reason == "length",
                        prompt_tokens=prompt, completion_tokens=completion)
