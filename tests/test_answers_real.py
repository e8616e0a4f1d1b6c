"""The real pipeline: bundled all-MiniLM-L6-v2, Chroma on disk and as a server, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa import Answer, Assistant, load_settings
from vectorstore import SentenceTransformerEmbedder

pytestmark = pytest.mark.real

KNOWN = [
    ("How many Tor-M1 air defense systems did Iran receive?", "29",
     {"000_7145f400b0cccf04.txt", "002_36c18e366312fe50.txt"}),
    ("When was the UN arms embargo on Iran lifted?", "18 October 2020",
     {"001_b33887a1e41e9f52.txt"}),
    ("How much was the S-300 deal Moscow and Tehran signed in 2007 worth?", "$800 million",
     {"004_4e42bca8ccfe4125.txt"}),
    ("Where did Iran file its complaint against Rosoboronexport?", "Geneva",
     {"004_4e42bca8ccfe4125.txt"}),
    ("Who told reporters at the Dubai Airshow 2021 that cooperation with Iran would continue?",
     "Alexander Mikheev", {"001_b33887a1e41e9f52.txt"}),
]
NEVER_MENTIONED = [
    "How many S-400 systems has Russia delivered to Iran?",
    "What did the Chinese foreign ministry say about the S-300 deliveries?",
    "How much did Iran pay for the Su-30 fighters?",
    "How many school places does Tajikistan need?",  # only a sidebar headline says so
]


def assert_verbatim(answer: Answer) -> None:
    passage_sources = {p.source for p in answer.passages}
    for c in answer.citations:
        with open(c.path) as fh:  # exactly as a reader would open it
            assert fh.read()[c.start : c.end] == c.quote, c
        assert c.source in passage_sources
        assert f"[{c.n}]" in answer.text


def test_bundled_model_window_is_256_tokens(bundled_embedder: SentenceTransformerEmbedder) -> None:
    bundled_embedder.embed(["load"])
    assert bundled_embedder._model.max_seq_length == 256
    long_text = " ".join(f"word{i}" for i in range(300))
    features = bundled_embedder._model.tokenize([long_text])
    assert features["input_ids"].shape[1] == 256


def test_chunks_fit_the_embedding_window(real_assistant: Assistant,
                                         bundled_embedder: SentenceTransformerEmbedder) -> None:
    texts = [h.text for h in real_assistant.store.iter_chunks()]
    counts = [bundled_embedder.count_tokens(t) or 0 for t in texts]
    print(f"\nMiniLM tokens per chunk: max {max(counts)}, mean {sum(counts) / len(counts):.0f}, "
          f"chunks {len(counts)}")
    assert max(counts) <= 256


@pytest.mark.parametrize(("question", "expected", "sources"), KNOWN)
def test_known_answers_cite_the_right_file(real_assistant: Assistant, question: str,
                                           expected: str, sources: set[str]) -> None:
    answer = real_assistant.ask(question)
    assert answer.answered, answer
    assert answer.mode == "extractive"
    assert expected in answer.text
    assert {c.source for c in answer.citations} & sources
    assert any(expected.replace("$", "") in c.quote.replace("\\$", "").replace("$", "")
               for c in answer.citations)
    assert_verbatim(answer)


@pytest.mark.parametrize("question", NEVER_MENTIONED)
def test_unanswerable_questions_abstain(real_assistant: Assistant, question: str) -> None:
    answer = real_assistant.ask(question)
    assert not answer.answered, answer.text
    assert answer.text == "The articles don't say."
    assert answer.citations == ()
    assert answer.passages  # the closest passages are still shown


def test_pasted_markup_is_not_read_as_words(real_assistant: Assistant) -> None:
    asked = "<script>alert(1)</script> How many Tor-M1 systems did Iran receive?"
    answer = real_assistant.ask(asked)
    assert answer.answered and "29" in answer.text, answer.text
    assert answer.question == asked  # shown as it was asked (escaped where it is displayed)


def test_a_question_of_two_parts_is_answered_part_by_part(real_assistant: Assistant) -> None:
    answer = real_assistant.ask("How many Tor-M1 systems did Iran receive, and where did Iran "
                                "file its complaint against Rosoboronexport?")
    assert answer.answered and "29" in answer.text and "Geneva" in answer.text, answer.text
    assert [c.n for c in answer.citations] == [1, 2]
    assert {c.source for c in answer.citations} <= {p.source for p in answer.passages}
    half = real_assistant.ask("How many Tor-M1 systems did Iran receive, and what is the "
                              "capital of Peru?")
    assert "29" in half.text and "The articles don't say: “What is the capital of Peru?”" \
        in half.text, half.text
    assert len(half.citations) == 1
    # saying which part the articles leave open is no claim needing a source
    assert [c.label for c in half.claims] == ["supported", "supported"], half.claims


def test_a_sentence_may_name_its_subject_by_role(real_assistant: Assistant) -> None:
    """"The Russian defense minister arrived in Tehran ... late on Monday": Shoigu is named
    elsewhere in the passage, the sentence refers to him by his role."""
    answer = real_assistant.ask("On which day did Shoigu arrive in Tehran?")
    assert answer.answered and "Monday" in answer.text, answer.text


def test_stream_yields_text_then_answer(real_assistant: Assistant) -> None:
    items = list(real_assistant.stream("How many Tor-M1 air defense systems did Iran receive?"))
    assert isinstance(items[-1], Answer)
    assert "".join(i for i in items[:-1] if isinstance(i, str)) == items[-1].text


def test_follow_up_uses_the_conversation(real_assistant: Assistant) -> None:
    first = real_assistant.ask("How many Tor-M1 air defense systems did Iran receive?")
    follow = real_assistant.ask("And when was the contract signed?", history=[first])
    assert follow.answered and "2005" in follow.text
    assert_verbatim(follow)


def test_edited_file_citations_stay_verbatim(real_index: Path,
                                             bundled_embedder: SentenceTransformerEmbedder,
                                             tmp_path: Path) -> None:
    """A file edited after indexing: its quotes are found again at their new offsets."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    source = real_index / "articles" / "000_7145f400b0cccf04.txt"
    target = corpus / source.name
    target.write_text(source.read_text())
    assistant = Assistant(load_settings(index_dir=tmp_path / "index"), embedder=bundled_embedder)
    assistant.ingest([corpus])
    target.write_text("EDITOR'S NOTE: updated.\n\n" + source.read_text())
    answer = assistant.ask("How many Tor-M1 air defense systems did Iran receive?")
    assert answer.answered
    assert_verbatim(answer)
    assert answer.citations[0].start == source.read_text().index("Iran recently") + 25


PLAIN_NEWS = {
    "emissions.txt": "Germany's emissions drop as coal use falls\n\nBERLIN - Germany's greenhouse "
    "gas emissions fell last year as power plants burned less coal, the environment agency said "
    "on Tuesday.\n\nTotal emissions fell 2 percent to 674 million tonnes of carbon dioxide "
    "equivalent in 2023, the agency said. Transport emissions, however, rose slightly.\n",
    "ferry.txt": "A ferry to the islands\n\nThe ferry leaves the harbour at Piraeus twice a day "
    "in summer. It takes four hours to sail to Mykonos, and the boats are often full in "
    "August.\n\nTickets cost 40 euros for a deck seat.\n",
    "tesla.txt": "Tesla posts surprise profit\n\nJul 22, 2020\n\nTesla reported revenue of "
    "$6.04 billion for the second quarter of 2020, down 5% from a year earlier.\n\nTesla Q2 "
    "2020 revenue\n",
    "iphone.txt": "Apple unveils iPhone 12\n\nApple on Tuesday unveiled the iPhone 12. The "
    "iPhone 12 starts at $799 and will ship on October 23.\n",
    "worldcup.txt": "France beat Croatia to win World Cup\n\nMOSCOW - France won the 2018 World "
    "Cup on Sunday, beating Croatia 4-2 in the final at the Luzhniki Stadium in Moscow.\n",
    "strike.txt": "Rail workers vote to strike\n\nThe union's general secretary, Mick Lynch, said "
    "90 percent of members who voted backed the action.\n",
}


@pytest.fixture(scope="module")
def plain_news(tmp_path_factory: pytest.TempPathFactory,
               bundled_embedder: SentenceTransformerEmbedder) -> Assistant:
    from conftest import assistant_over

    return assistant_over(tmp_path_factory.mktemp("news"), PLAIN_NEWS, bundled_embedder)


@pytest.mark.parametrize(("question", "span"), [
    ("By how much did total emissions fall?", "2 percent"),  # no money asked: a percentage
    ("How long does it take to sail to Mykonos?", "four hours"),
    ("How many times a day does the ferry leave in summer?", "twice"),
    ("How much does a deck seat cost?", "40 euros"),
    ("What was Tesla's revenue in Q2 2020?", "$6.04 billion"),  # not the heading, an amount
    ("How much does the iPhone 13 cost?", None),  # the iPhone 12's price is no answer
    # a sentence dense in names is still a sentence: its names can answer "who"
    ("Who won the World Cup Final in 2018?", "France"),
    ("What share of voting members backed the strike?", "90 percent"),
    ("How many people voted in the strike ballot?", None),  # a share is no count of people
    ("Who owns the ferry company?", None),
    ("When will the ferry stop running?", None),
])
def test_plain_news_sentences_answer_in_their_own_words(plain_news: Assistant, question: str,
                                                        span: str | None) -> None:
    """The issue's declined news questions, answered from one plain sentence; what the text does
    not say is still declined."""
    answer = plain_news.ask(question, mode="extractive")
    assert answer.answered is (span is not None), answer.text
    if span is not None:
        c = answer.citations[0]
        assert c.answer_span is not None
        assert Path(c.path).read_text()[c.answer_span[0]:c.answer_span[1]] == span
        assert_verbatim(answer)


def test_chroma_server_mode(chroma_server: str, articles: Path,
                            bundled_embedder: SentenceTransformerEmbedder) -> None:
    settings = load_settings(chroma_url=chroma_server, collection="server-test")
    assistant = Assistant(settings, embedder=bundled_embedder)
    report = assistant.ingest([articles])
    assert report.count("added") == 5
    again = assistant.ingest([articles])
    assert again.embedded_chunks == 0 and again.count("unchanged") == 5
    answer = assistant.ask("How many Tor-M1 air defense systems did Iran receive?")
    assert answer.answered and "29" in answer.text
    assert_verbatim(answer)
    # a second client (another app replica) sees the same index, BM25 side included
    other = Assistant(load_settings(chroma_url=chroma_server, collection="server-test"),
                      embedder=bundled_embedder)
    assert other.count() == assistant.count()
    extra = articles / "zz_new.txt"
    extra.write_text("Kazakhstan bought 12 Su-30SM fighters from Russia in March 2015.\n")
    assistant.ingest([extra])
    late = other.ask("How many Su-30SM fighters did Kazakhstan buy?")
    assert late.answered and "12" in late.text and late.citations[0].source == "zz_new.txt"


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_cli_fresh_install_flow(tmp_path: Path, articles: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update(QA_INDEX_DIR=str(tmp_path / "index"), QA_CORPUS_DIR=str(articles))
    first = _cli(["ask", "--json", "How many Tor-M1 air defense systems did Iran receive?"],
                 env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "ingesting the articles" in first.stderr
    data = json.loads(first.stdout)
    assert data["answered"] is True and "29" in data["answer"]
    assert set(data) >= {"question", "answer", "answered", "mode", "citations", "passages"}
    for c in data["citations"]:
        assert set(c) >= {"n", "source", "title", "quote", "start", "end", "also_in"}
        assert (articles / c["source"]).read_text()[c["start"] : c["end"]] == c["quote"]
    assert {"source", "score", "text"} <= set(data["passages"][0])

    never = _cli(["ask", "--json", "Who won the 2022 football World Cup?"], env, tmp_path)
    assert json.loads(never.stdout)["answered"] is False

    again = _cli(["ingest", str(articles)], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "5 unchanged; 0 chunks embedded" in again.stdout

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "a1", "question": "When was the UN arms embargo on Iran lifted?"})
        + "\n" + json.dumps({"id": "a2", "question": "How many S-400s did Iran get?"}) + "\n")
    batch = _cli(["ask", "--questions", str(questions)], env, tmp_path)
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [(x["id"], x["answered"]) for x in lines] == [("a1", True), ("a2", False)]


def test_cli_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update(QA_INDEX_DIR=str(tmp_path / "index"), QA_EMBED_MODEL="hash")
    missing = _cli(["ingest", str(tmp_path / "nowhere")], env, tmp_path)
    assert missing.returncode == 2
    assert "error: no such file or folder" in missing.stderr
    assert "Traceback" not in missing.stderr
    env["QA_TOP_K"] = "many"
    bad = _cli(["ask", "anything"], env, tmp_path)
    assert bad.returncode == 2 and "QA_TOP_K" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize(("question", "span"), [
    ("How many Tor-M1 air defense systems did Iran receive?", "29"),
    ("When was the UN arms embargo on Iran lifted?", "18 October 2020"),
])
def test_answer_span_locates_the_value(real_assistant: Assistant, question: str,
                                       span: str) -> None:
    """``answer_span`` (file offsets) covers exactly the value that answers the question, and
    --json carries it."""
    answer = real_assistant.ask(question, mode="extractive")
    c = answer.citations[0]
    assert c.answer_span is not None
    with open(c.path, encoding=c.encoding) as fh:
        assert fh.read()[c.answer_span[0] : c.answer_span[1]] == span
    assert answer.to_json()["citations"][0]["answer_span"] == list(c.answer_span)
