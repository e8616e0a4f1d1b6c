"""Shared fixtures. Layers: unit (no model), fakes (hash embedder, scripted LLM server), real
(bundled embedding model, Chroma on disk and as a `chroma run` server)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(var, None)
for var in [v for v in os.environ if v.startswith("QA_")]:
    os.environ.pop(var)

sys.path.insert(0, str(Path(__file__).parent))

from openai_server import ScriptedOpenAI  # noqa: E402

from qa import Assistant, load_settings  # noqa: E402
from qa.settings import BUNDLED_ARTICLES  # noqa: E402
from vectorstore import HashEmbedder, SentenceTransformerEmbedder  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


class CountingEmbedder:
    """Wraps a real embedder and counts what it is asked to embed."""

    def __init__(self, inner: HashEmbedder | SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[int] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def embedded(self) -> int:
        return sum(self.calls)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int | None:
        return self.inner.count_tokens(text)


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    """A private copy of the five bundled articles."""
    target = tmp_path / "articles"
    shutil.copytree(BUNDLED_ARTICLES, target)
    return target


@pytest.fixture
def hash_assistant(tmp_path: Path) -> Assistant:
    settings = load_settings(index_dir=tmp_path / "index", embed_model="hash")
    return Assistant(settings, embedder=CountingEmbedder(HashEmbedder()))


@pytest.fixture(scope="session")
def bundled_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder("bundled")


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory,
               bundled_embedder: SentenceTransformerEmbedder) -> Path:
    """An on-disk index of the bundled articles, embedded once per test session."""
    root = tmp_path_factory.mktemp("real")
    corpus = root / "articles"
    shutil.copytree(BUNDLED_ARTICLES, corpus)
    settings = load_settings(index_dir=root / "index", corpus_dir=corpus)
    Assistant(settings, embedder=bundled_embedder).ingest([corpus])
    return root


@pytest.fixture
def real_assistant(real_index: Path, bundled_embedder: SentenceTransformerEmbedder) -> Assistant:
    settings = load_settings(index_dir=real_index / "index", corpus_dir=real_index / "articles")
    return Assistant(settings, embedder=bundled_embedder)


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ScriptedOpenAI]:
    server = ScriptedOpenAI().start()
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on 127.0.0.1, started for the session."""
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(exe).exists():
        pytest.fail("the `chroma` command (chromadb) is not installed")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = open(data / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([exe, "run", "--path", str(data / "db"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not start in 60 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
