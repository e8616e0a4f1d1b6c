"""Incremental ingestion on a real on-disk Chroma index, with the hash embedder."""

import re
from pathlib import Path

import pytest
from conftest import CountingEmbedder

from qa import Assistant, IndexUnavailable, IngestError, load_settings
from vectorstore import HashEmbedder

pytestmark = pytest.mark.fakes


def _statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f.source: f.status for f in report.files}


def test_first_ingest_adds_every_article(hash_assistant: Assistant, articles: Path) -> None:
    report = hash_assistant.ingest([articles])
    assert set(_statuses(report).values()) == {"added"}
    assert len(report.files) == 5
    assert report.total_chunks == hash_assistant.count() == report.embedded_chunks > 5
    titles = {r.source: r.title for r in hash_assistant.files()}
    assert titles["004_4e42bca8ccfe4125.txt"] == "Russia May Deliver S-300 Defense Systems"


def test_reingest_unchanged_embeds_nothing(hash_assistant: Assistant, articles: Path) -> None:
    first = hash_assistant.ingest([articles])
    embedder = hash_assistant.embedder
    assert isinstance(embedder, CountingEmbedder)
    before = embedder.embedded
    again = hash_assistant.ingest([articles])
    assert embedder.embedded == before
    assert set(_statuses(again).values()) == {"unchanged"}
    assert again.embedded_chunks == 0
    assert hash_assistant.count() == first.total_chunks


def test_edit_reembeds_only_that_file(hash_assistant: Assistant, articles: Path) -> None:
    hash_assistant.ingest([articles])
    edited = articles / "004_4e42bca8ccfe4125.txt"
    edited.write_text(edited.read_text() + "\nA new closing paragraph about the S-300 deal.\n")
    embedder = hash_assistant.embedder
    assert isinstance(embedder, CountingEmbedder)
    before = embedder.embedded
    report = hash_assistant.ingest([articles])
    statuses = _statuses(report)
    assert statuses.pop("004_4e42bca8ccfe4125.txt") == "updated"
    assert set(statuses.values()) == {"unchanged"}
    chunks_004 = next(f.chunks for f in report.files if f.source.startswith("004"))
    assert embedder.embedded - before == chunks_004 == report.embedded_chunks
    ids = hash_assistant.store.chunk_ids_of(str(edited.resolve()))
    assert len(ids) == len(set(ids)) == chunks_004


def test_shrinking_file_leaves_no_stale_chunks(hash_assistant: Assistant, articles: Path) -> None:
    hash_assistant.ingest([articles])
    path = articles / "001_b33887a1e41e9f52.txt"
    path.write_text("Russian exporter says to continue military cooperation with Iran.\n")
    report = hash_assistant.ingest([articles])
    assert _statuses(report)["001_b33887a1e41e9f52.txt"] == "updated"
    assert len(hash_assistant.store.chunk_ids_of(str(path.resolve()))) == 1
    assert hash_assistant.count() == sum(r.chunks for r in hash_assistant.files())


def test_deleted_file_is_removed(hash_assistant: Assistant, articles: Path) -> None:
    hash_assistant.ingest([articles])
    total = hash_assistant.count()
    gone = articles / "002_36c18e366312fe50.txt"
    gone_chunks = len(hash_assistant.store.chunk_ids_of(str(gone.resolve())))
    gone.unlink()
    report = hash_assistant.ingest([articles])
    assert _statuses(report)["002_36c18e366312fe50.txt"] == "removed"
    assert hash_assistant.count() == total - gone_chunks
    assert "002_36c18e366312fe50.txt" not in {r.source for r in hash_assistant.files()}


def test_single_file_ingest_does_not_remove_others(hash_assistant: Assistant,
                                                   articles: Path) -> None:
    hash_assistant.ingest([articles])
    total = hash_assistant.count()
    report = hash_assistant.ingest([articles / "000_7145f400b0cccf04.txt"])
    assert _statuses(report) == {"000_7145f400b0cccf04.txt": "unchanged"}
    assert hash_assistant.count() == total


def test_bad_files_are_reported_and_the_run_finishes(hash_assistant: Assistant,
                                                     articles: Path) -> None:
    hash_assistant.ingest([articles])
    total = hash_assistant.count()
    (articles / "empty.txt").write_bytes(b"")
    (articles / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 100)
    (articles / "latin1.txt").write_bytes(
        "Le caf\xe9 du coin a ferm\xe9 ses portes apr\xe8s trente ans, a annonc\xe9 le "
        "maire hier soir.".encode("cp1252"))
    (articles / "notes.docx").write_bytes(b"PK\x03\x04")
    report = hash_assistant.ingest([articles])
    statuses = _statuses(report)
    assert statuses["empty.txt"] == statuses["binary.txt"] == "skipped"
    assert statuses["notes.docx"] == "skipped"
    assert statuses["latin1.txt"] == "added"
    reasons = {f.source: f.reason for f in report.files}
    assert "binary" in reasons["binary.txt"] and "decoded as" in reasons["latin1.txt"]
    assert "cannot be read as DOCX" in reasons["notes.docx"]
    assert not report.ok  # broken files make the run's exit code say so
    assert hash_assistant.count() > total


def test_missing_path_is_an_error_naming_it(hash_assistant: Assistant, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no-such-folder"):
        hash_assistant.ingest([tmp_path / "no-such-folder"])


def test_manifest_mismatch_is_a_clear_error(tmp_path: Path, articles: Path) -> None:
    index = tmp_path / "index"
    Assistant(load_settings(index_dir=index, embed_model="hash")).ingest([articles])
    with pytest.raises(IndexUnavailable, match=r"chunk_size.*qa ingest --rebuild"):
        Assistant(load_settings(index_dir=index, embed_model="hash", chunk_size=100))
    # nothing was lost: the original settings still open the index with its chunks
    assert Assistant(load_settings(index_dir=index, embed_model="hash")).count() > 0


def test_rebuild_replaces_the_index(tmp_path: Path, articles: Path) -> None:
    index = tmp_path / "index"
    first = Assistant(load_settings(index_dir=index, embed_model="hash"))
    first.ingest([articles])
    again = Assistant(load_settings(index_dir=index, embed_model="hash"),
                      embedder=CountingEmbedder(HashEmbedder()))
    report = again.ingest([articles], rebuild=True)
    assert set(_statuses(report).values()) == {"added"}
    assert again.count() == first.count()


def test_embedding_failure_keeps_what_was_stored(hash_assistant: Assistant,
                                                 articles: Path) -> None:
    hash_assistant.ingest([articles])
    total = hash_assistant.count()

    class Broken(CountingEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            raise RuntimeError("model crashed")

    hash_assistant.embedder = Broken(HashEmbedder())
    edited = articles / "003_7471295c697f3a29.txt"
    edited.write_text(edited.read_text() + "\nMore text.\n")
    from qa.ingest.ingestor import Ingestor

    report = Ingestor(hash_assistant.store, hash_assistant.embedder,
                      hash_assistant.chunker).run([articles])
    assert _statuses(report)["003_7471295c697f3a29.txt"] == "failed"
    assert not report.ok
    assert hash_assistant.count() == total


@pytest.mark.slow
@pytest.mark.parametrize(("sep", "lines"), [("\n", 300_000), (" ", 150_000)],
                         ids=["short-lines", "no-newline"])
def test_many_short_lines_are_chunked_not_a_crash(sep: str, lines: int) -> None:
    """300,000 lines like "line 12 ok." in one paragraph (4.7 MB), or the same sentences with no
    newline at all, used to exceed the sentence splitter's regular-expression time limit; now
    the text is split in blocks first and every chunk is still verbatim at its offsets."""
    from qa.ingest.chunking import Chunker

    text = "".join(f"line {i} ok.{sep}" for i in range(lines))
    chunks = Chunker().split(text)
    assert len(chunks) > lines // 30
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert chunks[-1].text.rstrip().endswith(f"line {lines - 1} ok.")


def test_a_file_the_splitter_fails_on_fails_alone(hash_assistant: Assistant,
                                                  articles: Path) -> None:
    """Whatever the passage splitter raises on one file, that file is reported failed with the
    reason and every other file of the run is indexed."""
    from qa.ingest.chunking import Chunker

    class Fussy(Chunker):
        def split(self, text: str):  # type: ignore[no-untyped-def]
            if "POISON" in text:
                raise TimeoutError("regular-expression match exceeded its 5.0s time limit\n...")
            return super().split(text)

    (articles / "poison.txt").write_text("A poisoned page\n\nPOISON in every line of it.\n")
    hash_assistant.chunker = Fussy()
    report = hash_assistant.ingest([articles])
    by_name = {f.source: f for f in report.files}
    assert by_name["poison.txt"].status == "failed"
    assert "cannot be split into passages: regular-expression" in by_name["poison.txt"].reason
    assert sum(f.status == "added" for f in report.files) == 5
    assert hash_assistant.ask("How many Tor-M1 air defense systems did Iran receive?").answered


def test_a_long_file_shows_progress_in_passages(hash_assistant: Assistant,
                                                tmp_path: Path) -> None:
    """A file of many passages (one at the 20 MB cap is an hour of embedding on 2 cores) reports
    its embedding batch by batch, not only when the whole file is done."""
    corpus = tmp_path / "long"
    corpus.mkdir()
    (corpus / "long.txt").write_text(" ".join(
        f"Convoy {i} carried {i * 3} tonnes of grain to the port of Vella on day {i}."
        for i in range(3000)))
    calls: list[tuple[int, int, str]] = []
    report = hash_assistant.ingest([corpus], on_progress=lambda *a: calls.append(a))
    total = report.files[0].chunks
    assert total > 2 * 256  # more than two embedding batches (8 × QA_EMBED_BATCH_SIZE)
    counts = [int(m.group(1).replace(",", "")) for _, _, label in calls
              if (m := re.search(r"long\.txt \(([\d,]+) of ([\d,]+) passages\)", label))]
    assert len(counts) >= 3 and counts == sorted(counts) and counts[-1] == total
    assert calls[-1][:2] == (1, 1)  # then the file itself is done
