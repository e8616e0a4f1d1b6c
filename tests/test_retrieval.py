"""Retrieval does not depend on where the articles are stored: the same files under another
folder give the same passages in the same order (chunk ids hash the absolute path, so they
must never decide a ranking)."""

import json
import shutil
from pathlib import Path

import pytest

from qa import Assistant, load_settings
from qa.settings import BUNDLED_ARTICLES
from vectorstore import HashEmbedder

pytestmark = pytest.mark.fakes

QUESTIONS = Path(__file__).resolve().parent.parent / "eval" / "questions.jsonl"


def _ranking(root: Path, questions: list[str]) -> list[list[tuple[str, int, int]]]:
    corpus = root / "articles"
    shutil.copytree(BUNDLED_ARTICLES, corpus)
    assistant = Assistant(load_settings(index_dir=root / "index", embed_model="hash"),
                          embedder=HashEmbedder())
    assistant.ingest([corpus])
    return [[(p.source, p.start, p.end) for p in assistant.retrieve(q, top_k=10).passages]
            for q in questions]


def test_the_same_articles_rank_the_same_wherever_they_are_stored(tmp_path: Path) -> None:
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()]
    here = _ranking(tmp_path / "a", questions)
    there = _ranking(tmp_path / "somewhere" / "else" / "entirely", questions)
    assert all(len(r) == 10 for r in here)
    differing = [q for q, a, b in zip(questions, here, there, strict=True) if a != b]
    assert differing == []
