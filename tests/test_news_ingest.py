"""News-aware ingestion: clutter out, metadata kept and filterable, wire copies collapsed, more
formats, broken files survived."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assistant_over

from qa import Assistant, QAError, load_settings
from vectorstore import SentenceTransformerEmbedder

pytestmark = pytest.mark.real

TOR = "How many Tor-M1 air defense systems did Iran receive?"


def _verbatim(answer) -> None:  # type: ignore[no-untyped-def]
    from qa.ingest.documents import read_file_text

    for c in answer.citations:
        assert read_file_text(Path(c.path), c.encoding)[c.start : c.end] == c.quote


def test_clutter_only_answer_is_declined(real_assistant: Assistant) -> None:
    for question in ("How many school places does Tajikistan need?",
                     "How many defendants were sentenced over the Crocus City Hall attack?"):
        answer = real_assistant.ask(question)
        assert answer.answered is False, answer.text


def test_metadata_is_kept_per_file_and_chunk(real_assistant: Assistant) -> None:
    files = {r.source: r for r in real_assistant.files()}
    assert files["002_36c18e366312fe50.txt"].extra["outlet"] == "Fars News Agency"
    assert files["003_7471295c697f3a29.txt"].extra["outlet"] == "Sputnik International"
    assert files["000_7145f400b0cccf04.txt"].extra["published"] == ""  # unknown, not invented
    for r in files.values():
        assert r.extra["kept_chars"] > 0
    assert files["001_b33887a1e41e9f52.txt"].extra["dropped_chars"] > 1000
    answer = real_assistant.ask("What is the range of the S-300PMU1?")
    assert answer.citations[0].outlet == "Fars News Agency"


def test_wire_copy_is_cited_once_with_also_in(real_assistant: Assistant) -> None:
    answer = real_assistant.ask(TOR)
    assert answer.answered and "29" in answer.text
    assert len(answer.citations) == 1
    cited = answer.citations[0]
    other = ({"000_7145f400b0cccf04.txt", "002_36c18e366312fe50.txt"} - {cited.source}).pop()
    assert cited.also_in == (other,)
    _verbatim(answer)


def test_source_filter(real_assistant: Assistant) -> None:
    only = real_assistant.ask(TOR, sources=["000_7145f400b0cccf04.txt"])
    assert {p.source for p in only.passages} == {"000_7145f400b0cccf04.txt"}
    assert only.citations[0].source == "000_7145f400b0cccf04.txt"
    elsewhere = real_assistant.ask(TOR, sources=["004_4e42bca8ccfe4125.txt"])
    assert not elsewhere.answered


def test_date_filters(tmp_path: Path, bundled_embedder: SentenceTransformerEmbedder) -> None:
    assistant = assistant_over(tmp_path, {
        "old.txt":
        "Kazakhstan orders fighters\n\nPublished: 12 March 2015\n\nKazakhstan ordered 12 Su-30SM "
        "fighters from Russia, the defence ministry in Astana said on Thursday.\n",
        "new.txt":
        "Kazakhstan orders more fighters\n\nPublished: 2021-06-01\n\nKazakhstan ordered 8 more "
        "Su-30SM fighters from Russia, the defence ministry in Nur-Sultan said on Tuesday.\n",
    }, bundled_embedder)
    published = {r.source: r.extra["published"] for r in assistant.files()}
    assert published == {"old.txt": "2015-03-12", "new.txt": "2021-06-01"}
    q = "How many Su-30SM fighters did Kazakhstan order?"
    recent = assistant.ask(q, since="2020-01-01")
    assert {p.source for p in recent.passages} == {"new.txt"} and "8" in recent.text
    assert recent.citations[0].published == "2021-06-01"
    early = assistant.ask(q, until="2016-12-31")
    assert {p.source for p in early.passages} == {"old.txt"} and "12" in early.text
    with pytest.raises(QAError, match="since must be a date"):
        assistant.ask(q, since="last spring")


def test_html_page_main_content_and_metadata(tmp_path: Path,
                                             bundled_embedder: SentenceTransformerEmbedder) -> None:
    corpus = tmp_path / "html"
    corpus.mkdir()
    page = corpus / "page.html"
    page.write_text(
        '<html><head><title>Kazakh fighters | Steppe News</title>'
        '<meta property="og:site_name" content="Steppe News">'
        '<link rel="canonical" href="https://steppe.example/kz-fighters">'
        '<meta name="date" content="2016-05-12"></head><body>'
        '<nav><a href="/">Home</a> <a href="/w">World</a> <a href="/s">Sport</a></nav>'
        '<article><h1>Kazakhstan buys fighters</h1>'
        '<p>Kazakhstan bought <b>12</b> Su-30SM fighters from Russia in 2015, the ministry said '
        'on Monday in Astana.</p><p>The jets will be based near Almaty, officials added, and '
        'pilots are being trained in Russia this year.</p></article>'
        '<aside><h3>Most read</h3><ul><li>Football club wins national cup final</li>'
        '<li>Weather turns cold across the north</li></ul></aside>'
        '<footer>Share this story. All rights reserved.</footer></body></html>')
    assistant = Assistant(load_settings(index_dir=tmp_path / "index"), embedder=bundled_embedder)
    report = assistant.ingest([corpus])
    row = report.files[0]
    assert row.status == "added" and row.dropped_chars > 0
    doc = assistant.show("page.html")
    assert "Su-30SM" in doc.text and "Football club" not in doc.text and "Home" not in doc.text
    assert doc.meta.outlet == "Steppe News" and doc.meta.published == "2016-05-12"
    assert doc.meta.url == "https://steppe.example/kz-fighters"
    answer = assistant.ask("How many Su-30SM fighters did Kazakhstan buy?")
    assert answer.answered and "12" in answer.text
    _verbatim(answer)
    assert "<b>12</b>" in answer.citations[0].quote  # the file's own characters, markup and all


def _minimal_pdf(lines: list[str]) -> bytes:
    text = "\n".join(f"BT /F1 11 Tf 60 {760 - 16 * i} Td ({ln}) Tj ET"
                     for i, ln in enumerate(lines))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"\
        .encode()
    return out


def test_pdf_and_docx(tmp_path: Path, bundled_embedder: SentenceTransformerEmbedder) -> None:
    import docx

    corpus = tmp_path / "office"
    corpus.mkdir()
    (corpus / "report.pdf").write_bytes(_minimal_pdf([
        "Belarus received four S-400 battalions from Russia in 2016, the ministry said."]))
    d = docx.Document()
    d.add_paragraph("Armenia bought 10 Iskander launchers from Russia in 2016, officials said.")
    d.save(str(corpus / "memo.docx"))
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    assistant = Assistant(load_settings(index_dir=tmp_path / "index"), embedder=bundled_embedder)
    report = assistant.ingest([corpus])
    statuses = {f.source: (f.status, f.reason) for f in report.files}
    assert statuses["report.pdf"][0] == statuses["memo.docx"][0] == "added"
    assert statuses["broken.pdf"][0] == "skipped"
    pdf = assistant.ask("How many S-400 battalions did Belarus receive?")
    assert pdf.answered and "four" in pdf.text and pdf.citations[0].encoding == "pdf"
    word = assistant.ask("How many Iskander launchers did Armenia buy?")
    assert word.answered and "10" in word.text and word.citations[0].encoding == "docx"
    _verbatim(pdf)
    _verbatim(word)


def test_broken_files_folder_via_cli(tmp_path: Path, articles: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update(QA_INDEX_DIR=str(tmp_path / "index"), QA_MAX_FILE_MB="0.01")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=300)

    first = cli("ingest", str(articles))
    assert first.returncode == 0, first.stderr
    assert "dropped as clutter" in first.stdout
    before = json.loads(cli("ingest", "--json", str(articles)).stdout)["total_chunks"]
    broken = articles / "broken"
    broken.mkdir()
    (broken / "empty.txt").write_bytes(b"")
    (broken / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (broken / "cp1252.txt").write_bytes(
        "Le caf\xe9 du coin a ferm\xe9 ses portes apr\xe8s trente ans, a annonc\xe9 le "
        "maire hier soir devant la presse.".encode("cp1252"))
    (broken / "huge.txt").write_text("word " * 5000)
    (broken / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 jpeg")
    outside = tmp_path / "secret.txt"
    outside.write_text("A secret note outside the corpus folder that must not be read.")
    os.symlink(outside, broken / "link.txt")
    os.symlink(broken / "loop-b.txt", broken / "loop-a.txt")  # a symlink loop
    os.symlink(broken / "loop-a.txt", broken / "loop-b.txt")
    os.symlink(broken, broken / "again")  # a folder that contains itself
    (broken / "two\nlines.txt").write_text(  # one file, one line of output
        "The harbour of Port Vella reopened on Tuesday after a storm closed it for a week.")
    run = cli("ingest", str(articles))
    assert run.returncode == 1  # something was broken
    assert "Traceback" not in run.stderr + run.stdout
    out = run.stdout
    for name, reason in [("empty.txt", "empty"), ("binary.txt", "binary"),
                         ("huge.txt", "larger than"), ("photo.jpg", "unsupported file type"),
                         ("link.txt", "symlink leads outside"), ("loop-a.txt", "symlink loop"),
                         ("loop-b.txt", "symlink loop")]:
        line = next(ln for ln in out.splitlines() if f"broken/{name}" in ln)
        assert "skipped" in line and reason in line, line
    assert next(ln for ln in out.splitlines() if "cp1252.txt" in ln).split()[0] == "added"
    assert next(ln for ln in out.splitlines() if "lines.txt" in ln).split()[:2] == [
        "added", "broken/two\\nlines.txt"]
    assert not any(ln.startswith("lines.txt") for ln in out.splitlines())
    assert "5 unchanged" in out
    after = json.loads(cli("ingest", "--json", str(articles)).stdout)["total_chunks"]
    assert after == before + 2  # cp1252 and two-lines; nothing already stored was lost
    listed = cli("files").stdout.splitlines()
    assert len(listed) == 7 and "broken/two\\nlines.txt\t1 chunks" in "\n".join(listed)
    shown = cli("show", "003_7471295c697f3a29.txt", "--clutter")
    assert shown.returncode == 0 and "outlet: Sputnik International" in shown.stdout
    assert "[after the end of the article] log in or register" in shown.stdout


@pytest.mark.parametrize(("head", "body", "published"), [
    ("", "<p>The contract was first discussed in 1998 and signed much later.</p>", ""),
    ("", "<p>Posted on March 3, 2015</p><p>Talks began in 1998, officials said.</p>",
     "2015-03-03"),
    ('<meta property="article:published_time" content="2016-04-11T10:00:00Z">',
     "<p>Talks began in 1998, officials said.</p>", "2016-04-11"),
])
def test_html_publication_date_is_declared_never_guessed(tmp_path: Path, head: str, body: str,
                                                         published: str) -> None:
    from qa.ingest.documents import SourceFile, load_document

    page = tmp_path / "page.html"
    page.write_text(f"<html><head><title>Old deal</title>{head}</head><body><article>"
                    f"<h1>Old deal</h1>{body}<p>More about the S-300 systems follows in a second "
                    "paragraph long enough to be article text.</p></article></body></html>")
    doc = load_document(SourceFile(page, tmp_path, "page.html"), 1_000_000)
    assert doc.meta.published == published
