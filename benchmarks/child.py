"""Work run in a separate process so its peak memory (ru_maxrss) can be read."""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest(args: dict[str, Any]) -> dict[str, Any]:
    from qa import Assistant, load_settings

    assistant = Assistant(load_settings(index_dir=Path(args["index"])))
    started = time.perf_counter()
    report = assistant.ingest([Path(args["corpus"])])
    return {"seconds": time.perf_counter() - started, "chunks": report.embedded_chunks,
            "files": len(report.files), "rss_mb": _rss_mb()}


def serve(args: dict[str, Any]) -> dict[str, Any]:
    from qa import Assistant, load_settings

    overrides: dict[str, Any] = {"collection": args["collection"]}
    if args.get("chroma_url"):
        overrides["chroma_url"] = args["chroma_url"]
    else:
        overrides["index_dir"] = Path(args["index"])
    assistant = Assistant(load_settings(**overrides))
    retriever = assistant.retriever
    questions = args["questions"]
    assistant.embedder.embed(["load the model"])
    started = time.perf_counter()
    retriever._keyword_index()  # builds the BM25 index once
    build_s = time.perf_counter() - started
    retriever.retrieve(questions[0], 5)
    assistant.ask(questions[0], mode="extractive")
    out: dict[str, list[float]] = {"dense": [], "bm25": [], "fused": [], "answer": []}
    index, _ = retriever._keyword_index()
    for q in questions:
        t = time.perf_counter()
        vec = assistant.embedder.embed([q])[0]
        assistant.store.query(vec, retriever.candidates)
        out["dense"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        index.search(q, retriever.candidates)
        out["bm25"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        retriever.retrieve(q, 5)
        out["fused"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        assistant.ask(q, mode="extractive")
        out["answer"].append((time.perf_counter() - t) * 1000)
    return {"latency_ms": out, "bm25_build_s": build_s, "bm25_builds": retriever.bm25_builds,
            "chunks": assistant.count(), "rss_mb": _rss_mb(),
            "median_answer_ms": statistics.median(out["answer"])}


if __name__ == "__main__":
    task, payload = sys.argv[1], json.loads(sys.argv[2])
    result = {"ingest": ingest, "serve": serve}[task](payload)
    print("RESULT " + json.dumps(result))
