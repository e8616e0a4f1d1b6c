"""The project's question set is well formed and honest."""

import json
from pathlib import Path

import pytest

from qa.errors import QAError
from qa.eval.questions import default_questions, load_questions
from qa.settings import BUNDLED_ARTICLES

pytestmark = pytest.mark.unit


def test_question_set_is_valid_and_balanced() -> None:
    questions = load_questions(default_questions())
    assert len(questions) >= 60
    unanswerable = [q for q in questions if not q.answerable]
    assert len(unanswerable) / len(questions) >= 0.15
    assert sum(q.type == "multi_hop" for q in questions) / len(questions) >= 0.10
    assert sum(q.type == "comparison" for q in questions) >= 3
    notes = " ".join(q.notes or "" for q in unanswerable)
    assert "near miss" in notes and "clutter" in notes


def test_gold_files_exist_and_quotes_are_verbatim() -> None:
    for q in load_questions(default_questions()):
        texts = []
        for source in q.gold_sources:
            path = BUNDLED_ARTICLES / source
            assert path.is_file(), f"{q.id}: {source} missing"
            texts.append(path.read_text(encoding="utf-8"))
        for quote in q.gold_quotes:
            assert any(quote in t for t in texts), f"{q.id}: quote not verbatim: {quote[:60]}"


def test_bad_lines_are_named(tmp_path: Path) -> None:
    good = {"id": "x", "question": "How many?", "type": "numeric", "answerable": True,
            "answer_aliases": ["1"], "gold_sources": ["a.txt"], "gold_quotes": []}
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "y", "type": "riddle"}))
    with pytest.raises(QAError, match=r"q\.jsonl, line 2: type"):
        load_questions(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good))
    with pytest.raises(QAError, match="duplicate id 'x'"):
        load_questions(path)
