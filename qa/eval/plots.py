"""The evaluation plots (matplotlib, written as PNG without a display)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qa.eval.metrics import KS, Estimate


def write_plots(rows: Sequence[Mapping[str, Any]], overall: Mapping[str, Estimate],
                per_type: Mapping[str, Mapping[str, Estimate]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for prefix, style in (("recall", "o-"), ("hit", "s--")):
        ests = [overall[f"{prefix}@{k}"] for k in KS]
        vals = [e.value or 0.0 for e in ests]
        lows = [v - (e.low if e.low is not None else v) for v, e in zip(vals, ests, strict=True)]
        highs = [(e.high if e.high is not None else v) - v for v, e in zip(vals, ests, strict=True)]
        ax.errorbar(KS, vals, yerr=[lows, highs], fmt=style, capsize=3, label=f"{prefix}@k")
    ax.set_xticks(KS)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("k (passages retrieved)")
    ax.set_ylabel("file-level score")
    ax.set_title("Retrieval: recall@k and hit@k (95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    paths.append(out / "recall_at_k.png")
    fig.savefig(paths[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    types = list(per_type)
    ests = [per_type[t]["accuracy"] for t in types]
    vals = [e.value or 0.0 for e in ests]
    bars = ax.bar(types, vals, color="#4C72B0")
    for bar, e in zip(bars, ests, strict=True):
        ax.annotate(f"{(e.value or 0):.2f}\nn={e.n}", (bar.get_x() + bar.get_width() / 2,
                    bar.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy per question type (unanswerable: correct abstention)")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    paths.append(out / "accuracy_by_type.png")
    fig.savefig(paths[-1])
    plt.close(fig)

    matrix = [[0, 0], [0, 0]]  # rows: answerable, unanswerable; cols: answered, declined
    for r in rows:
        matrix[0 if r["answerable"] else 1][0 if r["answered"] else 1] += 1
    fig, ax = plt.subplots(figsize=(4.5, 4), dpi=120)
    ax.imshow(matrix, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(matrix[i][j]), ha="center", va="center", fontsize=14,
                    color="black")
    ax.set_xticks([0, 1], ["answered", "declined"])
    ax.set_yticks([0, 1], ["answerable", "unanswerable"])
    ax.set_title("Abstention confusion matrix")
    fig.tight_layout()
    paths.append(out / "abstention.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    return paths
