import os
from pathlib import Path

import pytest

from qa.errors import IngestError
from qa.ingest.documents import (
    SkipFile,
    SourceFile,
    discover,
    file_range,
    guess_title,
    html_to_text,
    load_document,
)

pytestmark = pytest.mark.unit


def _doc(path: Path) -> SourceFile:
    return SourceFile(path.resolve(), path.parent.resolve(), path.name)


def test_discover_recurses_and_reports_skips(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Alpha text here.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# Beta\n\nBody.")
    (tmp_path / "sub" / "c.html").write_text("<p>Gamma</p>")
    (tmp_path / "d.xlsx").write_bytes(b"PK")
    (tmp_path / ".hidden.txt").write_text("secret")
    outside = tmp_path.parent / "outside.txt"
    outside.write_text("outside")
    os.symlink(outside, tmp_path / "link.txt")
    files, skipped, folders = discover([tmp_path])
    assert sorted(f.source for f in files) == ["a.txt", "sub/b.md", "sub/c.html"]
    reasons = {s.source: s.reason for s in skipped}
    assert reasons["d.xlsx"] == "unsupported file type .xlsx"
    assert reasons["link.txt"] == "symlink leads outside the folder"
    assert folders == [tmp_path.resolve()]


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"no such file or folder: .*nope"):
        discover([tmp_path / "nope"])


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"\x00\x01\x02binary", "binary content"),
])
def test_bad_files_are_skipped_with_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(SkipFile, match=reason):
        load_document(_doc(path), 1_000_000)


def test_other_encodings_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    text = "Le caf\xe9 du coin a ferm\xe9 ses portes apr\xe8s trente ans, a annonc\xe9 le maire."
    path.write_bytes(text.encode("cp1252"))
    doc = load_document(_doc(path), 1_000_000, clean_clutter=False)
    assert doc.encoding != "utf-8" and doc.replaced == 0
    assert doc.text == open(path, encoding=doc.encoding).read()  # noqa: SIM115
    assert "café" in doc.text  # a single-byte Latin encoding (short texts are ambiguous)


def test_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000)
    with pytest.raises(SkipFile, match="larger than"):
        load_document(_doc(path), 100)


def test_text_matches_open_read_with_crlf(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"Title line here\r\n\r\nFirst sentence. Second one.\r\n")
    doc = load_document(_doc(path), 1_000_000, clean_clutter=False)
    assert doc.text == open(path).read()  # noqa: SIM115
    assert doc.spans is None


def test_html_text_maps_back_to_the_file() -> None:
    html = ("<html><head><title>Arms &amp; Iran</title><style>p{}</style></head><body>"
            "<nav><a href='/'>Home</a></nav>\n<p>Iran received   <b>29</b> Tor-M1\n systems."
            "</p><p>Price: $700&nbsp;million.</p><script>var x=1;</script></body></html>")
    text, spans, title = html_to_text(html)
    assert title == "Arms & Iran"
    assert "var x" not in text and "p{}" not in text
    assert "Iran received 29 Tor-M1 systems." in text
    start = text.index("Iran received")
    end = start + len("Iran received")
    fs, fe = file_range(spans, start, end)
    assert html[fs:fe] == "Iran received"
    start = text.index("Tor-M1")
    fs, fe = file_range(spans, start, start + len("Tor-M1 systems."))
    assert html[fs:fe] == "Tor-M1\n systems."
    for t_off, f_off, n in spans:
        assert text[t_off : t_off + n] == html[f_off : f_off + n]


def test_titles(tmp_path: Path) -> None:
    assert guess_title("[Home](#)\n\nIran, Russia to Boost Defense Cooperation\n\nBody.") == (
        "Iran, Russia to Boost Defense Cooperation")
    long_line = " ".join(["word"] * 30) + "."
    assert guess_title(long_line + "\nA Headline After Body Text") == ""
    md = tmp_path / "x.md"
    md.write_text("intro\n\n# The Real Title\n\ntext")
    assert load_document(_doc(md), 10_000).title == "The Real Title"
