"""File-level hit@1 / hit@5 of the plain LlamaIndex pipeline (benchmarks/baseline.py:
SimpleDirectoryReader -> VectorStoreIndex on Chroma, default splitter, the same MiniLM) on a
question set with its own corpus, next to this project's retrieval on the same questions.

    python eval/baseline_llamaindex.py [eval/heldout/test.jsonl]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.baseline import build, top_files  # noqa: E402
from qa import Assistant  # noqa: E402
from qa.eval.questions import load_questions  # noqa: E402
from qa.eval.runner import corpus_assistant, corpus_for  # noqa: E402


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "eval/heldout/test.jsonl")
    questions = [q for q in load_questions(path) if q.answerable]
    corpus = corpus_for(path, None)
    if corpus is None:
        sys.exit(f"{path} has no corpus/ folder beside it")
    with tempfile.TemporaryDirectory(prefix="qa-baseline-") as tmp:
        ours = corpus_assistant(Assistant(), corpus, Path(tmp) / "ours")
        plain = build(corpus, Path(tmp) / "plain", ours.embedder)
        hits = {"ours": [0, 0], "llamaindex": [0, 0]}
        for q in questions:
            gold = set(q.gold_sources)
            ranked = {"ours": [p.source for p in ours.retrieve(q.question, top_k=5).passages],
                      "llamaindex": top_files(plain, q.question, 5)}
            for name, files in ranked.items():
                hits[name][0] += bool(gold & set(files[:1]))
                hits[name][1] += bool(gold & set(files[:5]))
    n = len(questions)
    print(f"{n} answerable questions of {path}")
    print("| pipeline | hit@1 | hit@5 |\n|---|---|---|")
    for name, (h1, h5) in hits.items():
        print(f"| {name} | {h1 / n:.3f} | {h5 / n:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
