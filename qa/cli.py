"""The ``qa`` command: ingest, ask, chat."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from qa.errors import QAError

if TYPE_CHECKING:
    from qa.assistant import Assistant
    from qa.serve.client import Answerer
    from qa.settings import Settings
    from qa.types import Answer, IngestReport


LOCAL_HELP = ("answer in this process even when a `qa serve` of the same index is running "
              "(by default questions go to it: no model to load; QA_SERVER_URL names one)")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", metavar="DIR", help="index directory (QA_INDEX_DIR)")
    common.add_argument("--chroma-url", metavar="URL", help="Chroma server (QA_CHROMA_URL)")
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-vv for debug)")

    parser = argparse.ArgumentParser(
        prog="qa", description="Ask questions of a folder of articles, with cited answers.")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", parents=[common], help="add or update files in the index")
    ingest.add_argument("paths", nargs="*", metavar="PATH",
                        help="files, folders or http(s):// article pages (default: the corpus "
                        "folder, QA_CORPUS_DIR)")
    ingest.add_argument("--rebuild", action="store_true",
                        help="empty the index first (needed after changing the embedding model "
                        "or chunking)")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.add_argument("--watch", action="store_true",
                        help="then keep the index in step with the folders as files are added, "
                        "edited and deleted, until Ctrl-C")

    ask = sub.add_parser("ask", parents=[common], help="answer one question")
    ask.add_argument("question", nargs="?", help="the question")
    ask.add_argument("--questions", metavar="FILE.jsonl",
                     help="answer each line's `question`; one JSON object per line out")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("--mode", choices=["extractive", "llm"], help="answer mode (QA_MODE)")
    ask.add_argument("--top-k", type=_positive, metavar="K", help="passages to use (QA_TOP_K)")
    ask.add_argument("--source", action="append", metavar="FILE",
                     help="only read this file (repeatable; name as `qa files` lists it)")
    ask.add_argument("--since", metavar="YYYY-MM-DD", help="only articles published on or after")
    ask.add_argument("--until", metavar="YYYY-MM-DD", help="only articles published on or before")
    ask.add_argument("--local", action="store_true", help=LOCAL_HELP)

    chat = sub.add_parser("chat", parents=[common], help="multi-turn chat in the terminal")
    chat.add_argument("--mode", choices=["extractive", "llm"], help="answer mode (QA_MODE)")
    chat.add_argument("--local", action="store_true", help=LOCAL_HELP)

    sub.add_parser("files", parents=[common], help="list the ingested files")

    show = sub.add_parser("show", parents=[common],
                          help="print a file's article text as indexed (clutter removed)")
    show.add_argument("source", help="a file of the index: its name (`qa files`) or its path")
    show.add_argument("--clutter", action="store_true", help="also list the lines left out")

    serve = sub.add_parser("serve", help="start the web chat (same as `python app.py`)")
    serve.add_argument("--host", help="address to listen on (QA_HOST or GRADIO_SERVER_NAME)")
    serve.add_argument("--port", type=int, help="port (QA_PORT or GRADIO_SERVER_PORT)")
    serve.add_argument("--share", action="store_true", help="ask Gradio for a public link")

    ev = sub.add_parser("eval", parents=[common],
                        help="evaluate answers against a question set; writes a report")
    ev.add_argument("file", nargs="?", help="questions JSONL (default: eval/questions.jsonl)")
    ev.add_argument("--out", default="eval-report", metavar="DIR",
                    help="where results.jsonl, report.md/json and plots go (default: %(default)s)")
    ev.add_argument("--mode", choices=["extractive", "llm"], help="answer mode (QA_MODE)")
    ev.add_argument("--corpus", metavar="DIR",
                    help="articles the questions are about, indexed apart in DIR/../OUT/index "
                    "(default: a corpus/ folder beside the question file, else the index)")
    ev.add_argument("--compare", action="store_true",
                    help="also run several configurations (dense vs hybrid, top-k, chunk size)")
    ev.add_argument("--check", metavar="THRESHOLDS.json",
                    help="exit 1 if a metric falls below its floor (e.g. eval/thresholds.json)")
    ev.add_argument("--sweep", action="store_true",
                    help="also show what each extractive abstention threshold would do")
    ev.add_argument("--judge", action="store_true",
                    help="also grade answers with the configured LLM (named in the report)")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    from qa.settings import load_settings

    overrides: dict[str, Any] = {}
    if args.index:
        overrides["index_dir"] = Path(args.index)
    if args.chroma_url:
        overrides["chroma_url"] = args.chroma_url
    return load_settings(**overrides)


def _assistant(args: argparse.Namespace, settings: Settings) -> Assistant:
    from qa.assistant import Assistant

    return Assistant(settings, rebuild=args.command == "ingest" and args.rebuild)


def _answerer(args: argparse.Namespace, settings: Settings, err: TextIO) -> Answerer:
    """A running server of the same index if there is one (nothing heavy is imported), else
    this process's assistant; questions the server stops answering are answered here."""
    from qa.serve.client import WithFallback, find_server

    def say(message: str) -> None:
        print(message, file=err, flush=True)

    def local() -> Assistant:
        assistant = _assistant(args, settings)
        _ensure_index(assistant, err)
        return assistant

    _ = settings.answer_mode  # a bad QA_MODE is the same error with or without a server
    remote = None if args.local else find_server(
        settings, index_given=bool(args.index or args.chroma_url), say=say)
    answerer = WithFallback(remote, local, say)
    if remote is None:
        answerer.local()
    return answerer


def _ensure_index(assistant: Assistant, err: TextIO) -> None:
    if assistant.count() == 0:
        corpus = assistant.settings.corpus_dir
        print(f"The index is empty: ingesting the articles in {corpus} first ...", file=err)
        report = assistant.ensure_ingested(progress=err.isatty())
        if report is not None:
            print(report.summary(), file=err)


def one_line(text: str) -> str:
    """``text`` with line breaks, tabs and other control characters written as escapes (a file
    may be named ``"a\\nb.txt"``): one file, one output line."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text)


def print_report(report: IngestReport, out: TextIO) -> None:
    width = max((len(one_line(f.source)) for f in report.files), default=10)
    for f in report.files:
        detail = f"{f.chunks} chunks" if f.chunks else ""
        if f.kept_chars or f.dropped_chars:
            detail += f", {f.kept_chars} chars kept, {f.dropped_chars} dropped as clutter"
        if f.reason:
            detail = f"{detail}; {f.reason}" if detail else f.reason
        print(f"  {f.status:<9} {one_line(f.source):<{width}}  {one_line(detail)}", file=out)
    print(report.summary(), file=out)


def print_answer(answer: Answer, out: TextIO, *, streamed: bool = False) -> None:
    if not streamed:
        print(answer.text, file=out)
    bold, plain = ("\033[1m", "\033[0m") if out.isatty() else ("**", "**")
    for c in answer.citations:
        span = c.span_in_quote()
        quote = c.quote if span is None else (
            f"{c.quote[:span[0]]}{bold}{c.quote[span[0]:span[1]]}{plain}{c.quote[span[1]:]}")
        quote = " ".join(quote.split())
        about = ", ".join(x for x in (c.title, c.outlet, c.published) if x)
        print(f"  [{c.n}] {one_line(c.source)} ({one_line(about)}) chars {c.start}-{c.end}: "
              f"\"{quote}\"", file=out)
        if c.url:
            print(f"      from: {one_line(c.url)}", file=out)
        if c.also_in:
            print(f"      also in: {', '.join(c.also_in)}", file=out)
        if c.warning:
            print(f"      warning: {c.warning}", file=out)
    shown = [c for c in answer.claims if c.shown]
    for claim in shown:
        if claim.label != "supported" or claim.citation_added:
            label = "citation added" if claim.label == "supported" else claim.label
            print(f"  {label}: \"{claim.text}\" ({'; '.join(claim.reasons)})", file=out)
    if shown:
        counts = {label: sum(c.label == label for c in shown)
                  for label in ("supported", "partial", "unsupported")}
        print("  checks: " + ", ".join(f"{n} {label}" for label, n in counts.items() if n),
              file=out)
    left_out = [c for c in answer.claims if not c.shown]
    if left_out:
        print("  left out, not supported by the sources:", file=out)
        for claim in left_out:
            print(f"    - \"{claim.text}\" ({'; '.join(claim.reasons)})", file=out)
    for note in answer.notes:
        print(f"  note: {note}", file=out)


def _positive(value: str) -> int:
    """An argparse type: a whole number of at least 1 (as QA_TOP_K requires)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _ask_file(assistant: Answerer, path: str, args: argparse.Namespace, out: TextIO) -> int:
    failures = 0
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QAError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise QAError(f"{path} is not UTF-8 text (byte {exc.start}: "
                      f"{exc.object[exc.start:exc.start + 1]!r})") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            question = item["question"]
            if not isinstance(question, str):
                raise TypeError(f"`question` is a {type(question).__name__}, not text")
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise QAError(f"{path}, line {number}: not a JSON object with a `question` "
                          f"({exc})") from exc
        try:
            record: dict[str, Any] = {"id": item.get("id"), **assistant.ask(
                question, mode=args.mode, top_k=args.top_k, sources=args.source,
                since=args.since, until=args.until).to_json()}
        except QAError as exc:
            failures += 1
            record = {"id": item.get("id"), "question": question, "error": str(exc)}
        print(json.dumps(record, ensure_ascii=False), file=out, flush=True)
    return 1 if failures else 0


def _chat(assistant: Answerer, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    history: list[Answer] = []
    print("Ask about the articles. Empty line or Ctrl-D to quit; /clear forgets the chat.",
          file=err)
    while True:
        try:
            question = input("you> ").strip()
        except EOFError:
            print(file=err)
            return 0
        if not question:
            return 0
        if question == "/clear":
            history.clear()
            continue
        try:
            final = None
            shown = ""
            print("qa> ", end="", file=out, flush=True)
            for piece in assistant.stream(question, history, mode=args.mode):
                if isinstance(piece, str):
                    shown += piece
                    print(piece, end="", file=out, flush=True)
                else:
                    final = piece
            print(file=out)
            if final is not None:
                # the final text is authoritative (checks, renumbered citations): say so
                revised = " ".join(final.text.split()) != " ".join(shown.split())
                if revised:
                    print(f"qa (revised)> {final.text}", file=out)
                print_answer(final, out, streamed=True)
                history.append(final)
        except QAError as exc:
            print(f"\nerror: {exc}", file=err)


def _eval(assistant: Assistant, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import tempfile

    from qa.eval import runner as ev
    from qa.eval.questions import default_questions, load_questions

    mode = args.mode or assistant.mode
    questions = load_questions(args.file or default_questions())
    corpus = ev.corpus_for(args.file, args.corpus)
    if corpus is not None:
        print(f"Indexing the set's own corpus {corpus} in {Path(args.out) / 'index'} ...",
              file=err)
        assistant = ev.corpus_assistant(assistant, corpus, Path(args.out) / "index")
    progress = err.isatty()
    print(f"Evaluating {len(questions)} questions in {mode} mode ...", file=err)
    report = ev.evaluate_set(assistant, questions, mode=mode, progress=progress,
                             judge_answers=args.judge)
    if args.sweep and report.probe:  # what the reader would answer at each threshold
        print("| min_support | correct answers | correct abstentions | wrong answers | "
              "abstained on answerable |\n|---|---|---|---|---|", file=out)
        for t in ev.sweep_support(report.probe):
            print(f"| {t['threshold']:.2f} | {t['correct_answers']} | "
                  f"{t['correct_abstentions']} | {t['wrong_answers']} | "
                  f"{t['abstained_on_answerable']} |", file=out)
    written = ev.write_outputs(report, Path(args.out))
    llm_only = ev.LLM_HEADLINE if mode == "llm" else ()
    for name in (*ev.HEADLINE, *llm_only, *(["abstention_auc"] if report.probe else [])):
        print(f"  {name:<21} {report.overall[name].fmt()}", file=out)
    print(f"wrote {', '.join(str(p) for p in written)}", file=err)
    if args.compare:
        with tempfile.TemporaryDirectory(prefix="qa-compare-") as tmp:
            results = ev.compare(assistant, questions, mode, Path(tmp), progress=progress)
        table = ev.compare_table(results)
        (Path(args.out) / "compare.md").write_text(table + "\n", encoding="utf-8")
        print(table, file=out)
    if args.check:
        try:
            thresholds = json.loads(Path(args.check).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise QAError(f"cannot read thresholds {args.check}: {exc}") from exc
        failures = ev.check_thresholds(report.overall, thresholds.get(mode, thresholds))
        for failure in failures:
            print(f"FAIL {failure}", file=err)
        if failures:
            return 1
        print(f"all metrics within {args.check}", file=err)
    return 0


def _ingest_paths_and_urls(assistant: Assistant, given: list[str], err: TextIO
                           ) -> IngestReport:
    """Files and folders as they are; ``http(s)://`` pages fetched first (one report)."""
    from dataclasses import replace

    from qa.ingest.urls import is_url

    urls = [p for p in given if is_url(p)]
    paths = [p for p in given if not is_url(p)]
    if not urls:
        return assistant.ingest(paths or None, progress=err.isatty())
    report = assistant.ingest(paths, progress=err.isatty()) if paths else None
    fetched = assistant.add_urls(urls)
    if report is None:
        return fetched
    return replace(fetched, files=(*report.files, *fetched.files),
                   embedded_chunks=report.embedded_chunks + fetched.embedded_chunks,
                   seconds=report.seconds + fetched.seconds)


def _watch(assistant: Assistant, folders: list[str], out: TextIO, err: TextIO) -> int:
    """``qa ingest --watch``: one line per change and per file ingestion touched, until
    Ctrl-C (exit 0)."""
    from qa.ingest.watching import FolderWatcher

    watcher = FolderWatcher(lambda roots: assistant.ingest(roots), folders,
                            say=lambda line: print(one_line(line), file=out, flush=True))
    print(f"watching {', '.join(str(f) for f in watcher.folders)} (Ctrl-C stops)", file=err,
          flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # the way to stop, even mid-update
        watcher.run()
    print("stopped watching", file=err)
    return 0


def _ask_or_chat(assistant: Answerer, args: argparse.Namespace, out: TextIO,
                 err: TextIO) -> int:
    if args.command == "chat":
        return _chat(assistant, args, out, err)
    if args.questions:
        return _ask_file(assistant, args.questions, args, out)
    if not args.question:
        raise QAError("give a question, or --questions FILE.jsonl")
    answer = assistant.ask(args.question, mode=args.mode, top_k=args.top_k,
                           sources=args.source, since=args.since, until=args.until)
    if args.json:
        print(json.dumps(answer.to_json(), indent=2, ensure_ascii=False), file=out)
    else:
        print_answer(answer, out)
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    if args.command == "serve":
        import app

        forwarded = [*(["--host", args.host] if args.host else []),
                     *(["--port", str(args.port)] if args.port else []),
                     *(["--share"] if args.share else [])]
        return app.main(forwarded)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, stream=err, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings(args)
        if args.command in ("ask", "chat"):
            return _ask_or_chat(_answerer(args, settings, err), args, out, err)
        assistant = _assistant(args, settings)
        if args.command == "ingest":
            # --rebuild: the index was emptied when it was opened (whatever state it was in)
            report = _ingest_paths_and_urls(assistant, args.paths, err)
            if args.json:
                print(json.dumps(report.to_json(), indent=2), file=out)
            else:
                print_report(report, out)
            if args.watch:
                from qa.ingest.urls import is_url

                folders = [p for p in args.paths if not is_url(p)]
                return _watch(assistant, folders or [str(settings.corpus_dir)], out, err)
            return 0 if report.ok else 1
        if args.command == "files":
            for record in assistant.files():
                extra = record.extra
                fields = [record.source, f"{record.chunks} chunks", record.title,
                          str(extra.get("outlet") or "-"),
                          str(extra.get("published") or "date unknown")]
                print("\t".join(one_line(f) for f in fields), file=out)
            return 0
        if args.command == "show":
            doc = assistant.show(args.source)
            meta = doc.meta
            print(f"# {doc.title}\n{doc.file.source} · outlet: {meta.outlet or 'unknown'} · "
                  f"published: {meta.published or 'unknown'} · url: {meta.url or 'none'} · "
                  f"{doc.kept_chars} chars kept, {doc.dropped_chars} dropped\n", file=out)
            print(doc.text, file=out)
            if args.clutter:
                from qa.ingest.clutter import classify

                raw = doc.file.path.read_text(encoding=doc.encoding, errors="replace")
                print("\n# Left out as clutter", file=out)
                for line in classify(raw):
                    if not line.body:
                        print(f"  - [{line.reason}] {line.text[:100]}", file=out)
            return 0
        _ensure_index(assistant, err)
        return _eval(assistant, args, out, err)
    except QAError as exc:
        print(f"error: {exc}", file=err)
        return 2
    except KeyboardInterrupt:
        return 130
