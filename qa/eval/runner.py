"""Runs a question set through the same Assistant users get and writes results and a report."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.answer.retrieval import jaccard, shingles
from qa.assistant import Assistant, Mode
from qa.errors import QAError
from qa.eval.metrics import KS, Estimate, by_type, contains_alias, roc_auc, summarize, token_f1
from qa.eval.questions import EvalQuestion, default_questions, load_questions
from qa.types import Answer

log = logging.getLogger(__name__)

HEADLINE = ("accuracy", "answer_accuracy", "hit@1", "hit@5", "mrr", "citation_validity",
            "citation_precision", "citation_support", "claims_supported", "abstention_f1",
            "false_abstention", "false_abstention_top5", "correct_abstention", "hallucination")
# LLM mode: what reaches the reader (unsupported_shown must be 0), what was done to get there
LLM_HEADLINE = ("unsupported_shown", "left_out", "citation_added", "fallback",
                "tokens_per_answer", "latency_p50_ms", "latency_p95_ms")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, cwd=Path(__file__).parent,
                              check=False).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def run_settings(assistant: Assistant, mode: Mode) -> dict[str, Any]:
    s = assistant.settings
    return {
        "commit": _commit(), "mode": mode, "embed_model": assistant.embedder.name,
        "chunk_size": s.chunk_size, "chunk_overlap": s.chunk_overlap, "top_k": s.top_k,
        "candidates": s.candidates, "retrieval": _retrieval_kind(assistant),
        "min_support": s.min_support,
        "llm_model": s.llm_model if mode == "llm" else None,
        "index": s.chroma_url or str(s.index_dir),
    }


def corpus_for(questions: str | Path | None, corpus: str | Path | None) -> Path | None:
    """The folder of articles a question set is about: ``corpus`` when given, else a
    ``corpus/`` folder beside the question file (a held-out set ships its own), else None (the
    set is about the index's articles)."""
    if corpus is not None:
        path = Path(corpus)
        if not path.is_dir():
            raise QAError(f"the corpus {path} is not a folder")
        return path
    if questions is not None and (beside := Path(questions).parent / "corpus").is_dir():
        return beside
    return None


def corpus_assistant(base: Assistant, corpus: Path, index_dir: Path) -> Assistant:
    """An Assistant like ``base`` on its own on-disk index of ``corpus`` (ingested
    incrementally: a second run embeds nothing)."""
    settings = base.settings.model_copy(update={"index_dir": index_dir, "chroma_url": None,
                                                "corpus_dir": corpus})
    assistant = Assistant(settings, embedder=base.embedder, chat=base._chat)
    report = assistant.ingest([corpus])
    if not report.ok:
        raise QAError(f"the corpus {corpus} did not ingest cleanly: {report.summary()}")
    return assistant


def _retrieval_kind(assistant: Assistant) -> str:
    r = assistant.retriever
    return "hybrid" if r.use_bm25 and r.use_dense else ("dense" if r.use_dense else "bm25")


def _valid(answer: Answer) -> bool:
    """Every cited source was retrieved and every quote is verbatim at its offsets."""
    retrieved = {p.path for p in answer.passages}
    for c in answer.citations:
        if c.path not in retrieved:
            return False
        try:
            with open(c.path) as fh:
                if fh.read()[c.start : c.end] != c.quote:
                    return False
        except OSError:
            return False
    return True


def _supported(answer: Answer, q: EvalQuestion) -> bool:
    """The cited quotes contain an answer alias, or overlap a gold quote."""
    quotes = " ".join(c.quote for c in answer.citations)
    if contains_alias(quotes, q.answer_aliases):
        return True
    return any(
        g in c.quote or c.quote in g or jaccard(shingles(g), shingles(c.quote)) >= 0.5
        for c in answer.citations for g in q.gold_quotes
    )


def evaluate_one(assistant: Assistant, q: EvalQuestion, mode: Mode,
                 retrieve_k: int = max(KS)) -> dict[str, Any]:
    started = time.perf_counter()
    answer = assistant.ask(q.question, mode=mode)
    latency = (time.perf_counter() - started) * 1000
    ranking = assistant.retrieve(q.question, top_k=retrieve_k).passages
    correct = (answer.answered and contains_alias(answer.text, q.answer_aliases)) \
        if q.answerable else not answer.answered
    return {
        "id": q.id, "question": q.question, "type": q.type, "answerable": q.answerable,
        "answer": answer.text, "answered": answer.answered, "mode": answer.mode,
        "correct": bool(correct),
        "token_f1": token_f1(answer.text, q.answer_aliases) if answer.answered else 0.0,
        "citations": [c.to_json() for c in answer.citations],
        "cited_sources": list(dict.fromkeys(
            [*answer.sources, *(s for c in answer.citations for s in c.also_in)])),
        "citations_valid": _valid(answer),
        "citations_supported": bool(answer.citations) and _supported(answer, q),
        "retrieved": [{"source": p.source, "score": round(p.score, 5)} for p in answer.passages],
        "retrieved_files": [p.source for p in ranking],
        "gold_sources": q.gold_sources, "answer_aliases": q.answer_aliases,
        "support": answer.support, "latency_ms": round(latency, 1),
        "claim_labels": [c.label for c in answer.claims if c.shown],
        "requested_mode": mode,
        "claims_unsupported_shown": sum(c.shown and c.label == "unsupported"
                                        for c in answer.claims),
        "claims_left_out": sum(not c.shown for c in answer.claims),
        "claims_citation_added": sum(c.citation_added for c in answer.claims),
        "llm_tokens": sum(answer.tokens.values()),
        "notes": list(answer.notes),
    }


def evaluate(assistant: Assistant, questions: Sequence[EvalQuestion], mode: Mode, *,
             progress: bool = False) -> list[dict[str, Any]]:
    from tqdm import tqdm

    return [evaluate_one(assistant, q, mode)
            for q in tqdm(questions, desc=f"eval ({mode})", unit="q", disable=not progress,
                          leave=False)]


def evaluate_set(assistant: Assistant,
                 questions: str | Path | Sequence[EvalQuestion] | None = None, *,
                 mode: Mode | None = None, out: str | Path | None = None,
                 progress: bool = False, judge_answers: bool = False) -> Report:
    """Run a question set (a JSONL file, default ``eval/questions.jsonl``, or questions
    already loaded) through ``assistant`` and return the :class:`Report`; with ``out``, write
    results, report and plots there. ``judge_answers``: also grade them with the configured
    LLM."""
    chosen = mode or assistant.mode
    items = (questions if isinstance(questions, Sequence) and not isinstance(questions, str)
             else load_questions(questions or default_questions()))
    probe = probe_rows(assistant, items, progress=progress) if chosen == "extractive" else []
    rows = evaluate(assistant, items, chosen, progress=progress)
    settings = run_settings(assistant, chosen)
    if judge_answers:
        settings["judge_model"] = assistant.chat.model
        judge(assistant.chat, rows, assistant.settings.prompts_dir)
    report = build_report(rows, settings, probe)
    if out is not None:
        write_outputs(report, Path(out))
    return report


def judge(chat: Any, rows: Sequence[dict[str, Any]], prompts_dir: str | None = None) -> None:
    """Adds ``judge_correct`` to each answered, answerable row: an LLM's verdict on the answer
    against the aliases (named in the report by ``judge_model``)."""
    from qa.answer.prompts import render
    from qa.errors import LLMError

    for row in rows:
        if not (row["answerable"] and row["answered"]):
            row["judge_correct"] = (not row["answered"]) if not row["answerable"] else False
            continue
        prompt = render("judge", prompts_dir, question=row["question"],
                        aliases="; ".join(row["answer_aliases"]), answer=row["answer"])
        try:
            verdict, _ = chat.complete([{"role": "user", "content": prompt}])
        except LLMError as exc:
            log.warning("judge failed on %s: %s", row["id"], exc)
            row["judge_correct"] = None
            continue
        row["judge_correct"] = verdict.strip().upper().startswith("CORRECT")


@dataclass(frozen=True)
class Report:
    settings: Mapping[str, Any]
    overall: Mapping[str, Estimate]
    per_type: Mapping[str, Mapping[str, Estimate]]
    rows: Sequence[Mapping[str, Any]]
    # extractive: the same questions answered with no abstention threshold (sweep, AUC)
    probe: Sequence[Mapping[str, Any]] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": dict(self.settings),
            "overall": {k: v.to_json() for k, v in self.overall.items()},
            "per_type": {t: {k: v.to_json() for k, v in m.items()}
                         for t, m in self.per_type.items()},
            "failing": [r["id"] for r in self.rows if not r["correct"]],
        }


def build_report(rows: Sequence[Mapping[str, Any]], settings: Mapping[str, Any],
                 probe: Sequence[Mapping[str, Any]] = ()) -> Report:
    """``probe``: the same questions answered with no abstention threshold (extractive), for
    the AUC of the abstention score."""
    overall = summarize(rows)
    if probe:
        overall["abstention_auc"] = abstention_auc(probe)
    return Report(settings, overall, by_type(rows), rows, probe)


def probe_rows(assistant: Assistant, questions: Sequence[EvalQuestion], *,
               progress: bool = False) -> list[dict[str, Any]]:
    """Extractive answers with the abstention threshold at 0: what the reader would answer,
    and its score (``support``), for the sweep and the AUC."""
    runner = Assistant(assistant.settings.model_copy(update={"min_support": 0.0}),
                       embedder=assistant.embedder, store=assistant.store)
    runner.retriever = assistant.retriever  # same retrieval (and its keyword index)
    return evaluate(runner, questions, "extractive", progress=progress)


def abstention_auc(probe: Sequence[Mapping[str, Any]]) -> Estimate:
    """ROC AUC of the abstention score: how well ``support`` ranks the answers that would be
    right (an alias, on an answerable question) above those that would be wrong (a wrong
    sentence, or any answer to an unanswerable question). Questions the gates leave without a
    candidate are not scored (they are declined whatever the threshold)."""
    scored = [r for r in probe if r["answered"]]
    right = [float(r["support"] or 0.0) for r in scored if r["answerable"] and r["correct"]]
    wrong = [float(r["support"] or 0.0) for r in scored
             if not (r["answerable"] and r["correct"])]
    value = roc_auc(right, wrong)
    return Estimate(value, len(scored), None, None)


def markdown(report: Report) -> str:
    s = report.settings
    lines = ["# Evaluation report", ""]
    lines += [f"- {k}: `{v}`" for k, v in s.items()]
    lines += ["", f"Questions: {len(report.rows)}. Values are means over questions with a 95% "
              "bootstrap interval and n (the questions the metric applies to). Retrieval is at "
              "file level: hit@k / recall@k look at the files of the top k passages.", "",
              "## Overall", "", "| metric | value | 95% CI | n |", "|---|---|---|---|"]
    for name, est in report.overall.items():
        lines.append(_metric_row(name, est))
    lines += ["", "## Per question type", ""]
    types = list(report.per_type)
    lines.append("| metric | " + " | ".join(types) + " |")
    lines.append("|---" * (len(types) + 1) + "|")
    for name in HEADLINE:
        cells = []
        for t in types:
            est = report.per_type[t][name]
            cells.append("—" if est.value is None else f"{est.value:.2f} (n={est.n})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    failing = [r for r in report.rows if not r["correct"]]
    lines += ["", f"## Failing questions ({len(failing)})", "",
              "| id | type | question | answer |", "|---|---|---|---|"]
    for r in failing:
        answer = r["answer"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {r['id']} | {r['type']} | {r['question']} | {answer[:160]} |")
    lines += ["", "Plots: `recall_at_k.png`, `accuracy_by_type.png`, `abstention.png`.", ""]
    return "\n".join(lines)


def _metric_row(name: str, est: Estimate) -> str:
    if est.value is None:
        return f"| {name} | n/a | | {est.n} |"
    ci = f"[{est.low:.3f}, {est.high:.3f}]" if est.low is not None else ""
    return f"| {name} | {est.value:.3f} | {ci} | {est.n} |"


def write_outputs(report: Report, out: Path) -> list[Path]:
    from qa.eval.plots import write_plots

    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for row in report.rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "report.json").write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    written = [out / "results.jsonl", out / "report.json", out / "report.md"]
    written += write_plots(report.rows, report.overall, report.per_type, out)
    return written


def check_thresholds(overall: Mapping[str, Estimate], thresholds: Mapping[str, Any]) -> list[str]:
    """Failures against ``{"min": {metric: value}, "max": {metric: value}}``."""
    failures = []
    for name, floor in thresholds.get("min", {}).items():
        value = overall[name].value
        if value is None or value < floor:
            failures.append(f"{name} = {value} is below the floor {floor}")
    for name, ceiling in thresholds.get("max", {}).items():
        value = overall[name].value
        if value is None or value > ceiling:
            failures.append(f"{name} = {value} is above the ceiling {ceiling}")
    return failures


def sweep_support(rows: Iterable[Mapping[str, Any]],
                  thresholds: Sequence[float] = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5,
                                                0.6, 0.7),
                  ) -> list[dict[str, Any]]:
    """What each extractive threshold would do, from rows run with the threshold at 0."""
    rows = list(rows)
    table = []
    for t in thresholds:
        counts = {"threshold": t, "correct_answers": 0, "correct_abstentions": 0,
                  "wrong_answers": 0, "abstained_on_answerable": 0}
        for r in rows:
            answered = r["answered"] and (r["support"] or 0.0) >= t
            if r["answerable"] and answered and r["correct"]:
                counts["correct_answers"] += 1
            elif not r["answerable"] and not answered:
                counts["correct_abstentions"] += 1
            elif answered:
                counts["wrong_answers"] += 1
            if r["answerable"] and not answered:
                counts["abstained_on_answerable"] += 1
        table.append(counts)
    return table


@dataclass(frozen=True)
class Config:
    """One configuration of ``qa eval --compare``."""

    label: str
    retrieval: str = "hybrid"  # hybrid | dense | bm25
    top_k: int | None = None
    chunk_size: int | None = None


COMPARE = (
    Config("hybrid, top-5 (default)"),
    Config("dense only, top-5", retrieval="dense"),
    Config("BM25 only, top-5", retrieval="bm25"),
    Config("hybrid, top-3", top_k=3),
    Config("hybrid, top-10", top_k=10),
    Config("hybrid, chunks of 96 tokens", chunk_size=96),
    Config("hybrid, chunks of 200 tokens", chunk_size=200),
)


def configured(base: Assistant, config: Config, workdir: Path) -> Assistant:
    """An Assistant like ``base`` with ``config`` applied (a separate index for chunking)."""
    changes: dict[str, Any] = {}
    if config.top_k:
        changes["top_k"] = config.top_k
    store = base.store
    if config.chunk_size:
        overlap = min(base.settings.chunk_overlap, config.chunk_size // 4)
        changes.update(chunk_size=config.chunk_size, chunk_overlap=overlap, chroma_url=None,
                       index_dir=workdir / f"index-{config.chunk_size}")
        settings = base.settings.model_copy(update=changes)
        assistant = Assistant(settings, embedder=base.embedder)
        corpus = sorted({Path(r.root) for r in base.files()}) or [settings.corpus_dir]
        assistant.ingest(corpus)
    else:
        assistant = Assistant(base.settings.model_copy(update=changes), embedder=base.embedder,
                              store=store)
    assistant.retriever.use_bm25 = config.retrieval in ("hybrid", "bm25")
    assistant.retriever.use_dense = config.retrieval in ("hybrid", "dense")
    return assistant


def compare(base: Assistant, questions: Sequence[EvalQuestion], mode: Mode, workdir: Path,
            configs: Sequence[Config] = COMPARE, *, progress: bool = False,
            ) -> list[tuple[Config, Mapping[str, Estimate]]]:
    out: list[tuple[Config, Mapping[str, Estimate]]] = []
    for config in configs:
        assistant = configured(base, config, workdir)
        rows = evaluate(assistant, questions, mode, progress=progress)
        out.append((config, summarize(rows)))
    return out


def compare_table(results: Sequence[tuple[Config, Mapping[str, Estimate]]]) -> str:
    cols = ("hit@1", "hit@5", "mrr", "accuracy", "answer_accuracy", "citation_validity",
            "citation_precision", "abstention_f1")
    lines = ["| configuration | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for config, overall in results:
        cells = ["n/a" if overall[c].value is None else f"{overall[c].value:.3f}" for c in cols]
        lines.append(f"| {config.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
