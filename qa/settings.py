"""All settings in one object, read from ``QA_*`` environment variables when it is built."""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.errors import ConfigError

log = logging.getLogger(__name__)

BUNDLED_ARTICLES = Path(__file__).resolve().parent / "data" / "articles"


class Settings(BaseSettings):
    """Every knob of the assistant. Environment variables use the prefix ``QA_``
    (``QA_TOP_K=8``); ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are honoured as fallbacks."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="forbid", frozen=True)

    # where the index lives
    index_dir: Path = Field(Path(".qa_index"), description="Chroma directory of the index.")
    chroma_url: str | None = Field(
        None, description="URL of a Chroma server (`chroma run`); overrides index_dir."
    )
    collection: str = Field("articles", description="Chroma collection name.")
    corpus_dir: Path = Field(
        BUNDLED_ARTICLES, description="Folder ingested when the index is empty."
    )

    # ingestion
    embed_model: str = Field(
        "bundled",
        description="`bundled` (all-MiniLM-L6-v2), a sentence-transformers name or path, "
        "`openai:MODEL` for an OpenAI-compatible embeddings endpoint, or `hash` (tests).",
    )
    embed_base_url: str | None = Field(None, description="Base URL for `openai:` embeddings.")
    embed_batch_size: int = Field(32, ge=1, le=4096, description="Texts per embedding batch.")
    chunk_size: int = Field(
        160, ge=32, le=2048, description="Chunk size in tiktoken (cl100k_base) tokens."
    )
    chunk_overlap: int = Field(24, ge=0, le=512, description="Token overlap between chunks.")
    max_file_mb: float = Field(20.0, gt=0, description="Larger files are skipped.")
    clean_clutter: bool = Field(
        True, description="Leave page clutter (menus, sidebars, prompts) out of the index.")

    # retrieval
    top_k: int = Field(5, ge=1, le=50, description="Passages given to the answerer.")
    candidates: int = Field(
        20, ge=1, le=500, description="Candidates each retriever (dense, BM25) proposes."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    dedup_threshold: float = Field(
        0.8, ge=0, le=1, description="Word-shingle Jaccard above which passages are duplicates."
    )

    # answering
    mode: Literal["auto", "extractive", "llm"] = Field(
        "auto", description="`auto`: llm when an endpoint or key is configured, else extractive."
    )
    min_support: float | None = Field(
        None, ge=0, le=1, description="Extractive abstention threshold on the reader's "
        "probability (default: the one calibrated on held-out data; see README: calibration)."
    )
    max_sentences: int = Field(2, ge=1, le=3, description="Sentences in an extractive answer.")
    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint base URL.")
    llm_api_key: str | None = Field(None, description="API key (else OPENAI_API_KEY).")
    llm_model: str = Field("gpt-4o-mini", description="Chat model name.")
    llm_timeout: float = Field(
        60.0, gt=0, description="Seconds one LLM request may wait for the endpoint (per attempt; "
        "worst case before the fallback: timeout x (1 + retries) + backoff).")
    llm_max_retries: int = Field(
        2, ge=0, le=10, description="The openai client's retries (connection errors, timeouts, "
        "429 honouring Retry-After, 5xx), with exponential backoff.")
    llm_answer_limit: float = Field(
        180.0, gt=0, description="Most seconds a streamed LLM answer may take in all; a longer "
        "one is cut off and the extractive answer is given instead.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    llm_max_tokens: int = Field(512, ge=16, description="Most tokens in an LLM answer.")
    llm_fallback: bool = Field(
        True, description="Answer extractively (with a note) when the LLM endpoint fails."
    )
    unsupported: Literal["remove", "mark"] = Field(
        "remove", description="LLM claims no source backs after one repair: `remove` takes them "
        "out of the answer (listed apart as left out), `mark` keeps them marked [unsupported].")
    # web app
    max_question_chars: int = Field(
        4000, ge=100, description="Longer questions are refused with a message.")
    lock_timeout: float = Field(
        60.0, ge=0, description="Seconds `qa ingest` waits for another writer of the same "
        "on-disk index before giving up.")
    upload_dir: Path = Field(Path("uploads"), description="Folder uploaded articles are kept in.")
    url_timeout: float = Field(20.0, gt=0, description="Seconds to fetch a page by URL.")
    url_allow_private: bool = Field(
        False, description="Let `qa ingest URL` fetch from loopback, private and link-local "
        "addresses (off: a server must not be made to fetch its own network).")
    watch_dirs: str = Field(
        "", description="Folders the web app keeps in step with the index as files are added, "
        "edited and deleted (separated by commas or the path separator).")
    max_upload_mb: float = Field(5.0, gt=0, description="Largest accepted upload.")
    auth: str | None = Field(
        None, description="`user:password` (several: `alice:pw1,bob:pw2`) to require a login "
        "in the UI; each user sees only their own conversations.")
    history_db: Path | None = Field(
        None, description="SQLite file of the web chat's conversations (default: beside the "
        "index, `<index dir>-history.sqlite`).")
    concurrency: int = Field(
        4, ge=1, le=64, description="Chat answers computed at once by the web app (Gradio's "
        "concurrency limit); more wait in the queue.")
    queue_size: int = Field(
        64, ge=1, description="Requests the web app's queue holds; more are refused with "
        "'queue is full'.")
    api_key: str | None = Field(
        None, description="Bearer token the /v1 API requires (default: the QA_AUTH password "
        "when QA_AUTH is set, else none).")
    api_sources_in_text: bool = Field(
        False, description="/v1 answers end with a numbered 'Sources' list (for chat UIs "
        "that show only text); a request's `sources_in_text` overrides it.")
    host: str = Field("127.0.0.1", description="Address the web app listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port of the web app.")
    server_url: str | None = Field(
        None, description="A running `qa serve` / `python app.py` that `qa ask` and `qa chat` "
        "send questions to (default: the one at QA_HOST:QA_PORT, when it serves the same "
        "index); `off` answers in the command's own process.")
    prompts_dir: str | None = Field(
        None, description="Folder of prompt templates overriding the bundled prompts/."
    )

    @field_validator("chroma_url", "llm_base_url", "llm_api_key", "embed_base_url", "auth",
                     "api_key", "server_url",
                     mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("auth")
    @classmethod
    def _auth_pair(cls, value: str | None) -> str | None:
        for pair in value.split(",") if value is not None else ():
            if ":" not in pair or not pair.split(":", 1)[0].strip():
                raise ValueError("expected user:password (several separated by commas)")
        return value

    @property
    def auth_pairs(self) -> list[tuple[str, str]]:
        """``QA_AUTH`` as ``(user, password)`` pairs."""
        pairs = [p.split(":", 1) for p in (self.auth or "").split(",") if p]
        return [(user.strip(), password) for user, password in pairs]

    @property
    def history_path(self) -> Path:
        return self.history_db or self.index_dir.with_name(f"{self.index_dir.name}-history.sqlite")

    @property
    def watch_paths(self) -> list[Path]:
        """``watch_dirs`` as paths."""
        parts = self.watch_dirs.replace(os.pathsep, ",").split(",")
        return [Path(p.strip()) for p in parts if p.strip()]

    @property
    def llm_key(self) -> str | None:
        return self.llm_api_key or os.environ.get("OPENAI_API_KEY") or None

    @property
    def server_key(self) -> str | None:
        """The bearer token the /v1 API requires, if any."""
        if self.api_key:
            return self.api_key
        return self.auth_pairs[0][1] if self.auth else None  # the first user's password

    @property
    def base_url(self) -> str | None:
        return self.llm_base_url or os.environ.get("OPENAI_BASE_URL") or None

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_key or self.base_url)

    @property
    def answer_mode(self) -> Literal["extractive", "llm"]:
        if self.mode == "auto":
            return "llm" if self.llm_configured else "extractive"
        if self.mode == "llm" and not self.llm_configured:
            raise ConfigError(
                "QA_MODE=llm needs an endpoint: set QA_LLM_BASE_URL (or OPENAI_API_KEY for OpenAI)"
            )
        return self.mode

    def chunk_manifest(self) -> dict[str, str | int]:
        return {
            "chunker": "llama-index SentenceSplitter/tiktoken cl100k_base",
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "cleaner": "clutter-v1" if self.clean_clutter else "none",
        }


def _warn_unknown_env() -> None:
    """A ``QA_`` variable that is no setting (a typo: ``QA_TOPK``) is named, not ignored."""
    known = {f"QA_{name.upper()}" for name in Settings.model_fields}
    for name in sorted(os.environ):
        if name.startswith("QA_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            log.warning("%s is not a setting and is ignored%s", name,
                        f" (did you mean {close[0]}?)" if close else "")


# Gradio's own variables, honoured when the QA_ ones are not set
_GRADIO_ENV = {"host": "GRADIO_SERVER_NAME", "port": "GRADIO_SERVER_PORT"}


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides; bad values raise ConfigError.
    ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` set the host and port when ``QA_HOST`` /
    ``QA_PORT`` do not."""
    names: dict[str, str] = {}
    for field, name in _GRADIO_ENV.items():
        value = os.environ.get(name)
        if value and field not in overrides and f"QA_{field.upper()}" not in os.environ:
            overrides[field] = value
            names[field] = name
    _warn_unknown_env()
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        def name_of(loc: tuple[int | str, ...]) -> str:
            field = "_".join(str(p) for p in loc)
            return names.get(field, f"QA_{field.upper()}")

        problems = "; ".join(
            f"{name_of(err['loc'])}: "
            + ("no such setting" if err["type"] == "extra_forbidden" else err["msg"])
            for err in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from exc
