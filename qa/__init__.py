"""Ask a folder of articles; every claim is cited to a file and a verbatim quote.

>>> from qa import Assistant
>>> assistant = Assistant()
>>> assistant.ensure_ingested()
>>> answer = assistant.ask("How many Tor-M1 air defense systems did Iran receive?")
>>> from qa import evaluate_set
>>> report = evaluate_set(assistant, "eval/questions.jsonl", out="eval-report")
"""

from qa.assistant import Assistant
from qa.errors import ConfigError, IndexUnavailable, IngestError, LLMError, PromptError, QAError
from qa.eval.runner import evaluate_set
from qa.settings import Settings, load_settings
from qa.types import Answer, Citation, FileReport, IngestReport, Passage

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
