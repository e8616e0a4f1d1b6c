"""The one error family of the assistant.

The CLI and the UI show ``str(error)``, never a traceback.
"""


class QAError(Exception):
    """Base class of every error the assistant raises on purpose."""


class ConfigError(QAError):
    """A setting is missing or wrong; the message names it."""


class IngestError(QAError):
    """A file or folder could not be ingested; the message names it."""


class IndexUnavailable(QAError):
    """The index cannot be opened or used (settings mismatch, unreachable server)."""


class LLMError(QAError):
    """The LLM endpoint failed: unreachable, timed out, refused or answered nonsense."""


class PromptError(QAError):
    """A prompt template is missing or does not have the fields the code fills in."""
