"""A watched folder (issue 15, part 4): files dropped in, edited and deleted are in step with
the index within seconds, from Python, from `qa ingest --watch`, and in the web app's Library
(``QA_WATCH_DIRS``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from qa import Answer, Assistant, load_settings
from qa.errors import IngestError
from qa.ingest.watching import FolderWatcher
from qa.serve.web import Handlers, start_watching
from vectorstore import SentenceTransformerEmbedder

pytestmark = [pytest.mark.real, pytest.mark.slow]

KAZ = "Kazakhstan bought 12 Su-30SM fighters from Russia in March 2015, the ministry said.\n"
ARM = "Armenia bought four Su-30SM fighters from Russia in 2019, officials said in Yerevan.\n"
Q = "How many Su-30SM fighters did Kazakhstan buy?"


def _until(check: Callable[[], bool], seconds: float = 30.0) -> float:
    """Seconds until ``check()`` held (the test fails past ``seconds``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - started


def _assistant(tmp_path: Path, embedder: SentenceTransformerEmbedder, **more: object
               ) -> tuple[Assistant, Path]:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "armenia.txt").write_text(ARM)
    assistant = Assistant(load_settings(index_dir=tmp_path / "index", corpus_dir=folder,
                                        **more), embedder=embedder)
    assistant.ingest([folder])
    return assistant, folder


def _answer(assistant: Assistant) -> Answer:
    return assistant.ask(Q)


def test_dropped_edited_and_deleted_files_follow_within_seconds(
        tmp_path: Path, bundled_embedder: SentenceTransformerEmbedder) -> None:
    assistant, folder = _assistant(tmp_path, bundled_embedder)
    assert not _answer(assistant).answered
    watcher = FolderWatcher(assistant.ingest, [folder])
    watcher.start()
    try:
        (folder / "kazakhstan.txt").write_text(KAZ)  # even before the watch is set up
        took = _until(lambda: "12" in _answer(assistant).text)
        assert took < 15, f"answered {took:.1f} s after the file was dropped"
        (folder / "kazakhstan.txt").write_text(KAZ.replace("12", "18"))
        _until(lambda: "18" in _answer(assistant).text)
        (folder / "kazakhstan.txt").unlink()
        _until(lambda: "kazakhstan.txt" not in {r.source for r in assistant.files()})
        (folder / ".draft.txt.swp").write_text("editor scratch")  # ignored
        time.sleep(1.5)
        assert {r.source for r in assistant.files()} == {"armenia.txt"}
        assert any("added kazakhstan.txt" in line for line in watcher.recent)
        assert any("removed kazakhstan.txt" in line for line in watcher.recent)
        assert not any(".swp" in line for line in watcher.recent)
    finally:
        watcher.stop()


def test_only_folders_can_be_watched(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(KAZ)
    with pytest.raises(IngestError, match=r"a\.txt: not a folder"):
        FolderWatcher(lambda roots: None, [tmp_path / "a.txt"])  # type: ignore[arg-type, return-value]


def test_the_web_library_shows_what_the_watched_folder_changed(
        tmp_path: Path, bundled_embedder: SentenceTransformerEmbedder) -> None:
    assistant, folder = _assistant(tmp_path, bundled_embedder,
                                   watch_dirs=str(tmp_path / "incoming"))
    watcher = start_watching(assistant)
    assert watcher is not None
    try:
        (folder / "kazakhstan.txt").write_text(KAZ)  # at once: the first update finds it
        _until(lambda: "kazakhstan.txt" in {r.source for r in assistant.files()})
        rows, message = Handlers(assistant, watcher).library()
        assert any("kazakhstan.txt" in str(row) for row in rows)
        assert "Watching" in message and "added kazakhstan.txt" in message
    finally:
        watcher.stop()


def test_qa_ingest_watch_from_the_command_line(tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "armenia.txt").write_text(ARM)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update(QA_INDEX_DIR=str(tmp_path / "index"), QA_EMBED_MODEL="hash")
    proc = subprocess.Popen([sys.executable, "-m", "qa", "ingest", "--watch", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any("watching" in x for x in lines):  # the first ingestion's report, then
            lines.append(proc.stdout.readline())       # the watch starts (said on stderr)
            if "1 added" in lines[-1]:
                break
        time.sleep(1.5)
        (folder / "kazakhstan.txt").write_text(KAZ)
        seen = ""
        deadline = time.monotonic() + 30
        while "added kazakhstan.txt" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "added kazakhstan.txt" in seen, seen
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, (proc.returncode, err[-2000:])
    assert "watching" in err and "Traceback" not in err
