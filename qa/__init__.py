"""Ask a folder of articles; every claim is cited to a file and a verbatim quote.

>>> from qa import Assistant
>>> assistant = Assistant()
>>> assistant.ensure_ingested()
>>> answer = assistant.ask("How many Tor-M1 air defense systems did Iran receive?")
>>> from qa import evaluate_set
>>> report = evaluate_set(assistant, "eval/questions.jsonl", out="eval-report")
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.assistant import Assistant
    from qa.errors import (
        ConfigError,
        IndexUnavailable,
        IngestError,
        LLMError,
        PromptError,
        QAError,
    )
    from qa.eval.runner import evaluate_set
    from qa.settings import Settings, load_settings
    from qa.types import Answer, Citation, FileReport, IngestReport, Passage

# Loaded when first used (PEP 562): `qa ask` talking to a running server never imports the
# embedding model, Chroma or llama-index.
_HOME = {
    "Assistant": "qa.assistant", "evaluate_set": "qa.eval.runner",
    "Settings": "qa.settings", "load_settings": "qa.settings",
    **dict.fromkeys(("ConfigError", "IndexUnavailable", "IngestError", "LLMError",
                     "PromptError", "QAError"), "qa.errors"),
    **dict.fromkeys(("Answer", "Citation", "FileReport", "IngestReport", "Passage"),
                    "qa.types"),
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'qa' has no attribute {name!r}")
    value = getattr(import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = [
    "Answer",
    "Assistant",
    "Citation",
    "ConfigError",
    "FileReport",
    "IndexUnavailable",
    "IngestError",
    "IngestReport",
    "LLMError",
    "Passage",
    "PromptError",
    "QAError",
    "Settings",
    "evaluate_set",
    "load_settings",
]
