"""The evaluation question set: one JSON object per line, validated at the edge with pydantic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qa.errors import QAError

QuestionType = Literal["factoid", "numeric", "date", "list", "multi_hop", "comparison",
                       "unanswerable"]


class EvalQuestion(BaseModel):
    """One question with its gold answer aliases, source files and verbatim quotes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    question: str = Field(min_length=3)
    type: QuestionType
    answerable: bool
    answer_aliases: list[str] = Field(default_factory=list)
    gold_sources: list[str] = Field(default_factory=list)
    gold_quotes: list[str] = Field(default_factory=list)
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EvalQuestion:
        if self.answerable and not (self.answer_aliases and self.gold_sources):
            raise ValueError("an answerable question needs answer_aliases and gold_sources")
        if not self.answerable and (self.type != "unanswerable" or self.answer_aliases):
            raise ValueError("an unanswerable question has type unanswerable and no aliases")
        return self


def default_questions() -> Path:
    return Path(__file__).resolve().parents[2] / "eval" / "questions.jsonl"


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Read and validate ``path``; errors name the file, line and field."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QAError(f"cannot read the question set {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise QAError(f"the question set {path} is not UTF-8 text (byte {exc.start})") from exc
    out: list[EvalQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = EvalQuestion.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise QAError(f"{path}, line {number}: not JSON ({exc.msg})") from exc
        except ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}"
                               for e in exc.errors())
            raise QAError(f"{path}, line {number}: {fields}") from exc
        if item.id in seen:
            raise QAError(f"{path}, line {number}: duplicate id {item.id!r}")
        seen.add(item.id)
        out.append(item)
    if not out:
        raise QAError(f"the question set {path} is empty")
    return out
