"""Point tiktoken and NLTK at the data llama-index ships, so nothing is downloaded at run time."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any


@functools.cache
def llama_static_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover
        raise RuntimeError("llama-index-core is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "_static"


def use_bundled_caches() -> None:
    """Set TIKTOKEN_CACHE_DIR and NLTK's data path to llama-index's bundled copies (idempotent)."""
    static = llama_static_dir()
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(static / "tiktoken_cache"))
    os.environ.setdefault("NLTK_DATA", str(static / "nltk_cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@functools.cache
def tiktoken_encoding(name: str = "cl100k_base") -> Any:
    use_bundled_caches()
    import tiktoken

    return tiktoken.get_encoding(name)


def count_tokens(text: str) -> int:
    """Tokens in ``text`` by tiktoken's cl100k_base (LLM usage figures)."""
    return len(tiktoken_encoding().encode(text))
