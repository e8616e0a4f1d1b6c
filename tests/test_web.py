"""The web handlers called directly (no browser), on the real index."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import Answer, Assistant, load_settings
from qa.serve.web import Handlers, render_answer, render_sources
from vectorstore import SentenceTransformerEmbedder

pytestmark = pytest.mark.real

Q = "How many Tor-M1 air defense systems did Iran receive?"


@pytest.fixture
def handlers(real_index: Path, bundled_embedder: SentenceTransformerEmbedder,
             tmp_path: Path) -> Handlers:
    settings = load_settings(index_dir=real_index / "index", corpus_dir=real_index / "articles",
                             upload_dir=tmp_path / "uploads", max_upload_mb=0.01)
    return Handlers(Assistant(settings, embedder=bundled_embedder))


def _last(handlers: Handlers, question: str, chat=None, turns=None, mode="extractive"):  # type: ignore[no-untyped-def]
    *_, last = handlers.respond(question, chat or [], turns or [], mode, 5)
    return last


def test_respond_streams_and_renders_clickable_citations(handlers: Handlers) -> None:
    steps = list(handlers.respond(Q, [], [], "extractive", 5))
    assert steps[0][0][-1]["content"] == "…"  # the placeholder shows at once
    chat, turns, sources, box = steps[-1]
    assert box == ""
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert 'href="#cite-0-1"' in chat[-1]["content"] and "29" in chat[-1]["content"]
    assert len(turns) == 1 and isinstance(turns[0], Answer)
    assert 'id="cite-0-1"' in sources and '<mark class="quote">' in sources
    assert "29 Russian-made Tor-M1" in sources.split('<mark class="quote">')[1]


def test_follow_up_uses_the_session_history(handlers: Handlers) -> None:
    chat, turns, _, _ = _last(handlers, Q)
    chat, turns, sources, _ = _last(handlers, "And when was the contract signed?", chat, turns)
    assert len(turns) == 2 and "2005" in turns[1].text
    assert 'href="#cite-1-1"' in chat[-1]["content"]
    assert sources.index("Q2:") < sources.index("Q1:")  # latest first


def test_abstention_looks_different(handlers: Handlers) -> None:
    chat, turns, sources, _ = _last(handlers, "How many S-400 systems did Russia deliver?")
    assert not turns[0].answered
    assert '<span class="abstain">Not in the articles</span>' in chat[-1]["content"]
    assert "Retrieved, not cited" in sources


def test_llm_failure_is_a_message_with_the_extractive_answer(
        real_index: Path, bundled_embedder: SentenceTransformerEmbedder) -> None:
    settings = load_settings(index_dir=real_index / "index", llm_base_url="http://127.0.0.1:9/v1",
                             llm_timeout=2, llm_max_retries=0)
    h = Handlers(Assistant(settings, embedder=bundled_embedder))
    assert h.modes() == ["extractive", "llm"]
    chat, turns, _, _ = _last(h, Q, mode="llm")
    assert "cannot reach the LLM endpoint" in chat[-1]["content"]
    assert "29" in chat[-1]["content"] and turns[0].mode == "extractive"
    assert "Traceback" not in chat[-1]["content"]


def test_errors_never_show_a_traceback(handlers: Handlers) -> None:
    chat, turns, _, _ = _last(handlers, "   ")
    assert [m["role"] for m in chat] == ["assistant"] and turns == []  # a prompt, no turn
    assert "ask something" in chat[0]["content"] and "Traceback" not in chat[0]["content"]


def test_sessions_do_not_share_history(handlers: Handlers) -> None:
    _a_chat, a_turns, _, _ = _last(handlers, Q)
    _b_chat, b_turns, _, _ = _last(handlers, "When was the UN arms embargo on Iran lifted?")
    assert len(a_turns) == len(b_turns) == 1
    assert a_turns[0].question != b_turns[0].question
    assert handlers.clear() == ([], [], render_sources([]))


def test_upload_remove_and_reindex(handlers: Handlers, tmp_path: Path) -> None:
    article = tmp_path / "../kazakh fighters!.md"
    article.write_text("# Kazakhstan buys fighters\n\nKazakhstan bought 12 Su-30SM fighters "
                       "from Russia in March 2015, the defence ministry said.\n")
    rows, message = handlers.upload([str(article)])
    assert "added" in message
    saved = handlers.assistant.settings.upload_dir / "kazakh_fighters.md"
    assert saved.is_file()
    assert any(r[0] == "kazakh_fighters.md" and r[-1] == "indexed" for r in rows)
    _chat, turns, _, _ = _last(handlers, "How many Su-30SM fighters did Kazakhstan buy?")
    assert turns[0].answered and turns[0].citations[0].source == "kazakh_fighters.md"

    rows, message = handlers.remove("kazakh_fighters.md")
    assert "Removed" in message and not saved.exists()
    assert all(r[0] != "kazakh_fighters.md" for r in rows)
    rows, message = handlers.reindex()
    assert "unchanged" in message


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("evil.exe", b"MZ binary", "can be uploaded"),
    ("big.txt", b"x" * 20_000, "upload cap"),
    ("empty.txt", b"  ", "empty"),
])
def test_bad_uploads_are_refused_by_name(handlers: Handlers, tmp_path: Path, name: str,
                                         content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    before = handlers.assistant.count()
    _, message = handlers.upload([str(path)])
    assert message.startswith("⚠️") and name in message and reason in message
    assert handlers.assistant.count() == before


def test_render_answer_escapes_model_text() -> None:
    answer = Answer(question="q", text="<script>alert(1)</script> fine [1]", answered=True,
                    mode="llm")
    rendered = render_answer(answer, 0)
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered


def test_left_out_claims_are_shown_apart_collapsed_and_as_text() -> None:
    from qa.types import Claim

    left = Claim("Brazil won <img src=x onerror=alert(1)> the cup.", -1, -1, (), "unsupported",
                 0.0, ("cites no source",), shown=False)
    answer = Answer(question="q", text="France won the 2018 final [1].", answered=True,
                    mode="llm", claims=(left,))
    rendered = render_answer(answer, 0)
    body, _, apart = rendered.partition('<details class="left-out">')
    assert "Brazil" not in body and "Brazil won" in apart
    assert "Left out: not supported by the sources (1)" in apart and "<img" not in apart


def test_answer_span_is_bold_in_the_sources_panel(handlers: Handlers) -> None:
    _, turns, sources, _ = _last(handlers, Q)
    citation = turns[0].citations[0]
    assert citation.answer_span is not None
    a, b = citation.answer_span
    with open(citation.path, encoding=citation.encoding) as fh:
        assert fh.read()[a:b] == "29"
    assert '<b class="answer-span">29</b>' in sources
