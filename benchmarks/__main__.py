"""`python -m benchmarks [--quick] [--out BENCHMARKS.md]`: where the time goes, against the
embedding ceiling and the plain LlamaIndex pipeline. Builds its own corpora; needs no network."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * (len(ordered) - 1))))]


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                      .splitlines() if line.startswith("MemTotal"))
        mem = f"{mem_kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        mem = "unknown"
    return (f"{cpu}; {os.cpu_count()} cores; {mem} memory; Python {platform.python_version()}; "
            f"{platform.system()} {platform.release()}")


def child(task: str, payload: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.child", task, json.dumps(payload)],
                          capture_output=True, text=True, cwd=ROOT, timeout=1800)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"benchmark child {task} failed: {proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, figure: str, value: str, target: str = "", verdict: str = "") -> None:
        self.rows.append((figure, value, target, verdict))
        print(f"  {figure}: {value}" + (f"  [target {target}: {verdict}]" if target else ""),
              flush=True)

    def markdown(self) -> str:
        lines = ["| figure | measured | target | met |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.rows]
        return "\n".join(lines)


def ok(flag: bool) -> str:
    return "yes" if flag else "**no**"


# -- 1. ingestion vs the embedding ceiling ------------------------------------------------------
def bench_ingestion(table: Table, work: Path, n_articles: int, reps: int) -> None:
    from benchmarks.corpus import write_corpus
    from qa import Assistant, load_settings
    from qa.ingest.chunking import Chunker
    from qa.ingest.documents import SourceFile, load_document

    corpus = work / "ingest-corpus"
    write_corpus(corpus, n_articles)
    settings = load_settings(index_dir=work / "warm")
    assistant = Assistant(settings)
    assistant.embedder.embed(["warm up"])
    chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
    texts = []
    for path in sorted(corpus.iterdir()):
        doc = load_document(SourceFile(path, corpus, path.name), 10**8)
        texts += [c.text for c in chunker.split(doc.text)]
    ours, ceiling = [], []
    for rep in range(reps):
        run = Assistant(load_settings(index_dir=work / f"ingest-{rep}"),
                        embedder=assistant.embedder)
        t = time.perf_counter()
        report = run.ingest([corpus])
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(0, len(texts), 256):
            assistant.embedder.embed(texts[i : i + 256])
        ceiling.append(time.perf_counter() - t)
        assert report.embedded_chunks == len(texts), (report.embedded_chunks, len(texts))
    chunks = len(texts)
    rates = [chunks / s for s in ours]
    ceil_rates = [chunks / s for s in ceiling]
    ratios = [c / o for o, c in zip(ours, ceiling, strict=True)]
    table.add(f"ingestion, {n_articles} articles / {chunks} chunks ({reps} runs)",
              f"median {med(rates):.1f} chunks/s ({med(rates) * n_articles / chunks:.2f} "
              f"articles/s), p95 run time {p95(ours):.1f} s")
    table.add("embedding ceiling (bare batched loop, same chunk texts)",
              f"median {med(ceil_rates):.1f} chunks/s, p95 run time {p95(ceiling):.1f} s")
    table.add("ingestion / ceiling throughput",
              f"median {med(ratios):.2f}, worst {min(ratios):.2f}", "≥ 0.8", ok(med(ratios) >= 0.8))


# -- 2. side by side with the plain LlamaIndex pipeline ----------------------------------------
def bench_baseline(table: Table, work: Path, n_articles: int, reps: int) -> None:
    from benchmarks import baseline
    from benchmarks.corpus import write_corpus
    from qa import Assistant, load_settings
    from qa.eval.questions import default_questions, load_questions
    from qa.settings import BUNDLED_ARTICLES

    corpus = work / "baseline-corpus"
    write_corpus(corpus, n_articles, seed=3)
    shutil.copytree(BUNDLED_ARTICLES, corpus, dirs_exist_ok=True)
    ours_assistant = Assistant(load_settings(index_dir=work / "warm2"))
    embedder = ours_assistant.embedder
    embedder.embed(["warm up"])
    ours, theirs = [], []
    for rep in range(reps):
        t = time.perf_counter()
        Assistant(load_settings(index_dir=work / f"ours-{rep}"), embedder=embedder).ingest([corpus])
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        baseline.build(corpus, work / f"llamaindex-{rep}", embedder)
        theirs.append(time.perf_counter() - t)
    ratio = med(theirs) / med(ours)
    their_chunks, lost, their_tokens = baseline.truncated_share(work / "llamaindex-0", embedder)
    ours_texts = baseline.stored_texts(work / "ours-0", "articles")
    our_chunks = len(ours_texts)
    our_tokens = sum(embedder.count_tokens(t) or 0 for t in ours_texts)
    table.add(f"plain LlamaIndex ingestion, same {n_articles + 5} files ({reps} runs)",
              f"median {med(theirs):.1f} s vs ours {med(ours):.1f} s: ours is "
              f"{ratio:.2f}x as fast", "at least as fast", ok(ratio >= 1.0))
    table.add("what each pipeline embeds of those files",
              f"LlamaIndex: {their_chunks} chunks of up to 1024 tokens, {lost:.0%} of their "
              f"tokens past the model's 256-token window and never embedded; ours: "
              f"{our_chunks} chunks, all inside the window, clutter left out")
    table.add("model tokens each pipeline embeds, and its wall time per 1,000 of them",
              f"LlamaIndex {their_tokens} ({med(theirs) / their_tokens * 1000:.2f} s per 1k); "
              f"ours {our_tokens} ({med(ours) / our_tokens * 1000:.2f} s per 1k): ours embeds "
              f"{our_tokens / their_tokens:.2f}x the tokens, so equal wall time would need "
              f"{our_tokens / their_tokens:.2f}x the speed per token from the same model")
    # retrieval quality on the project's question set: both index the five bundled articles
    questions = [q for q in load_questions(default_questions()) if q.answerable]
    ours_index = Assistant(load_settings(index_dir=work / "ours-qset"), embedder=embedder)
    ours_index.ingest([BUNDLED_ARTICLES])
    their_index = baseline.build(BUNDLED_ARTICLES, work / "llamaindex-qset", embedder)
    hit_ours = sum(bool({p.source for p in ours_index.retrieve(q.question, 5).passages}
                        & set(q.gold_sources)) for q in questions) / len(questions)
    hit_theirs = sum(bool(set(baseline.top_files(their_index, q.question, 5))
                          & set(q.gold_sources)) for q in questions) / len(questions)
    hit1_ours = sum(bool({p.source for p in ours_index.retrieve(q.question, 1).passages}
                         & set(q.gold_sources)) for q in questions) / len(questions)
    hit1_theirs = sum(bool(set(baseline.top_files(their_index, q.question, 1))
                           & set(q.gold_sources)) for q in questions) / len(questions)
    table.add(f"hit@5 on the project's {len(questions)} answerable questions",
              f"ours {hit_ours:.3f} vs plain LlamaIndex {hit_theirs:.3f} (hit@1: {hit1_ours:.3f} "
              f"vs {hit1_theirs:.3f})", "better", ok(hit_ours >= hit_theirs and
                                                   hit1_ours > hit1_theirs))


# -- 3. big corpus: memory while ingesting, re-ingest unchanged and with 1% edited --------------
def bench_reingest(table: Table, work: Path, n_articles: int, reps: int) -> Path:
    from benchmarks.corpus import write_corpus
    from qa import Assistant, load_settings

    corpus = work / "big-corpus"
    write_corpus(corpus, n_articles, seed=5)
    index = work / "big-index"
    first = child("ingest", {"corpus": str(corpus), "index": str(index)})
    table.add(f"first ingestion of {n_articles} articles ({first['chunks']} chunks, child "
              "process)", f"{first['seconds']:.0f} s, {first['chunks'] / first['seconds']:.1f} "
              f"chunks/s, peak RSS {first['rss_mb']:.0f} MB")
    assistant = Assistant(load_settings(index_dir=index))
    unchanged, edited, edited_chunks = [], [], []
    paths = sorted(corpus.iterdir())
    step = max(1, len(paths) // max(1, len(paths) // 100))
    for rep in range(reps):
        t = time.perf_counter()
        report = assistant.ingest([corpus])
        unchanged.append(time.perf_counter() - t)
        assert report.embedded_chunks == 0
        for path in paths[rep::step][: max(1, len(paths) // 100)]:
            path.write_text(path.read_text() + f"\n\nCorrection {rep}: figures were updated.\n")
        t = time.perf_counter()
        report = assistant.ingest([corpus])
        edited.append(time.perf_counter() - t)
        edited_chunks.append(report.embedded_chunks)
    table.add(f"re-ingest {n_articles} unchanged articles ({reps} runs)",
              f"median {med(unchanged):.2f} s, p95 {p95(unchanged):.2f} s, 0 chunks embedded",
              "< 5 s, no embedding", ok(p95(unchanged) < 5))
    per_chunk = first["seconds"] / first["chunks"]
    table.add(f"re-ingest with 1% ({len(paths) // 100} files) edited ({reps} runs)",
              f"median {med(edited):.2f} s for {med(edited_chunks):.0f} chunks re-embedded; "
              f"proportional cost would be {med(edited_chunks) * per_chunk + med(unchanged):.2f} s",
              "proportional to the edits",
              ok(med(edited) < 2 * (med(edited_chunks) * per_chunk + med(unchanged)) + 1))
    return index


# -- 4/6/7. query latency and serving memory at 1k .. 100k chunks -------------------------------
def _load_chunks(store: Any, pool: list[list[float]], n_chunks: int, files_dir: Path) -> None:
    """Synthetic articles written to disk, chunked by paragraphs, each chunk given a vector from
    ``pool`` (real embeddings of the big corpus) with a little noise: precomputed vectors."""
    import random

    from benchmarks.corpus import article
    from qa.ingest.ingestor import chunk_id
    from vectorstore import ChunkRecord, FileRecord

    rng = random.Random(13)
    files_dir.mkdir(parents=True, exist_ok=True)
    made, batch, k = 0, [], 0
    while made < n_chunks:
        text = article(rng, k)
        path = files_dir / f"s{k:06d}.txt"
        path.write_text(text, encoding="utf-8")
        key = str(path.resolve())
        paras = [(m_start, m_start + len(p)) for p, m_start in _paragraphs(text) if len(p) > 40]
        chunks = []
        for j in range(0, len(paras), 2):
            if made >= n_chunks:
                break
            a, b = paras[j][0], paras[min(j + 1, len(paras) - 1)][1]
            base = pool[(made * 7919) % len(pool)]
            vec = [x + rng.gauss(0, 0.01) for x in base]
            chunks.append(ChunkRecord(chunk_id(key, len(chunks)), text[a:b], vec, {
                "source": path.name, "path": key, "root": str(files_dir), "title": "synthetic",
                "chunk_index": len(chunks), "start": a, "end": b, "spans": "",
                "file_sha256": "", "encoding": "utf-8", "outlet": "", "published": "",
                "published_int": 0, "url": "", "injection": False}))
            made += 1
        batch.append((FileRecord(key, path.name, str(files_dir), "", len(chunks), "synthetic"),
                      chunks))
        k += 1
        if len(batch) >= 500:
            store.write_new_files(batch)
            batch = []
    if batch:
        store.write_new_files(batch)


def _paragraphs(text: str) -> list[tuple[str, int]]:
    import re

    return [(m.group(), m.start()) for m in re.finditer(r"[^\n]+", text)]


def _pool(index: Path) -> list[list[float]]:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(index),
                                       settings=Settings(anonymized_telemetry=False))
    got = client.get_collection("articles", embedding_function=None).get(
        include=["embeddings"], limit=5000)
    return [list(map(float, v)) for v in got["embeddings"]]


def bench_search(table: Table, work: Path, pool: list[list[float]], sizes: Sequence[int],
                 n_questions: int, chroma_url: str | None = None) -> None:
    from benchmarks.corpus import questions
    from qa import Assistant, load_settings

    where = "Chroma server" if chroma_url else "local directory"
    qs = questions(n_questions)
    for size in sizes:
        name = f"bench-{size}"
        overrides: dict[str, Any] = {"collection": name}
        if chroma_url:
            overrides["chroma_url"] = chroma_url
        else:
            overrides["index_dir"] = work / "search-index"
        assistant = Assistant(load_settings(**overrides))
        t = time.perf_counter()
        _load_chunks(assistant.store, pool, size, work / f"files-{size}")
        load_s = time.perf_counter() - t
        payload = {"collection": name, "questions": qs}
        if chroma_url:
            payload["chroma_url"] = chroma_url
        else:
            payload["index"] = str(work / "search-index")
        r = child("serve", payload)
        lat = r["latency_ms"]
        table.add(f"{where}, {r['chunks']} chunks (precomputed vectors, loaded in {load_s:.0f} s):"
                  " retrieval p50/p95 ms",
                  f"dense {med(lat['dense']):.1f}/{p95(lat['dense']):.1f}, BM25 "
                  f"{med(lat['bm25']):.1f}/{p95(lat['bm25']):.1f}, fused "
                  f"{med(lat['fused']):.1f}/{p95(lat['fused']):.1f}; BM25 built "
                  f"{r['bm25_builds']}x ({r['bm25_build_s']:.1f} s) for {len(qs) * 2 + 2} queries",
                  "fused p95 < 50 ms at 100k" if size >= 100_000 else "",
                  ok(p95(lat["fused"]) < 50) if size >= 100_000 else "")
        table.add(f"{where}, {r['chunks']} chunks: full extractive answer p50/p95 ms; peak RSS",
                  f"{med(lat['answer']):.0f}/{p95(lat['answer']):.0f} ms; {r['rss_mb']:.0f} MB",
                  "p95 < 250 ms, RSS < 2 GB at 100k" if size >= 100_000 else "",
                  ok(p95(lat["answer"]) < 250 and r["rss_mb"] < 2048)
                  if size >= 100_000 else "")


# -- 5. cold start --------------------------------------------------------------------------------
def _timed_asks(env: dict[str, str], cwd: Path, reps: int, *extra: str) -> list[float]:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "qa", "ask", *extra, "How many Tor-M1 air "
                               "defense systems did Iran receive?"], capture_output=True,
                              text=True, env=env, cwd=cwd, timeout=300)
        times.append(time.perf_counter() - t)
        assert proc.returncode == 0 and "29" in proc.stdout, proc.stderr
    return times


def bench_cold_start(table: Table, work: Path, reps: int) -> None:
    """``qa ask`` from a shell: answering in its own process, and through a running server of
    the same index (found by its port; issue 18's warm path)."""
    import urllib.request

    from qa import Assistant, load_settings
    from qa.settings import BUNDLED_ARTICLES

    index = work / "cold-index"
    Assistant(load_settings(index_dir=index)).ingest([BUNDLED_ARTICLES])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env["QA_INDEX_DIR"] = str(index)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        env["QA_PORT"] = str(s.getsockname()[1])
    local = _timed_asks(env, work, reps, "--local")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import qa, qa.assistant, qa.cli"], env=env,
                   check=True, timeout=120)
    imports = time.perf_counter() - t
    table.add(f"cold start: `qa ask --local` on an existing index, process start to answer "
              f"({reps} runs)", f"median {med(local):.1f} s, p95 {p95(local):.1f} s (importing "
              f"qa and its answering modules: {imports:.1f} s; the rest is loading torch and the "
              "embedding model)")
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{env['QA_PORT']}/v1/qa/info",
                                            timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        _timed_asks(env, work, 1)  # the server's first answer warms its caches
        warm = _timed_asks(env, work, reps)
    finally:
        server.terminate()
        server.wait(timeout=30)
    table.add(f"cold start: `qa ask` with `python app.py` of the same index running, process "
              f"start to answer ({reps} runs)", f"median {med(warm):.2f} s, p95 "
              f"{p95(warm):.2f} s: {med(local) / med(warm):.1f}x faster than answering in its "
              "own process", "≤ 1.5 s", ok(med(warm) <= 1.5))


def start_chroma(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("chroma run did not start")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny scales (a smoke test)")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="markdown output")
    parser.add_argument("--only", choices=["ingestion", "baseline", "levers", "cold"],
                        action="append",
                        help="run just this part (repeatable); the table is printed, and written "
                        "only to an --out given explicitly")
    args = parser.parse_args(argv)
    if args.quick:
        small, reps, big, sizes, nq, base_n = 20, 2, 60, [500, 2000], 8, 20
    else:
        small, reps, big, sizes, nq, base_n = 200, 3, 2000, [1_000, 10_000, 100_000], 30, 200
    from benchmarks import levers

    started = time.time()
    table = Table()
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        work = Path(tmp)
        print(f"machine: {machine()}", flush=True)
        if args.only:
            parts = {"ingestion": lambda: bench_ingestion(table, work, small, reps),
                     "baseline": lambda: bench_baseline(table, work, base_n, 2),
                     "levers": lambda: levers.run(table, work, base_n),
                     "cold": lambda: bench_cold_start(table, work, 5)}
            for name in args.only:
                parts[name]()
            print(f"\n{table.markdown()}")
            if "--out" in (argv if argv is not None else sys.argv):
                Path(args.out).write_text(table.markdown() + "\n", encoding="utf-8")
            return 0
        bench_ingestion(table, work, small, reps)
        bench_baseline(table, work, base_n, 2)
        levers.run(table, work, base_n)
        big_index = bench_reingest(table, work, big, reps)
        pool = _pool(big_index)
        bench_search(table, work, pool, sizes, nq)
        bench_cold_start(table, work, 5)
        server, url = start_chroma(work / "chroma-server")
        try:
            bench_search(table, work, pool, sizes[-1:], nq, chroma_url=url)
            import psutil

            server_rss = psutil.Process(server.pid).memory_info().rss / 1024 / 1024
            table.add("Chroma server process resident memory after the server runs",
                      f"{server_rss:.0f} MB")
        finally:
            server.terminate()
            server.wait(timeout=30)
    minutes = (time.time() - started) / 60
    header = [
        "# Benchmarks", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python -m benchmarks"
        f"{' --quick' if args.quick else ''}` in {minutes:.1f} min.", "",
        f"Machine: {machine()}.", "",
        "Times are wall-clock on a shared machine: read the ratios, which are measured in the "
        "same run. Medians and p95 are over the repeated runs or queries named in each row. "
        "The search-scale rows insert precomputed vectors (real embeddings of the synthetic "
        "corpus, reused with a little noise) instead of embedding 100k chunks.", "",
    ]
    Path(args.out).write_text("\n".join(header) + "\n" + table.markdown() + "\n",
                              encoding="utf-8")
    print(f"\n{table.markdown()}\n\nwrote {args.out} ({minutes:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
