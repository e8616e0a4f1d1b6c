"""The index under stress: damaged files, a missing or foreign manifest, two writers at once,
and questions asked while an ingestion runs. Damage is done to real Chroma files on disk and
checked through the `qa` command, as a user would meet it."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from qa import Answer, Assistant, IndexUnavailable, load_settings
from vectorstore import HashEmbedder, lock_path, write_lock

pytestmark = [pytest.mark.real, pytest.mark.slow]

Q = "How many Tor-M1 air defense systems did Iran receive?"


def _env(index: Path, corpus: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update(QA_INDEX_DIR=str(index), QA_CORPUS_DIR=str(corpus), QA_EMBED_MODEL="hash",
               HF_HUB_OFFLINE="1", **more)
    return env


def qa(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qa", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _truncate(index: Path) -> None:
    db = index / "chroma.sqlite3"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])


def _garble(index: Path) -> None:
    db = index / "chroma.sqlite3"
    data = bytearray(db.read_bytes())
    for i in range(0, len(data), 997):
        data[i] ^= 0x5A
    db.write_bytes(bytes(data))


def _drop_manifest(index: Path) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(str(index), Settings(anonymized_telemetry=False))
    client.get_collection("articles").modify(metadata={"note": "manifest gone"})


@pytest.mark.parametrize(("damage", "says"), [
    (_truncate, "database disk image is malformed"),
    (_garble, "cannot open"),
    (_drop_manifest, "has no manifest"),
    (None, "embed_model: index has 'hash"),  # built with another embedding model
], ids=["truncated", "garbled", "no-manifest", "other-model"])
def test_damaged_index_names_the_problem_and_the_rebuild_works(
        tmp_path: Path, articles: Path, damage: object, says: str) -> None:
    index = tmp_path / "index"
    env = _env(index, articles)
    assert qa("ingest", env=env).returncode == 0
    if damage is None:
        env = {**env, "QA_EMBED_MODEL": "bundled"}
    else:
        damage(index)  # type: ignore[operator]

    broken = qa("ask", Q, env=env)
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert says in broken.stderr and "qa ingest --rebuild" in broken.stderr, broken.stderr

    rebuilt = qa("ingest", "--rebuild", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "5 added" in rebuilt.stdout
    answer = qa("ask", Q, env=env)
    assert answer.returncode == 0 and "29" in answer.stdout, answer.stderr
    if damage in (_truncate, _garble):  # the damaged files were kept, not deleted
        assert list(tmp_path.glob("index.damaged-*/chroma.sqlite3"))


def test_a_second_writer_waits_then_fails_with_a_clear_message(tmp_path: Path,
                                                               articles: Path) -> None:
    index = tmp_path / "index"
    env = _env(index, articles, QA_LOCK_TIMEOUT="1")
    assert qa("ingest", env=env).returncode == 0
    (articles / "new.txt").write_text("Russia delivered 12 helicopters to Iran, Tass said.\n")
    with write_lock(index, 0):  # another writer holds the index
        blocked = qa("ingest", env=env)
    assert blocked.returncode == 2
    assert "another process is writing the index" in blocked.stderr
    assert str(lock_path(index)) in blocked.stderr and "QA_CHROMA_URL" in blocked.stderr
    files = qa("files", env=env)
    assert "new.txt" not in files.stdout and files.stdout.count(".txt") == 5  # nothing half-done
    assert "1 added" in qa("ingest", env=env).stdout  # and once the lock is free, it works


def _corpus(root: Path, n: int) -> Path:
    root.mkdir()
    for i in range(n):
        (root / f"report-{i:03d}.txt").write_text(
            f"Report {i}. " + " ".join(f"Delivery {i}-{j} of {j + i} trucks reached depot {j}."
                                       for j in range(40)) + "\n")
    return root


def test_two_ingest_processes_on_one_index(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus", 60)
    index = tmp_path / "index"
    env = _env(index, corpus, QA_LOCK_TIMEOUT="120")
    procs = [subprocess.Popen([sys.executable, "-m", "qa", "ingest"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    summaries = sorted(out.strip().splitlines()[-1] for out, _ in outs)
    assert summaries[0].startswith("60 added") and summaries[1].startswith("60 unchanged")
    # consistent: the same chunks as one ingestion into a fresh index
    fresh = Assistant(load_settings(index_dir=tmp_path / "fresh", embed_model="hash"))
    expected = fresh.ingest([corpus]).total_chunks
    shared = Assistant(load_settings(index_dir=index, embed_model="hash"))
    assert shared.count() == expected and len(shared.files()) == 60


def test_questions_during_ingestion_always_get_answers(tmp_path: Path, articles: Path) -> None:
    index = tmp_path / "index"
    settings = load_settings(index_dir=index, embed_model="hash", corpus_dir=articles)
    writer = Assistant(settings, embedder=HashEmbedder())
    writer.ingest([articles])
    reader = Assistant(settings, embedder=HashEmbedder())  # another session of the same app
    more = _corpus(tmp_path / "more", 150)
    failures: list[BaseException] = []

    def ingest() -> None:
        try:
            writer.ingest([articles, more])
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=ingest)
    thread.start()
    answers: list[Answer] = []
    while thread.is_alive() or len(answers) < 3:
        for who in (reader, writer):
            answers.append(who.ask(Q))
    thread.join()
    assert not failures
    assert len(answers) >= 6 and all(a.answered and "29" in a.text for a in answers)
    assert writer.count() > 100 and len(reader.files()) == 155


def test_questions_while_another_process_ingests(tmp_path: Path, articles: Path) -> None:
    index = tmp_path / "index"
    settings = load_settings(index_dir=index, embed_model="hash", corpus_dir=articles)
    reader = Assistant(settings, embedder=HashEmbedder())
    reader.ingest([articles])
    more = _corpus(tmp_path / "more", 150)
    proc = subprocess.Popen([sys.executable, "-m", "qa", "ingest", str(more)],
                            env=_env(index, articles), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    answers = []
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        answers.append(reader.ask(Q))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert answers and all(a.answered and "29" in a.text for a in answers)
    assert len(reader.files()) == 155


KAZ = "How many Su-30SM fighters did Kazakhstan buy?"


def test_the_running_app_sees_every_write_of_another_process(tmp_path: Path,
                                                              articles: Path) -> None:
    """With the app serving a long-lived Assistant on an on-disk index, `qa ingest` of a new
    folder in another process is answered from (dense and BM25 both) without a restart, and
    after `qa ingest --rebuild` without that folder the new file is no longer cited."""
    import json
    import urllib.request

    from conftest import serving

    index = tmp_path / "index"
    settings = load_settings(index_dir=index, embed_model="hash", corpus_dir=articles)
    app_assistant = Assistant(settings, embedder=HashEmbedder())
    app_assistant.ingest([articles])
    more = tmp_path / "more"
    more.mkdir()
    (more / "kazakhstan-fighters.txt").write_text(
        "Kazakhstan buys Russian fighters\n\nKazakhstan bought 12 Su-30SM fighters from "
        "Russia in March 2015, the defence ministry said on Tuesday in Astana.\n")

    def api_answer(url: str) -> str:
        body = json.dumps({"model": "qa-extractive", "sources_in_text": True,
                           "messages": [{"role": "user", "content": KAZ}]}).encode()
        request = urllib.request.Request(f"{url}/v1/chat/completions", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.loads(response.read())["choices"][0]["message"]["content"])

    with serving(app_assistant) as url:
        assert "don't say" in api_answer(url)  # warm: the old index is in memory
        dense_before = app_assistant.store.query(HashEmbedder().embed([KAZ])[0], 50)
        assert not any("kazakhstan" in h.metadata.get("source", "") for h in dense_before)
        done = qa("ingest", str(more), env=_env(index, articles))
        assert done.returncode == 0, done.stderr
        answer = api_answer(url)
        assert "12" in answer and "kazakhstan-fighters.txt" in answer
        dense = app_assistant.store.query(HashEmbedder().embed([KAZ])[0], 50)
        assert any("kazakhstan" in h.metadata.get("source", "") for h in dense)
        assert [r.source for r in app_assistant.files()].count("kazakhstan-fighters.txt") == 1
        done = qa("ingest", "--rebuild", str(articles), env=_env(index, articles))
        assert done.returncode == 0, done.stderr
        answer = api_answer(url)
        assert "kazakhstan-fighters.txt" not in answer and "don't say" in answer
        dense = app_assistant.store.query(HashEmbedder().embed([KAZ])[0], 50)
        assert dense and not any("kazakhstan" in h.metadata.get("source", "") for h in dense)


def test_index_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "index"
    bad.write_text("not a directory")
    with pytest.raises(IndexUnavailable, match=str(bad)):
        Assistant(load_settings(index_dir=bad, embed_model="hash"))
    assert bad.read_text() == "not a directory"


def test_rebuild_in_the_same_process_after_damage(tmp_path: Path, articles: Path) -> None:
    index = tmp_path / "index"
    settings = load_settings(index_dir=index, embed_model="hash", corpus_dir=articles)
    healthy = Assistant(settings, embedder=HashEmbedder())  # a client the process keeps open
    healthy.ingest([articles])
    _garble(index)
    with pytest.raises(IndexUnavailable, match="qa ingest --rebuild"):
        Assistant(settings, embedder=HashEmbedder())
    rebuilt = Assistant(settings, embedder=HashEmbedder(), rebuild=True)
    assert rebuilt.ingest([articles]).count("added") == 5
    assert rebuilt.ask(Q).answered


# Dies the way `kill -9` does, at the worst moment: a file's chunks are in, its record is not.
_CRASH = """
import os, sys
from chromadb.api.models.Collection import Collection
from qa import Assistant, load_settings

upsert = Collection.upsert
def dying_upsert(self, *args, **kw):
    if self.name.endswith("-files") and not all(m.get("pending") for m in kw["metadatas"]):
        os._exit(137)
    return upsert(self, *args, **kw)
Collection.upsert = dying_upsert
Assistant(load_settings(index_dir=sys.argv[1], embed_model="hash")).ingest([sys.argv[2]])
"""
GHOST = "The Zorbian navy counted 417 submarines in 2019, its admiral said.\n"
GHOST_Q = "How many submarines did the Zorbian navy count?"


def _consistent(index: Path, pending: bool = False) -> tuple[int, list[str]]:
    """Chunk count and sources of the complete records; ``pending``: records of a failed
    write may remain (the next ingest removes them), not chunks beyond the records."""
    store = Assistant(load_settings(index_dir=index, embed_model="hash")).store
    records = store.file_records()
    assert store.count() == sum(r.chunks for r in records.values())
    left = store.leftovers()
    assert not left if not pending else all(n == 0 for _, n in left.values())
    return store.count(), sorted(r.source for r in records.values())


@pytest.mark.parametrize("then", ["file deleted", "file kept", "record lost"])
def test_a_crash_between_chunks_and_record_leaves_no_ghost_chunks(
        tmp_path: Path, articles: Path, then: str) -> None:
    index = tmp_path / "index"
    env = _env(index, articles)
    assert qa("ingest", env=env).returncode == 0
    before, sources = _consistent(index)
    ghost = articles / "ghost.txt"
    ghost.write_text(GHOST)
    if then == "record lost":  # an index a crash left before records were written pending
        assert qa("ingest", env=env).returncode == 0
        import chromadb
        from chromadb.config import Settings
        client = chromadb.PersistentClient(str(index), Settings(anonymized_telemetry=False))
        client.get_collection("articles-files").delete(ids=[str(ghost.resolve())])
        ghost.unlink()
    else:
        crashed = subprocess.run([sys.executable, "-c", _CRASH, str(index), str(ghost)],
                                 env=env, capture_output=True, text=True, timeout=300)
        assert crashed.returncode == 137, crashed.stderr
        assert "ghost.txt" not in qa("files", env=env).stdout  # half-written: not listed
        if then == "file deleted":
            ghost.unlink()
    ingest = qa("ingest", env=env)
    assert ingest.returncode == 0, ingest.stderr
    if ghost.exists():
        assert re.search(r"added.*ghost\.txt", ingest.stdout), ingest.stdout
        assert _consistent(index)[1] == sorted([*sources, "ghost.txt"])
    else:
        assert re.search(r"removed.*ghost\.txt", ingest.stdout), ingest.stdout
        assert _consistent(index) == (before, sources)
        asked = qa("ask", "--json", GHOST_Q, env=env)
        assert "ghost.txt" not in asked.stdout and "417" not in asked.stdout


def _disk_full(limit: int) -> Callable[[], None]:
    """For a child process: writing past ``limit`` bytes into any file fails as on a full disk
    (EFBIG instead of ENOSPC; SQLite and Chroma report both as write errors)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_disk_full_during_ingest_is_one_line_per_file_and_the_index_survives(
        tmp_path: Path, articles: Path) -> None:
    index = tmp_path / "index"
    env = _env(index, articles)
    assert qa("ingest", env=env).returncode == 0
    before, sources = _consistent(index)
    new = _corpus(tmp_path / "more", 40)
    biggest = max(p.stat().st_size for p in index.rglob("*") if p.is_file())
    full = subprocess.run([sys.executable, "-m", "qa", "ingest", str(new)], env=env,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=_disk_full(biggest + 100_000))
    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr + full.stdout
    lines = [ln for ln in full.stdout.splitlines() if "report-" in ln]
    assert len(lines) == 40 and all(ln.split()[0] == "failed" for ln in lines), full.stdout
    assert "could not write to the index" in full.stdout and "MB free on its disk" in full.stdout
    assert _consistent(index, pending=True) == (before, sources)  # what was indexed stays
    assert "29" in qa("ask", Q, env=env).stdout
    again = qa("ingest", str(new), env=env)  # space freed: the next run completes
    assert again.returncode == 0 and "40 added;" in again.stdout, again.stdout
    assert len(_consistent(index)[1]) == len(sources) + 40
