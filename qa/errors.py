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
    """The LLM endpoint failed: unreachable, timed out, refused or answered nonsense.
    ``status`` is the HTTP status worth passing on to our own API clients (429, 503, 504...)."""

    def __init__(self, message: str, *, status: int = 502, retry_after: str | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ContextTooLong(LLMError):
    """The prompt did not fit the model's context window."""


class IndexBuilding(IndexUnavailable):
    """The index is being built from the corpus folder: no answer until it is complete.
    ``retry_after``: seconds worth waiting before asking again."""

    def __init__(self, done: int, total: int, retry_after: int = 5) -> None:
        progress = f": {done} of {total} articles done" if total else ""
        super().__init__(f"still indexing the articles{progress}; ask again in a few seconds")
        self.done = done
        self.total = total
        self.retry_after = retry_after


class IndexLocked(IndexUnavailable):
    """Another process is writing the same on-disk index."""


class PromptError(QAError):
    """A prompt template is missing or does not have the fields the code fills in."""
