"""Hostile input: upload names that try to escape the upload folder, the Gradio file route asked
for files outside the app, questions that are empty or huge, and an app behind QA_AUTH whose
every route must need the login."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CountingEmbedder, serving

from qa import Assistant, IngestError, QAError, load_settings
from qa.serve.login_gate import is_public
from qa.serve.web import Handlers
from vectorstore import HashEmbedder

pytestmark = pytest.mark.fakes

ARTICLE = b"Iran received 29 Tor-M1 air defense systems from Russia in 2007, officials said.\n"


@pytest.fixture
def assistant(tmp_path: Path, articles: Path) -> Assistant:
    settings = load_settings(index_dir=tmp_path / "index", embed_model="hash",
                             corpus_dir=articles, upload_dir=tmp_path / "work" / "uploads",
                             max_upload_mb=0.01)
    a = Assistant(settings, embedder=CountingEmbedder(HashEmbedder()))
    a.ingest([articles])
    return a


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("name", "stored"), [
    ("../../x.txt", "x.txt"),
    ("..\\..\\evil.md", "evil.md"),
    ("%2e%2e%2fx.txt", "2e_2e_2fx.txt"),
    ("a\x00b.txt", "ab.txt"),
    ("/tmp/../../abs.html", "abs.html"),
    ("a" * 296 + ".txt", "a" * 80 + ".txt"),
])
def test_hostile_upload_names_are_stored_under_a_safe_name(
        assistant: Assistant, tmp_path: Path, name: str, stored: str) -> None:
    before = _files_under(tmp_path)
    report = assistant.add_files([(name, ARTICLE)])
    upload_dir = assistant.settings.upload_dir.resolve()
    new = _files_under(tmp_path) - before
    assert new == {upload_dir / stored}  # one file, inside the upload folder, nowhere else
    assert [f.status for f in report.files] == ["added"]
    assert stored in {r.source for r in assistant.files()}


@pytest.mark.parametrize(("name", "why"), [
    ("/etc/passwd", "only .htm, .html, .markdown, .md, .txt files"),
    ("..\\win.ini", "only .htm"),
    ("%2e%2e%2f", "only .htm"),
    ("x.txt\x00.exe", "only .htm"),
    ("big.txt", "over the 0 MB upload cap"),
    ("empty.txt", "the file is empty"),
])
def test_hostile_uploads_are_refused_with_a_message(assistant: Assistant, tmp_path: Path,
                                                    name: str, why: str) -> None:
    data = {"big.txt": ARTICLE * 200, "empty.txt": b"  \n"}.get(name, ARTICLE)
    before = _files_under(tmp_path)
    count = assistant.count()
    with pytest.raises(IngestError, match=re.escape(why)) as caught:
        assistant.add_files([(name, data)])
    assert "\x00" not in str(caught.value)  # the name is shown printable
    assert _files_under(tmp_path) == before and assistant.count() == count


def test_one_bad_upload_refuses_the_batch_and_keeps_the_index(assistant: Assistant) -> None:
    count = assistant.count()
    with pytest.raises(IngestError, match="passwd"):
        assistant.add_files([("good.txt", ARTICLE), ("/etc/passwd", b"root:x:0:0")])
    assert assistant.count() == count
    assert not (assistant.settings.upload_dir / "good.txt").exists()


def test_same_name_twice_keeps_both(assistant: Assistant) -> None:
    assistant.add_files([("../a.txt", ARTICLE)])
    assistant.add_files([("a.txt", ARTICLE + b"More.\n")])
    assert len(list(assistant.settings.upload_dir.iterdir())) == 2


# -- questions --------------------------------------------------------------------------------
def test_empty_question_asks_for_one(assistant: Assistant) -> None:
    for blank in ["", "   ", "\n\t", "\x00"]:
        with pytest.raises(QAError, match="the question is empty: ask something"):
            assistant.ask(blank)
    *_, (chat, turns, _, _box) = Handlers(assistant).respond("  ", [], [], "extractive", 5)
    assert "ask something about the articles" in chat[-1]["content"] and turns == []


def test_huge_question_is_refused_with_the_limit(assistant: Assistant) -> None:
    with pytest.raises(QAError, match=r"99,999 characters long; ask in at most 4,000"):
        assistant.ask("whyy " * 20_000)
    *_, (chat, turns, _, _) = Handlers(assistant).respond("x" * 100_000, [], [], "extractive", 5)
    assert len(chat[0]["content"]) < 300  # the echo is cut, the page stays usable
    assert "at most 4,000" in chat[-1]["content"] and turns == []
    assert assistant.ask("How many Tor-M1 systems did Iran receive? " + " " * 50_000).answered


# -- the app over HTTP ------------------------------------------------------------------------
def _request(url: str, method: str = "GET", data: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


@pytest.fixture
def open_app(assistant: Assistant) -> Iterator[str]:
    with serving(assistant) as url:
        yield url


def test_file_route_serves_nothing_outside_the_app(open_app: str, assistant: Assistant) -> None:
    secret = Path(assistant.settings.corpus_dir).parent / "secret.txt"
    secret.write_text("TOP SECRET")
    index_file = next(Path(assistant.settings.index_dir).rglob("*.sqlite3"))
    article = next(Path(assistant.settings.corpus_dir).iterdir())
    targets = ["/etc/passwd", str(secret), str(index_file), str(article),
               str(Path(__file__).resolve()), "../../../../etc/passwd",
               urllib.parse.quote("/etc/passwd", safe=""), "%2e%2e/%2e%2e/etc/passwd"]
    for target in targets:
        for route in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
            status, body, _ = _request(f"{open_app}{route}{target}")
            assert status in (403, 404), (route, target, status)
            assert b"TOP SECRET" not in body and b"root:" not in body


def _routes(app: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (method, path) the app serves, mounted and included routers too."""
    for route in app.routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            ctx = route.include_context
            inner = getattr(ctx, "prefix", None) or ""
            yield from _routes(route.original_router, prefix + inner)
        elif hasattr(route, "methods") and route.methods:
            for method in sorted(route.methods - {"HEAD"}):
                yield method, prefix + route.path
        elif hasattr(getattr(route, "app", None), "routes"):  # a mounted app (Gradio)
            yield from _routes(route.app, prefix + route.path)


@pytest.fixture
def locked(tmp_path: Path, articles: Path) -> Iterator[tuple[str, Any]]:
    import app

    settings = load_settings(index_dir=tmp_path / "index", embed_model="hash",
                             corpus_dir=articles, upload_dir=tmp_path / "uploads",
                             auth="editor:pa55word")
    a = Assistant(settings, embedder=HashEmbedder())
    with serving(a) as url:
        yield url, app.create_app(a)


def test_with_auth_every_route_needs_the_login(locked: tuple[str, Any]) -> None:
    url, served = locked
    routes = sorted(set(_routes(served)))
    assert len(routes) > 60 and ("POST", "/v1/chat/completions") in routes
    checked = []
    for method, path in routes:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        if is_public(concrete):
            continue
        status, body, _ = _request(f"{url}{concrete}", method,
                                   b"{}" if method == "POST" else None,
                                   {"Content-Type": "application/json"})
        assert status == 401, f"{method} {path} answered {status} without a login: {body[:80]!r}"
        checked.append(path)
    assert "/gradio_api/queue/join" in checked and "/config" in checked
    # the public login page gives nothing away
    status, page, _ = _request(f"{url}/")
    assert status == 200 and b"Ask a question about the articles" not in page
    assert b"TOP" not in _request(f"{url}/gradio_api/file=/etc/passwd")[1]


def test_login_page_gives_away_no_file_names_or_endpoints(tmp_path: Path,
                                                         articles: Path) -> None:
    """Gradio embeds the app's API description (every endpoint, the Library's file names as
    an input's choices) in the page it serves before a login; the gate takes it out."""
    settings = load_settings(index_dir=tmp_path / "index", embed_model="hash",
                             corpus_dir=articles, auth="editor:pa55word")
    a = Assistant(settings, embedder=HashEmbedder())
    a.ingest([articles])
    names = [r.source.encode() for r in a.files()]
    with serving(a) as url:
        for query in ("", "?all_endpoints=true"):
            for encoding in ("identity", "gzip"):
                status, page, _ = _request(f"{url}/{query}", headers={"Accept-Encoding": encoding})
                assert status == 200 and b"window.gradio_api_info = {};" in page
                assert not any(name in page for name in names)
                assert b"named_endpoints" not in page and b'"/ask"' not in page


def test_with_auth_logging_in_opens_the_routes(locked: tuple[str, Any]) -> None:
    url, _ = locked
    status, _, _ = _request(f"{url}/login", "POST",
                            b"username=editor&password=wrong",
                            {"Content-Type": "application/x-www-form-urlencoded"})
    assert status in (400, 401)
    status, _, headers = _request(f"{url}/login", "POST",
                                  b"username=editor&password=pa55word",
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    cookie = "; ".join(c.split(";", 1)[0] for c in headers.get_all("set-cookie"))
    status, body, _ = _request(f"{url}/config", headers={"Cookie": cookie})
    assert status == 200 and json.loads(body)["components"]
    # the API takes the QA_AUTH password as its bearer token when QA_API_KEY is unset
    assert _request(f"{url}/v1/models")[0] == 401
    status, body, _ = _request(f"{url}/v1/models",
                               headers={"Authorization": "Bearer pa55word"})
    assert status == 200 and json.loads(body)["data"][0]["id"] == "qa-extractive"


_BOMB_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
from pathlib import Path
from qa.ingest.documents import SkipFile, SourceFile, load_document
path = Path(sys.argv[1])
try:
    load_document(SourceFile(path, path.parent, path.name), 20_000_000)
except SkipFile as exc:
    print("SKIPPED:", exc)
"""


def test_docx_zip_bomb_is_skipped_unread(tmp_path: Path) -> None:
    """A 1 MB .docx declaring 400 MB of XML is skipped with its reason, in seconds, by a
    process that may not use more than 1.5 GB of memory (parsing it took 8 GB)."""
    import subprocess
    import sys
    import time
    import zipfile

    import docx

    plain = tmp_path / "plain.docx"
    docx.Document().save(str(plain))  # a valid DOCX, whose document.xml is then inflated
    bomb = tmp_path / "bomb.docx"
    paragraph = "<w:p><w:r><w:t>" + "lorem ipsum " * 80 + "</w:t></w:r></w:p>"
    with zipfile.ZipFile(plain) as src, \
            zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                z.writestr(info, src.read(info))
        with z.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats'
                       b'.org/wordprocessingml/2006/main"><w:body>')
            block = (paragraph * 400).encode()
            for _ in range(400_000_000 // len(block)):
                part.write(block)
            part.write(b"</w:body></w:document>")
    assert bomb.stat().st_size < 3_000_000
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _BOMB_CHILD, str(bomb)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"SKIPPED: expands to 40\d MB \(XML", done.stdout), done.stdout
    assert time.perf_counter() - started < 60


def test_undecodable_question_text_is_a_clear_error(assistant: Assistant, open_app: str,
                                                    tmp_path: Path) -> None:
    """A lone surrogate (JSON's "\\ud800", or bytes that are not UTF-8 on a command line) gets
    one readable line: QAError in Python, 400 from /v1, exit 2 from `qa ask`; a --questions
    file that is not UTF-8, or whose `question` is not text, names the file and line."""
    import os
    import subprocess
    import sys

    with pytest.raises(QAError, match="not valid text"):
        assistant.ask("How many \ud800 systems?")
    status, body, _ = _request(f"{open_app}/v1/chat/completions", method="POST",
                            data=b'{"model": "qa-extractive", "messages": [{"role": "user", '
                                 b'"content": "How many \\ud800 systems?"}]}',
                            headers={"Content-Type": "application/json"})
    assert status == 400 and b"not valid text" in body
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_INDEX_DIR=str(assistant.settings.index_dir), QA_EMBED_MODEL="hash",
               QA_CORPUS_DIR=str(assistant.settings.corpus_dir))

    def qa(*args: str | bytes) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "qa", *args], env=env, text=True,
                              capture_output=True, timeout=120)

    done = qa("ask", b"How many \xff systems?")
    assert done.returncode == 2 and "not valid text" in done.stderr
    assert "Traceback" not in done.stderr
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"question": "Qu\xe9 pas\xf3?"}\n')
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text('{"question": 42}\n')
    for path, says in ((latin, "is not UTF-8 text"), (numbers, "line 1: not a JSON object")):
        done = qa("ask", "--questions", str(path))
        assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr


def test_show_prints_only_indexed_files(assistant: Assistant, tmp_path: Path) -> None:
    """`qa show` / Assistant.show print a file "as indexed": a path outside the index (such as
    ../../etc/passwd) is refused, not read."""
    from qa import IngestError

    secret = tmp_path / "secret.txt"
    secret.write_text("password: hunter2\n")
    for source in (str(secret), "../../etc/passwd", "/etc/passwd"):
        with pytest.raises(IngestError, match="not in the index"):
            assistant.show(source)
    name = assistant.files()[0].source
    assert assistant.show(name).text and assistant.show(assistant.files()[0].key).text


@pytest.mark.parametrize(("extra", "says"), [
    ({"n": 2}, "only n=1"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "`tools` is not supported"),
    ({"stream": "yes"}, "stream"),
    ({"sources_in_text": "no"}, "sources_in_text"),
])
def test_api_refuses_what_it_cannot_honour(open_app: str, extra: dict[str, Any],
                                          says: str) -> None:
    body = {"model": "qa-extractive", "messages": [{"role": "user", "content": "Tor-M1?"}],
            **extra}
    status, raw, _ = _request(f"{open_app}/v1/chat/completions", method="POST",
                           data=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
    assert status == 400 and says in json.loads(raw)["error"]["message"]


def test_bearer_scheme_is_case_insensitive(tmp_path: Path, articles: Path) -> None:
    settings = load_settings(index_dir=tmp_path / "index", embed_model="hash",
                             corpus_dir=articles, api_key="s3cret")
    a = Assistant(settings, embedder=HashEmbedder())
    a.ingest([articles])
    with serving(a) as url:
        for scheme, expected in (("Bearer", 200), ("bearer", 200), ("BEARER", 200),
                                 ("Basic", 401)):
            status, _, _ = _request(f"{url}/v1/models",
                                 headers={"Authorization": f"{scheme} s3cret"})
            assert status == expected, scheme


def test_top_k_below_one_is_refused_on_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    for value in ("0", "-3", "x"):
        done = subprocess.run([sys.executable, "-m", "qa", "ask", "--top-k", value, "Tor-M1?"],
                              capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "QA_INDEX_DIR": str(tmp_path / "i")})
        assert done.returncode == 2 and "--top-k" in done.stderr, done.stderr
