"""Prompt templates from ``prompts/``: plain text with named ``{fields}``, checked at load."""

from __future__ import annotations

import functools
import importlib.util
import string
from pathlib import Path

from qa.errors import PromptError

# every template the code uses, and exactly the fields it fills in
TEMPLATES: dict[str, frozenset[str]] = {
    "answer_system": frozenset({"sentinel"}),
    "answer_user": frozenset({"sources", "question", "sentinel"}),
    "source_block": frozenset({"n", "source", "title", "outlet", "published", "text"}),
    "judge": frozenset({"question", "aliases", "answer"}),
    "condense": frozenset({"history", "question"}),
    "repair": frozenset({"problems", "sentinel"}),
}


def template_fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


@functools.cache
def _read(name: str, directory: str | None) -> str:
    if directory:
        path = Path(directory) / f"{name}.txt"
        if not path.is_file():
            raise PromptError(f"prompt template {path} is missing")
        return path.read_text(encoding="utf-8")
    path = bundled_prompts_dir() / f"{name}.txt"
    if not path.is_file():
        raise PromptError(f"prompt template {path} is missing")
    return path.read_text(encoding="utf-8")


@functools.cache
def bundled_prompts_dir() -> Path:
    """The project's ``prompts/`` folder (a data-only package, installed beside ``qa``)."""
    spec = importlib.util.find_spec("prompts")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location, "answer_system.txt").is_file():
            return Path(location)
    return Path(__file__).resolve().parents[2] / "prompts"


def load_template(name: str, directory: str | None = None) -> str:
    """The template ``name``; raises PromptError if its fields differ from what the code fills."""
    if name not in TEMPLATES:
        raise PromptError(f"unknown prompt template {name!r}")
    text = _read(name, directory)
    try:
        fields = template_fields(text)
    except ValueError as exc:
        raise PromptError(f"prompt template {name}.txt is malformed: {exc}") from exc
    expected = TEMPLATES[name]
    if fields != expected:
        missing, extra = sorted(expected - fields), sorted(fields - expected)
        raise PromptError(
            f"prompt template {name}.txt has the wrong fields: missing {missing}, unknown {extra}"
        )
    return text


def render(name: str, directory: str | None = None, **values: object) -> str:
    return load_template(name, directory).format(**values)
