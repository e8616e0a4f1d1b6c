from pathlib import Path

import pytest

from qa.answer.prompts import TEMPLATES, load_template, render
from qa.errors import PromptError

pytestmark = pytest.mark.unit


def test_every_template_loads_with_its_fields() -> None:
    for name in TEMPLATES:
        assert load_template(name)


def test_wrong_fields_are_refused(tmp_path: Path) -> None:
    for name in TEMPLATES:
        (tmp_path / f"{name}.txt").write_text(load_template(name))
    (tmp_path / "answer_user.txt").write_text("Question: {question} {extra}")
    with pytest.raises(PromptError, match=r"answer_user.txt has the wrong fields.*sources"):
        load_template("answer_user", str(tmp_path))


def test_missing_template_named(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match=r"answer_system\.txt is missing"):
        load_template("answer_system", str(tmp_path))


def test_render_fills_fields() -> None:
    text = render("source_block", n=2, source="a.txt", title="T", outlet="O",
                  published="2020-01-02", text="body")
    assert '<source n="2" file="a.txt" title="T" outlet="O" published="2020-01-02">' in text
    assert "body" in text
