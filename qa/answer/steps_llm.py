"""The LLM answering steps: the model's reply (streamed or not, retried once with fewer
passages when they do not fit), its citations checked against the files, claims attributed
after the fact, one repair, then unsupported claims left out or marked."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from typing import Literal

from qa.answer.attribution import attribute, carry_flags, flag_added, keep_cited, leave_out
from qa.answer.citations import citations_for
from qa.answer.claims import check_claims, mark_unsupported
from qa.answer.conversation import Turn
from qa.answer.extractive import NOT_IN_ARTICLES
from qa.answer.llm import Chat
from qa.answer.llm_answer import LLMAnswerer, LLMReply
from qa.answer.retrieval import Retrieval
from qa.answer.verify import FileCache, verify
from qa.errors import ContextTooLong, LLMError
from qa.safety import strip_foreign_links
from qa.types import Answer, Citation, Claim, Passage
from vectorstore import Embedder

log = logging.getLogger(__name__)

# the extractive answer to give instead: (question, retrieval, notes) -> Answer
Extract = Callable[[str, Retrieval, list[str]], Answer]


class LLMSteps:
    """Answers with ``chat`` from retrieved passages; ``instead`` gives the extractive answer
    when nothing the model said holds."""

    def __init__(self, chat: Chat, embedder: Embedder, instead: Extract, *,
                 prompts_dir: str | None = None,
                 unsupported: Literal["remove", "mark"] = "remove") -> None:
        self.chat = chat
        self.embedder = embedder
        self.instead = instead
        self.unsupported = unsupported
        self.answerer = LLMAnswerer(chat, prompts_dir=prompts_dir)

    def condense(self, question: str, turns: list[Turn]) -> str | None:
        """A follow-up rewritten as a stand-alone question by the LLM (None if that fails)."""
        try:
            rewritten = self.answerer.condense(question, turns)
        except LLMError as exc:
            log.warning("could not rewrite the follow-up: %s", exc)
            return None
        log.info("follow-up %r rewritten as %r", question, rewritten)
        return rewritten

    def answer(self, question: str, turns: list[Turn], retrieval: Retrieval,
               streaming: bool) -> Generator[str, None, Answer]:
        t0 = time.perf_counter()
        passages = retrieval.passages
        notes: list[str] = []
        try:
            reply = yield from self._reply(question, passages, turns, streaming)
        except ContextTooLong as exc:
            if len(passages) < 2:
                raise
            # the request was refused before any text came: once more with half the passages
            passages = passages[: len(passages) // 2]
            log.warning("%s; retrying with %d passages", exc, len(passages))
            notes.append(f"The sources did not fit the model's context; answered from the "
                         f"best {len(passages)} passages.")
            reply = yield from self._reply(question, passages, turns, streaming)
        text, citations, claims = self._checked(reply, passages, notes)
        tokens = {"prompt_tokens": reply.prompt_tokens,
                  "completion_tokens": reply.completion_tokens}
        bad = [c for c in claims if c.label == "unsupported"]
        if bad:  # one repair attempt, naming each failing claim
            problems = [f'"{c.text}" ({"; ".join(c.reasons)})' for c in bad]
            log.info("repairing %d unsupported claim(s)", len(bad))
            reply = self.answerer.repair(question, passages, turns, reply.raw, problems)
            tokens = {"prompt_tokens": tokens["prompt_tokens"] + reply.prompt_tokens,
                      "completion_tokens": tokens["completion_tokens"] + reply.completion_tokens}
            notes.append(f"{len(bad)} unsupported claim(s) in the first answer; the model was "
                         "asked once to repair them.")
            text, citations, claims = self._checked(reply, passages, notes)
            if any(c.label == "unsupported" for c in claims):
                if self.unsupported == "mark":
                    text = mark_unsupported(text, claims)
                    claims = ()  # the markers moved the offsets: finishing checks the final text
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
                        return replace(self._instead(question, retrieval, notes, claims, t0),
                                       tokens=tokens)
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
        text, citations = self._citations(reply, passages, notes)
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

    def _instead(self, question: str, retrieval: Retrieval, notes: list[str],
                 claims: tuple[Claim, ...], t0: float) -> Answer:
        """No claim of the LLM's answer is supported: the extractive answer (or "the articles
        don't say"), with the LLM's claims kept as left out."""
        notes.append("The LLM's answer was not supported by the sources; the extractive answer "
                     "is shown instead.")
        answer = self.instead(question, retrieval, notes)
        return replace(answer, claims=claims, model=self.chat.model,
                       timings={"answer_ms": (time.perf_counter() - t0) * 1000})

    def _reply(self, question: str, passages: Sequence[Passage], turns: list[Turn],
               streaming: bool) -> Generator[str, None, LLMReply]:
        if not streaming:
            return self.answerer.answer(question, passages, turns)
        reply = None
        for item in self.answerer.stream(question, passages, turns):
            if isinstance(item, str):
                yield item
            else:
                reply = item
        assert reply is not None
        return reply

    def _citations(self, reply: LLMReply, passages: Sequence[Passage],
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
