"""Issue 18's levers for cheaper embedding, measured against today's choice (fp32, 160-token
chunks with 24 of overlap, batches sorted by length within each 256-chunk flush): what each
costs in embedding time on the benchmark's corpus, and what it does to dense retrieval (file
hit@1 / hit@5) on the bundled and the held-out question sets. A lever is kept only if it is
faster and its hit@k stays within 0.01 of today's on both sets."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SETS = {"bundled": (None, ROOT / "eval" / "questions.jsonl"),
        "held-out test": (ROOT / "eval" / "heldout" / "corpus",
                          ROOT / "eval" / "heldout" / "test.jsonl")}
FFN = ("intermediate.dense", "output.dense")
ATTENTION = ("attention.self.query", "attention.self.key", "attention.self.value",
             "attention.output.dense")


def _chunks(folder: Path, size: int, overlap: int) -> tuple[list[str], list[str]]:
    from qa.ingest.chunking import Chunker
    from qa.ingest.documents import SourceFile, load_document

    chunker = Chunker(size, overlap)
    texts, sources = [], []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        doc = load_document(SourceFile(path, folder, path.name), 10**8)
        for c in chunker.split(doc.text):
            texts.append(c.text)
            sources.append(path.name)
    return texts, sources


def quantized(model: Any, layers: Sequence[str]) -> Any:
    """A copy of the sentence-transformers ``model`` whose named linear layers (in every
    encoder block) are torch's dynamic int8 ones."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    q = copy.deepcopy(model)
    for block in q[0].auto_model.encoder.layer:
        for path in layers:
            *parents, leaf = path.split(".")
            owner = block
            for name in parents:
                owner = getattr(owner, name)
            linear = getattr(owner, leaf)
            setattr(owner, leaf, quantize_dynamic(torch.nn.Sequential(linear),
                                                  {torch.nn.Linear}, dtype=torch.qint8)[0])
    return q


def _encoder(model: Any) -> Callable[[list[str]], Any]:
    def encode(texts: list[str]) -> Any:
        out = []
        for i in range(0, len(texts), 256):  # as the ingestor's flushes: sorted within 256
            out.append(model.encode(texts[i:i + 256], batch_size=32, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False))
        import numpy as np

        return np.vstack(out)
    return encode


def _hits(encode: Callable[[list[str]], Any], texts: list[str], sources: list[str],
          questions: list[dict[str, Any]]) -> tuple[float, float]:
    import numpy as np

    scores = encode([q["question"] for q in questions]) @ encode(texts).T
    h1 = h5 = 0
    for row, q in zip(scores, questions, strict=True):
        files: list[str] = []
        for j in np.argsort(-row):
            if sources[j] not in files:
                files.append(sources[j])
            if len(files) == 5:
                break
        h1 += files[0] in q["gold_sources"]
        h5 += any(f in q["gold_sources"] for f in files)
    return h1 / len(questions), h5 / len(questions)


def run(table: Any, work: Path, n_articles: int) -> None:
    from benchmarks.corpus import write_corpus
    from qa.settings import BUNDLED_ARTICLES
    from vectorstore import SentenceTransformerEmbedder

    corpus = work / "levers-corpus"
    write_corpus(corpus, n_articles, seed=7)
    embedder = SentenceTransformerEmbedder("bundled")
    model = embedder._load()
    model.encode(["warm up"] * 8)
    count = embedder.count_tokens

    def timed(encode: Callable[[list[str]], Any], texts: list[str]) -> float:
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            encode(texts)
            best = min(best, time.perf_counter() - t)
        return best

    base_texts, _ = _chunks(corpus, 160, 24)
    fp32 = _encoder(model)
    base_time = timed(fp32, base_texts)
    tokens = sum(count(t) or 0 for t in base_texts)
    table.add(f"levers: today's embedding of {n_articles} articles (fp32, chunks of 160 "
              "tokens, overlap 24)", f"{len(base_texts)} chunks, {tokens} model tokens, "
              f"{base_time:.1f} s (best of 2)")
    for size, overlap in ((240, 16), (200, 8)):
        texts, _ = _chunks(corpus, size, overlap)
        seconds = timed(fp32, texts)
        more = sum(count(t) or 0 for t in texts)
        longest = max(count(t) or 0 for t in texts)
        table.add(f"levers: chunks of {size} tokens, overlap {overlap}",
                  f"{len(texts)} chunks, {more} model tokens ({more / tokens - 1:+.1%}), longest "
                  f"{longest}; {base_time / seconds:.2f}x today's speed", "faster",
                  "kept" if seconds < base_time * 0.95 else "not kept: no faster")
    questions = {}
    for name, (folder, path) in SETS.items():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r.get("answerable", True) and r.get("gold_sources")]
        questions[name] = (_chunks(folder or BUNDLED_ARTICLES, 160, 24), rows)
    base_hits = {name: _hits(fp32, t, s, q) for name, ((t, s), q) in questions.items()}
    for label, layers in (("int8, every linear layer", FFN + ATTENTION),
                          ("int8, feed-forward layers only", FFN)):
        encode = _encoder(quantized(model, layers))
        speed = base_time / timed(encode, base_texts)
        hits = {name: _hits(encode, t, s, q) for name, ((t, s), q) in questions.items()}
        shown = "; ".join(
            f"{name} hit@1 {h[0]:.3f} vs {base_hits[name][0]:.3f}, hit@5 {h[1]:.3f} vs "
            f"{base_hits[name][1]:.3f}" for name, h in hits.items())
        holds = all(abs(h[k] - base_hits[n][k]) <= 0.01 for n, h in hits.items() for k in (0, 1))
        table.add(f"levers: torch dynamic quantisation, {label}",
                  f"{speed:.2f}x today's speed; dense retrieval {shown}",
                  "hit@k within 0.01 of fp32 on both sets",
                  "kept" if holds and speed > 1.05 else "not kept: retrieval moves")
