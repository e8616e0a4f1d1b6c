"""The web chat's conversations, kept in SQLite (``QA_HISTORY_DB``): a page reload or an app
restart shows them again; each user (``QA_AUTH``) sees only their own, and without a login each
browser only its own. Each turn is stored as
the answer's JSON (``Answer.to_json()``), the same shape as ``qa ask --json``.

The Python API keeps history explicit (``ask(..., history=[...])``); only the web chat uses
this store."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from qa.errors import QAError
from qa.types import Answer

SCHEMA = """
create table if not exists conversations (
    id text primary key, user text not null, title text not null,
    created real not null, updated real not null);
create table if not exists turns (
    conversation text not null references conversations(id) on delete cascade,
    position integer not null, answer text not null, primary key (conversation, position));
create index if not exists conversations_by_user on conversations(user, updated);
create table if not exists meta (key text primary key, value text not null);
"""


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    updated: float


class ConversationStore:
    """Conversations per owner. Every method takes the owner (the user's name with
    ``QA_AUTH``, else the browser's random id) and finds nothing of another owner's."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._db() as db:
                db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise QAError(f"cannot open the conversation history {self.path}: {exc} "
                          "(QA_HISTORY_DB)") from exc

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=10)
            try:
                db.execute("pragma foreign_keys = on")
                with db:  # one transaction
                    yield db
            finally:
                db.close()

    def secret(self) -> str:
        """A random key made once per history file: the web page encrypts each browser's id
        with it in the browser's storage, so the id still reads after an app restart."""
        with self._db() as db:
            db.execute("insert or ignore into meta values ('browser-secret', ?)",
                       (secrets.token_urlsafe(24),))
            row = db.execute("select value from meta where key = 'browser-secret'").fetchone()
        return str(row[0])

    def of_user(self, user: str) -> list[Conversation]:
        """The user's conversations, the latest first."""
        with self._db() as db:
            rows = db.execute("select id, title, updated from conversations where user = ? "
                              "order by updated desc", (user,)).fetchall()
        return [Conversation(*row) for row in rows]

    def answers(self, conversation: str, user: str) -> list[Answer]:
        """The conversation's answers in order (empty when it is not the user's)."""
        with self._db() as db:
            rows = db.execute(
                "select t.answer from turns t join conversations c on c.id = t.conversation "
                "where c.id = ? and c.user = ? order by t.position", (conversation, user)
            ).fetchall()
        return [Answer.from_json(json.loads(row[0])) for row in rows]

    def add(self, conversation: str | None, user: str, answer: Answer) -> str:
        """Appends ``answer`` to the conversation (a new one, titled by its question, when
        ``conversation`` is None or not the user's); returns the conversation's id."""
        now = time.time()
        with self._db() as db:
            owned = conversation is not None and db.execute(
                "select 1 from conversations where id = ? and user = ?",
                (conversation, user)).fetchone()
            if not owned:
                conversation = uuid.uuid4().hex
                title = " ".join(answer.question.split())
                db.execute("insert into conversations values (?, ?, ?, ?, ?)",
                           (conversation, user, title[:80] or "Conversation", now, now))
            position = db.execute("select count(*) from turns where conversation = ?",
                                  (conversation,)).fetchone()[0]
            db.execute("insert into turns values (?, ?, ?)",
                       (conversation, position, json.dumps(answer.to_json())))
            db.execute("update conversations set updated = ? where id = ?", (now, conversation))
        assert conversation is not None
        return conversation

    def rename(self, conversation: str, user: str, title: str) -> None:
        title = " ".join(title.split())[:80]
        if not title:
            raise QAError("give the conversation a name")
        with self._db() as db:
            db.execute("update conversations set title = ? where id = ? and user = ?",
                       (title, conversation, user))

    def delete(self, conversation: str, user: str) -> None:
        with self._db() as db:
            db.execute("delete from conversations where id = ? and user = ?",
                       (conversation, user))

    def title(self, conversation: str, user: str) -> str:
        return next((c.title for c in self.of_user(user) if c.id == conversation), "")


def as_markdown(title: str, answers: Sequence[Answer]) -> str:
    """A conversation to read or keep: each question, its answer, and the answer's numbered
    citations with their quotes."""
    lines = [f"# {title or 'Conversation'}", ""]
    for answer in answers:
        lines += [f"## {answer.question}", "", answer.text, ""]
        for c in answer.citations:
            about = ", ".join(x for x in (c.title, c.outlet, c.published) if x)
            quote = " ".join(c.quote.split())
            lines.append(f"[{c.n}] {c.source}" + (f" ({about})" if about else "")
                         + f", characters {c.start}-{c.end}" + (f", {c.url}" if c.url else "")
                         + f":\n> {quote}\n")
        if not answer.citations:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
