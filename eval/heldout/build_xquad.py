"""Rebuilds the held-out set in this folder from XQuAD's English file (CC BY-SA 4.0).

    python eval/heldout/build_xquad.py PATH/TO/xquad.en.json

XQuAD (github.com/google-deepmind/xquad) is 240 Wikipedia paragraphs from 48 articles with 1,190
crowd-written questions (SQuAD v1.1 dev). Nothing in it was looked at while the project's rules
were written. What this script makes, deterministically:

- ``corpus/``: one file per paragraph (the article title as a heading line, then the paragraph),
  except one paragraph per article that is held back: its questions become *unanswerable*, the
  article's other paragraphs staying in the index as same-topic passages that do not answer
  (negative rejection). A held-back question is kept only if no corpus file contains its answer.
- ``tune.jsonl`` and ``test.jsonl``: the articles are split in two halves (alternate titles in
  sorted order), so the test questions ask about text no tuning question touches. Thresholds and
  weights are chosen on ``tune.jsonl`` only; figures are reported on ``test.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PER_PARAGRAPH = {"tune": 3, "test": 2}  # answerable questions kept per paragraph
PER_HELD_BACK = {"tune": 3, "test": 2}  # unanswerable questions kept per held-back paragraph


def _rank(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _type(answer: str) -> str:
    months = ("january|february|march|april|may|june|july|august|september|october|november|"
              "december")
    if re.search(rf"\b(1\d\d\d|20\d\d)\b|\b({months})\b", answer, re.I):
        return "date"
    if re.search(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|"
                 r"million|billion)\b", answer, re.I):
        return "numeric"
    return "factoid"


def _sentence(context: str, start: int, end: int) -> str:
    """The sentence(s) of ``context`` holding ``[start, end)``, verbatim."""
    sys.path.insert(0, str(HERE.parent.parent))
    from qa.text import sentence_spans

    spans = list(sentence_spans(context))
    a = max((s for s, e in spans if s <= start), default=0)
    b = min((e for s, e in spans if e >= end), default=len(context))
    return context[a:b]


def build(source: Path) -> None:
    data = json.loads(source.read_text(encoding="utf-8"))["data"]
    articles = sorted(data, key=lambda a: a["title"])
    corpus = HERE / "corpus"
    corpus.mkdir(exist_ok=True)
    for old in corpus.glob("*.txt"):
        old.unlink()
    files: dict[str, str] = {}
    held: list[tuple[str, str, dict]] = []  # (split, title, paragraph)
    kept: list[tuple[str, str, str, dict]] = []  # (split, title, file name, paragraph)
    for i, article in enumerate(articles):
        split = "tune" if i % 2 == 0 else "test"
        title = article["title"].replace("_", " ")
        back = int(_rank(article["title"]), 16) % len(article["paragraphs"])
        for k, paragraph in enumerate(article["paragraphs"]):
            if k == back:
                held.append((split, title, paragraph))
                continue
            name = f"{_slug(title)}-{k + 1}.txt"
            text = f"{title}\n\n{paragraph['context'].strip()}\n"
            files[name] = text
            (corpus / name).write_text(text, encoding="utf-8")
            kept.append((split, title, name, paragraph))
    everything = _norm(" ".join(files.values()))
    out: dict[str, list[dict]] = {"tune": [], "test": []}
    for split, title, name, paragraph in kept:
        qas = sorted(paragraph["qas"], key=lambda q: _rank(q["id"]))[: PER_PARAGRAPH[split]]
        for qa in qas:
            ans = qa["answers"][0]
            aliases = list(dict.fromkeys(a["text"].strip() for a in qa["answers"]))
            start = ans["answer_start"]
            quote = _sentence(paragraph["context"].strip(), start, start + len(ans["text"]))
            out[split].append({
                "id": f"xq-{qa['id']}", "question": qa["question"].strip(),
                "type": _type(ans["text"]), "answerable": True, "answer_aliases": aliases,
                "gold_sources": [name], "gold_quotes": [quote], "notes": title})
    for split, title, paragraph in held:
        taken = 0
        for qa in sorted(paragraph["qas"], key=lambda q: _rank(q["id"])):
            if taken == PER_HELD_BACK[split]:
                break
            if any(f" {_norm(a['text'])} " in f" {everything} " for a in qa["answers"]):
                continue  # the answer is still somewhere in the corpus: not surely unanswerable
            taken += 1
            out[split].append({
                "id": f"xq-{qa['id']}", "question": qa["question"].strip(),
                "type": "unanswerable", "answerable": False,
                "notes": f"{title}: the answering paragraph is held back"})
    for split, rows in out.items():
        rows.sort(key=lambda r: _rank(r["id"]))
        with (HERE / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        n_un = sum(1 for r in rows if not r["answerable"])
        print(f"{split}: {len(rows)} questions ({n_un} unanswerable)")
    print(f"corpus: {len(files)} files")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build(Path(sys.argv[1]))
