"""The web chat's conversation store (``QA_HISTORY_DB``): per user, kept across restarts,
renamed, deleted, exported as Markdown with numbered citations."""

from pathlib import Path

import pytest

from qa.errors import QAError
from qa.serve.conversations import ConversationStore, as_markdown
from qa.types import Answer, Citation

pytestmark = pytest.mark.unit


def _answer(question: str, n: int = 1) -> Answer:
    cite = Citation(n=n, source="a.txt", path="/x/a.txt", title="Deal", quote="Iran got 29.",
                    start=10, end=22, outlet="Fars", published="2016-01-05",
                    url="https://example.com/a")
    return Answer(question=question, text=f"Iran got 29. [{n}]", answered=True,
                  mode="extractive", citations=(cite,))


def test_conversations_are_kept_per_user_and_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    store = ConversationStore(db)
    first = store.add(None, "alice", _answer("How many?"))
    assert store.add(first, "alice", _answer("And when?", 2)) == first
    other = store.add(first, "bob", _answer("Bob asks"))  # not bob's: a new one of his own
    assert other != first
    again = ConversationStore(db)  # the app restarted
    assert [c.title for c in again.of_user("alice")] == ["How many?"]
    assert [a.question for a in again.answers(first, "alice")] == ["How many?", "And when?"]
    assert again.answers(first, "bob") == []
    assert again.answers(first, "alice")[1].citations[0].quote == "Iran got 29."
    again.rename(first, "bob", "stolen")  # another user's: nothing happens
    again.delete(first, "bob")
    assert again.title(first, "alice") == "How many?"
    again.rename(first, "alice", "  Tor-M1   deliveries ")
    assert again.title(first, "alice") == "Tor-M1 deliveries"
    with pytest.raises(QAError, match="name"):
        again.rename(first, "alice", "   ")
    again.delete(first, "alice")
    assert again.of_user("alice") == [] and again.answers(first, "alice") == []


def test_export_has_questions_answers_and_numbered_quotes() -> None:
    text = as_markdown("Tor-M1", [_answer("How many?"), _answer("And who?", 2)])
    assert text.startswith("# Tor-M1\n")
    assert "## How many?\n\nIran got 29. [1]" in text
    assert ("[2] a.txt (Deal, Fars, 2016-01-05), characters 10-22, https://example.com/a:\n"
            "> Iran got 29.") in text


def test_an_unusable_history_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(QAError, match=r"dir\.sqlite"):
        ConversationStore(tmp_path / "dir.sqlite")


def test_owners_are_the_login_or_the_browser_and_the_browser_secret_is_kept(
        tmp_path: Path) -> None:
    from qa.serve.web import Handlers

    assert Handlers.owner("alice", "b1") == "user:alice"  # a login wins over the browser
    assert Handlers.owner(None, "b1") == "browser:b1"
    assert Handlers.owner("", None) == ""  # nobody yet: nothing is kept or listed
    assert Handlers.owner(None, "alice") != Handlers.owner("alice", None)
    assert Handlers.new_browser() != Handlers.new_browser()
    db = tmp_path / "history.sqlite"
    secret = ConversationStore(db).secret()
    assert len(secret) >= 24 and ConversationStore(db).secret() == secret  # across restarts
    assert ConversationStore(tmp_path / "other.sqlite").secret() != secret
