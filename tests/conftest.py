"""Shared fixtures. Layers: unit (no model), fakes (hash embedder, scripted LLM server), real
(bundled embedding model, Chroma on disk and as a `chroma run` server)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def running(cmd: list[str], log_path: Path, ready: Callable[[], bool], *, name: str,
            timeout: float, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A server process started for a test: waits until ``ready()`` (failing the test with the
    tail of its log if it exits or times out), then stops it afterwards."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **popen)
        try:
            deadline = time.time() + timeout
            while not ready():
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited: {log_path.read_text()[-3000:]}")
                if time.time() > deadline:
                    pytest.fail(f"{name} did not start in {timeout:.0f} s")
                time.sleep(0.3)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def port_open(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    return check


def assistant_over(folder: Path, files: dict[str, str], embedder: Any) -> Assistant:
    """An assistant whose index (in ``folder``) holds just ``files`` (name -> text)."""
    corpus = folder / "corpus"
    corpus.mkdir()
    for name, text in files.items():
        (corpus / name).write_text(text)
    assistant = Assistant(load_settings(index_dir=folder / "index"), embedder=embedder)
    assistant.ingest([corpus])
    return assistant


ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def app_py(work: Path, corpus: Path, port: int | None = None, **env_more: str
           ) -> Iterator[str]:
    """``python app.py`` on ``port`` (default: a free one), its index in ``work/index`` (copy
    one there first to start warm); yields its URL and checks its log for tracebacks
    afterwards."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update(QA_INDEX_DIR=str(work / "index"), QA_CORPUS_DIR=str(corpus),
               QA_UPLOAD_DIR=str(work / "uploads"), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", **env_more)
    url = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    with running([sys.executable, str(ROOT / "app.py"), "--port", str(port)], work / "app.log",
                 up, name="app.py", timeout=120, cwd=work, env=env):
        yield url
    log = (work / "app.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on 127.0.0.1, started for the session."""
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(exe).exists():
        pytest.fail("the `chroma` command (chromadb) is not installed")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    cmd = [exe, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)]
    with running(cmd, data / "server.log", port_open(port), name="chroma run", timeout=60):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@contextlib.contextmanager
def serving(assistant: Assistant) -> Iterator[str]:
    """``app.create_app(assistant)`` (the /v1 API and the web chat) served by uvicorn on a free
    127.0.0.1 port in this process; yields its base URL."""
    import threading

    import uvicorn

    import app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app.create_app(assistant), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if not thread.is_alive() or time.time() > deadline:
            pytest.fail("the app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
