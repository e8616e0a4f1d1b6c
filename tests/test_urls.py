"""Articles by URL (issue 15, part 2), fetched from a real HTTP server on 127.0.0.1: stored as
sent and cited with their URL; every failure is one line naming the URL and changes nothing;
addresses inside the machine's networks are refused unless allowed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from qa import Assistant, load_settings
from qa.errors import IngestError
from qa.ingest.urls import check_address
from qa.serve.web import Handlers
from vectorstore import HashEmbedder, SentenceTransformerEmbedder

PAGE = ("<html><head><title>Kazakhstan buys Russian fighters</title>"
        '<meta property="og:site_name" content="Steppe News"></head><body>'
        "<nav>Home | World | Sport</nav><article><h1>Kazakhstan buys Russian fighters</h1>"
        "<p>Kazakhstan bought {n} Su-30SM fighters from Russia in March 2015, the defence "
        "ministry said on Tuesday.</p><p>The jets will be based near Almaty, officials "
        "added.</p></article></body></html>")


class _Site(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, Any]] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, kind: str, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path == "/article.html":
            self._send(200, "text/html; charset=utf-8", PAGE.format(n=12).encode())
        elif path == "/changing.html":
            self._send(200, "text/html", PAGE.format(n=self.pages["changing"]).encode())
        elif path == "/plain.txt":
            self._send(200, "text/plain", b"Armenia bought four Su-30SM fighters in 2019.\n")
        elif path == "/redirect":
            self._send(302, "text/plain", b"", Location="/article.html")
        elif path == "/loop":
            self._send(302, "text/plain", b"", Location="/loop")
        elif path == "/image.png":
            self._send(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 100)
        elif path == "/big.html":
            self._send(200, "text/html", b"<p>" + b"word " * 5000 + b"</p>")
        elif path == "/slow.html":
            time.sleep(3)
            self._send(200, "text/html", PAGE.format(n=1).encode())
        else:
            self._send(404, "text/html", b"<h1>Not found</h1>")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    _Site.pages = {"changing": 12}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _assistant(tmp_path: Path, embedder: Any, **more: Any) -> Assistant:
    settings = load_settings(index_dir=tmp_path / "index", upload_dir=tmp_path / "uploads",
                             url_allow_private=True, **more)
    return Assistant(settings, embedder=embedder)


@pytest.mark.unit
@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://localhost:8000/",
                                 "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]/", "http://192.168.0.10/", "http://0.0.0.0/"])
def test_addresses_inside_the_network_are_refused(url: str) -> None:
    with pytest.raises(IngestError, match="refused"):
        check_address(url, allow_private=False)
    check_address(url, allow_private=True)


@pytest.mark.unit
@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a", "http://"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(IngestError, match="not an http"):
        check_address(url, allow_private=True)


@pytest.mark.real
def test_a_page_by_url_is_stored_ingested_and_cited_with_its_url(
        site: str, tmp_path: Path, bundled_embedder: SentenceTransformerEmbedder) -> None:
    assistant = _assistant(tmp_path, bundled_embedder)
    report = assistant.add_urls([f"{site}/redirect"])
    assert [f.status for f in report.files] == ["added"], report.files
    answer = assistant.ask("How many Su-30SM fighters did Kazakhstan buy?")
    assert answer.answered and "12" in answer.text
    c = answer.citations[0]
    assert c.url == f"{site}/article.html"  # where the page was, after the redirect
    stored = Path(c.path)
    assert stored.parent == (tmp_path / "uploads" / "web").resolve()
    assert stored.read_bytes() == PAGE.format(n=12).encode()  # the raw bytes as sent
    assert stored.read_text()[c.start:c.end] == c.quote
    assert assistant.files()[0].extra.get("outlet") == "Steppe News"


@pytest.mark.fakes
def test_a_changed_page_replaces_its_stored_copy(site: str, tmp_path: Path) -> None:
    assistant = _assistant(tmp_path, HashEmbedder())
    _Site.pages["changing"] = 12
    assert assistant.add_urls([f"{site}/changing.html"]).files[0].status == "added"
    assert assistant.add_urls([f"{site}/changing.html"]).files[0].status == "unchanged"
    _Site.pages["changing"] = 18
    assert assistant.add_urls([f"{site}/changing.html"]).files[0].status == "updated"
    stored = [p for p in (tmp_path / "uploads" / "web").iterdir() if not p.name.startswith(".")]
    assert len(stored) == 1 and b"18 Su-30SM" in stored[0].read_bytes()
    assistant.remove(assistant.files()[0].source)
    assert list((tmp_path / "uploads" / "web").iterdir()) == []  # page and its URL note


@pytest.mark.fakes
def test_each_failure_is_one_line_and_changes_nothing(site: str, tmp_path: Path) -> None:
    assistant = _assistant(tmp_path, HashEmbedder(), url_timeout=1, max_upload_mb=0.01)
    assistant.add_urls([f"{site}/plain.txt"])
    before = (assistant.count(), [r.source for r in assistant.files()])
    bad = {"/missing": "HTTP 404", "/image.png": "image/png is not an article page",
           "/big.html": "over the 0.01 MB cap", "/slow.html": "no answer within 1 s",
           "/loop": "more than 5 redirects"}
    report = assistant.add_urls([site + path for path in bad])
    assert {f.source: f.status for f in report.files} == {
        site + path: "failed" for path in bad}
    for f in report.files:
        assert bad[f.source.removeprefix(site)] in f.reason and "\n" not in f.reason
    assert not report.ok
    assert (assistant.count(), [r.source for r in assistant.files()]) == before
    stored = [p.name for p in (tmp_path / "uploads" / "web").iterdir()]
    assert len([n for n in stored if not n.startswith(".")]) == 1  # the plain page only


@pytest.mark.fakes
def test_private_addresses_need_the_setting(site: str, tmp_path: Path) -> None:
    settings = load_settings(index_dir=tmp_path / "index", upload_dir=tmp_path / "uploads")
    assistant = Assistant(settings, embedder=HashEmbedder())
    report = assistant.add_urls([f"{site}/article.html"])
    assert report.files[0].status == "failed"
    assert "QA_URL_ALLOW_PRIVATE" in report.files[0].reason
    assert assistant.count() == 0


@pytest.mark.fakes
def test_the_library_fetches_urls(site: str, tmp_path: Path) -> None:
    handlers = Handlers(_assistant(tmp_path, HashEmbedder()))
    rows, message = handlers.add_urls(f"{site}/article.html\n{site}/missing")
    assert len(rows) == 1 and "added" in message
    assert "failed" in message and "HTTP 404" in message
    assert "Paste the address" in handlers.add_urls("  ")[1]


@pytest.mark.fakes
def test_qa_ingest_takes_urls(site: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update(QA_INDEX_DIR=str(tmp_path / "index"), QA_EMBED_MODEL="hash",
               QA_UPLOAD_DIR=str(tmp_path / "uploads"), QA_URL_ALLOW_PRIVATE="true")
    done = subprocess.run([sys.executable, "-m", "qa", "ingest", "--json",
                           f"{site}/article.html", f"{site}/missing"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr  # one URL failed
    files = {f["source"]: f for f in json.loads(done.stdout)["files"]}
    assert files[f"{site}/missing"]["status"] == "failed"
    assert any(f["status"] == "added" for f in files.values())
    plain = subprocess.run([sys.executable, "-m", "qa", "ingest", f"{site}/missing"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == 1 and f"failed    {site}/missing" in plain.stdout
    assert "HTTP 404" in plain.stdout and "Traceback" not in plain.stderr
