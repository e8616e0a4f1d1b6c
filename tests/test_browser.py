"""The web app in a real headless Chromium (Debian's package) driven by Playwright.
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import app_py

pytestmark = [pytest.mark.browser, pytest.mark.real, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def _app(work: Path, port: int | None = None, **env_more: str) -> Iterator[str]:
    """``python app.py`` (on ``port``, default a free one) over a private copy of the bundled
    articles."""
    from qa.settings import BUNDLED_ARTICLES

    shutil.copytree(BUNDLED_ARTICLES, work / "articles")
    with app_py(work, work / "articles", port, **env_more) as url:
        yield url


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _app(tmp_path_factory.mktemp("app")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install chromium chromium-driver "
                    "(bin/setup --test does it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _ready(page):  # type: ignore[no-untyped-def]
    """``page`` once the chat is on screen and the index is built."""
    page.wait_for_selector("#question textarea", timeout=60_000)
    page.wait_for_function(
        "document.querySelector('#status')?.innerText.includes('passages indexed')",
        timeout=120_000)
    return page


def _open(browser, url: str):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": 1400, "height": 950}).new_page()
    page.goto(url)
    return _ready(page)


def _ask(page, question: str) -> None:  # type: ignore[no-untyped-def]
    before = page.locator("#chat .message").count()
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(
        "(() => { const m = document.querySelectorAll('#chat .message');"
        f" return m.length >= {before + 2} && m[m.length - 1].innerText.includes({question!r})"
        " === false && !m[m.length - 1].innerText.trim().endsWith('…'); })()",
        timeout=60_000)
    page.wait_for_timeout(300)


def test_ask_stream_click_citation(browser, app_url: str, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    shots = artifacts / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page = _open(browser, app_url)
    _ask(page, "How many Tor-M1 systems did Iran receive?")
    page.wait_for_selector("#chat a.cite", timeout=60_000)
    reply = page.locator("#chat .message").last.inner_text()
    assert "29" in reply
    page.screenshot(path=str(shots / "chat.png"))
    page.locator("#chat a.cite").first.click()
    active = page.locator("#sources details.active")
    active.wait_for(timeout=10_000)
    assert active.get_attribute("id") == "cite-0-1"
    mark = active.locator("mark.quote")
    assert mark.is_visible()
    assert "29 Russian-made Tor-M1" in mark.inner_text()
    assert page.url.rstrip("/") == app_url.rstrip("/")  # the click did not navigate away
    page.screenshot(path=str(shots / "source-opened.png"))
    _ask(page, "How many S-400 systems did Russia deliver to Iran?")
    page.locator("#chat .abstain").last.wait_for(timeout=30_000)
    assert "don't say" in page.locator("#chat .message").last.inner_text()
    page.screenshot(path=str(shots / "not-in-articles.png"))
    page.context.close()


def test_upload_makes_an_article_answerable(browser, app_url: str, artifacts: Path,  # type: ignore[no-untyped-def]
                                            tmp_path: Path) -> None:
    article = tmp_path / "kazakhstan-fighters.txt"
    article.write_text("Kazakhstan buys Russian fighters\n\nKazakhstan bought 12 Su-30SM "
                       "fighters from Russia in March 2015, the defence ministry said.\n")
    page = _open(browser, app_url)
    page.get_by_role("tab", name="Library").click()
    page.set_input_files("#upload input[type=file]", str(article))
    page.wait_for_function(
        "document.querySelector('#library-message')?.innerText.includes('added')",
        timeout=60_000)
    assert "kazakhstan-fighters.txt" in page.locator("#library").inner_text()
    page.screenshot(path=str(artifacts / "screenshots" / "library.png"))
    page.get_by_role("tab", name="Chat").click()
    _ask(page, "How many Su-30SM fighters did Kazakhstan buy?")
    reply = page.locator("#chat .message").last.inner_text()
    assert "12" in reply and "kazakhstan-fighters.txt" in reply
    page.context.close()


def test_two_sessions_do_not_share_history(browser, app_url: str) -> None:  # type: ignore[no-untyped-def]
    first, second = _open(browser, app_url), _open(browser, app_url)
    _ask(first, "When was the UN arms embargo on Iran lifted?")
    _ask(second, "Where did Iran file its complaint against Rosoboronexport?")
    one, two = first.locator("#chat").inner_text(), second.locator("#chat").inner_text()
    assert "embargo" in one and "Rosoboronexport" not in one
    assert "Rosoboronexport" in two and "embargo" not in two
    assert "Q1: Where did Iran" in second.locator("#sources").inner_text()
    assert "Where did Iran" not in first.locator("#sources").inner_text()
    first.context.close()
    second.context.close()


def test_login_is_required_and_works(browser, tmp_path: Path, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    with _app(tmp_path, QA_AUTH="editor:pa55word") as url:
        page = browser.new_context(viewport={"width": 1400, "height": 950}).new_page()
        page.goto(url)
        page.get_by_label("username").wait_for(timeout=60_000)
        assert page.locator("#question").count() == 0  # nothing of the app before the login
        page.screenshot(path=str(artifacts / "screenshots" / "login.png"))
        page.get_by_label("username").fill("editor")
        page.get_by_label("password").fill("wrong")
        page.get_by_role("button", name="Login").click()
        page.get_by_text("Incorrect", exact=False).wait_for(timeout=30_000)
        page.get_by_label("username").fill("editor")  # the failed attempt cleared the form
        page.get_by_label("password").fill("pa55word")
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("#question textarea", timeout=60_000)
        page.wait_for_function(
            "document.querySelector('#status')?.innerText.includes('passages indexed')",
            timeout=120_000)
        _ask(page, "How many Tor-M1 systems did Iran receive?")
        assert "29" in page.locator("#chat .message").last.inner_text()
        page.context.close()


HOSTILE_TXT = (
    '<img src=x onerror="window.__pwned=2"> Kazakhstan buys Russian fighters\n\n'
    "Kazakhstan bought 12 Su-30SM fighters from Russia in March 2015, the defence ministry "
    "said. <script>window.__pwned=3</script> See <a href=\"http://evil.example/deal\">the "
    "deal</a>, [more](javascript:window.__pwned=4) and ![chart](http://evil.example/t.png).\n")
HOSTILE_HTML = (
    "<html><head><title>&lt;img src=x onerror=window.__pwned=5&gt; Armenia buys jets</title>"
    '<meta property="og:site_name" content="&lt;img src=x onerror=window.__pwned=6&gt;">'
    "</head><body><article><h1>&lt;svg onload=window.__pwned=7&gt; Armenia buys jets</h1>"
    "<p>Armenia bought four Su-30SM fighters from Russia in 2019, officials said on Monday "
    "in Yerevan &lt;img src=http://evil.example/p.png onerror=window.__pwned=8&gt;.</p>"
    "<p>The jets joined the air force after a long wait, the defence ministry said.</p>"
    "</article></body></html>")
# elements of the page that carry an event handler, javascript: links, outside images
_LIVE = """() => [...document.querySelectorAll('*')].filter(e =>
    [...e.attributes].some(a => a.name.startsWith('on')
        || /^\\s*javascript:/i.test(a.value)
        || (['src', 'href', 'srcset'].includes(a.name) && /evil\\.example/.test(a.value))))
  .map(e => e.outerHTML.slice(0, 160))"""


def test_no_live_html_from_questions_or_articles(browser, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                 artifacts: Path) -> None:
    """Questions, titles, outlets, file names and passages carrying <img onerror>, <script>,
    javascript: links and outside links and images are shown as text: no script runs, no
    element with an event handler appears, no request leaves 127.0.0.1."""
    corpus = tmp_path / "articles"
    corpus.mkdir()
    (corpus / '<img src=x onerror="window.__pwned=1">.txt').write_text(HOSTILE_TXT)
    (corpus / "armenia<svg onload=window.__pwned=9>.html").write_text(HOSTILE_HTML)
    with app_py(tmp_path, corpus) as url:
        page = browser.new_context(viewport={"width": 1400, "height": 950}).new_page()
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url)
                if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.wait_for_selector("#question textarea", timeout=60_000)
        page.wait_for_function(
            "document.querySelector('#status')?.innerText.includes('passages indexed')",
            timeout=120_000)
        _ask(page, '<img src=x onerror="window.__pwned=10"> <b>bold</b> What did Kazakhstan buy?')
        _ask(page, "How many Su-30SM fighters did Kazakhstan buy?")
        _ask(page, "How many Su-30SM fighters did Armenia buy?")
        page.get_by_role("tab", name="Library").click()
        page.wait_for_function(
            "document.querySelector('#library')?.innerText.includes('armenia')", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts / "screenshots" / "hostile-library.png"))
        page.get_by_role("tab", name="Chat").click()
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / "screenshots" / "hostile-chat.png"))
        chat = page.locator("#chat").inner_text()
        library = page.locator("#library").inner_text()
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate(_LIVE) == []
        assert dialogs == [] and outside == []
        # shown, as text
        assert "<img src=x" in chat and "<b>bold</b>" in chat
        assert "12" in chat and "onerror" in library
        page.context.close()


def _login(browser, url: str, user: str, password: str):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": 1400, "height": 950},
                               accept_downloads=True).new_page()
    page.goto(url)
    page.get_by_label("username").wait_for(timeout=60_000)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    return _ready(page)


def _chat_has(page, text: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"document.querySelector('#chat')?.innerText.includes({text!r})",
                           timeout=30_000)


def test_conversations_survive_reload_and_restart_per_user(  # type: ignore[no-untyped-def]
        browser, tmp_path: Path, artifacts: Path) -> None:
    users = "alice:pw-alice,bob:pw-bob"
    question = "How many Tor-M1 systems did Iran receive?"
    with _app(tmp_path, QA_AUTH=users) as url:
        alice = _login(browser, url, "alice", "pw-alice")
        _ask(alice, question)
        alice.wait_for_function(
            "document.querySelector('#conversations')?.innerText.includes('Tor-M1')",
            timeout=30_000)
        alice.fill("#conversation-title textarea", "Tor-M1 deliveries")
        alice.click("#rename")
        alice.wait_for_function("document.querySelector('#conversations')?.innerText"
                                ".includes('Tor-M1 deliveries')", timeout=30_000)
        with alice.expect_download(timeout=30_000) as download:
            alice.click("#export")
        exported = Path(download.value.path()).read_text()
        assert exported.startswith("# Tor-M1 deliveries") and f"## {question}" in exported
        assert "[1] 00" in exported and "> Iran recently took delivery of 29" in exported
        alice.reload()  # a reload shows the conversation again
        alice.wait_for_selector("#question textarea", timeout=60_000)
        _chat_has(alice, "29")
        alice.screenshot(path=str(artifacts / "screenshots" / "conversations.png"))
        bob = _login(browser, url, "bob", "pw-bob")  # another user sees none of it
        bob.wait_for_timeout(1500)
        assert "Tor-M1" not in bob.locator("#chat").inner_text()
        assert "Tor-M1" not in bob.locator("#conversations").inner_text()
        alice.context.close()
        bob.context.close()
    # the app restarted on the same index: the conversation is still there
    with app_py(tmp_path, tmp_path / "articles", QA_AUTH=users) as url:
        alice = _login(browser, url, "alice", "pw-alice")
        _chat_has(alice, "29")
        assert "Tor-M1 deliveries" in alice.locator("#conversations").inner_text()
        _ask(alice, "And when was the contract signed?")  # the follow-up reads the history
        _chat_has(alice, "2005")
        alice.click("#delete")
        alice.wait_for_function(
            "!document.querySelector('#conversations')?.innerText.includes('Tor-M1')",
            timeout=30_000)
        alice.context.close()


def test_without_login_each_browser_keeps_its_own_conversations(  # type: ignore[no-untyped-def]
        browser, tmp_path: Path) -> None:
    """No QA_AUTH: a conversation belongs to the browser that had it (a random id kept in its
    storage), survives a reload and a restart on the same address, and another browser
    opening the same page sees none of it."""
    from conftest import free_port

    port = free_port()
    with _app(tmp_path, port) as url:
        mine = _open(browser, url)
        _ask(mine, "How many Tor-M1 systems did Iran receive?")
        mine.wait_for_function(
            "document.querySelector('#conversations')?.innerText.includes('Tor-M1')",
            timeout=30_000)
        other = _open(browser, url)  # another browser: a fresh, empty page
        other.wait_for_timeout(1500)
        assert "Tor-M1" not in other.locator("#chat").inner_text()
        assert "Tor-M1" not in other.locator("#conversations").inner_text()
        _ask(other, "Where did Iran file its complaint against Rosoboronexport?")
        mine.reload()
        mine.wait_for_selector("#question textarea", timeout=60_000)
        _chat_has(mine, "29")
        assert "Rosoboronexport" not in mine.locator("#conversations").inner_text()
        other.context.close()
    with app_py(tmp_path, tmp_path / "articles", port=port) as url:
        mine.goto(url)  # the same browser after a restart
        mine.wait_for_selector("#question textarea", timeout=60_000)
        _chat_has(mine, "29")
        assert "Tor-M1" in mine.locator("#conversations").inner_text()
        assert "Rosoboronexport" not in mine.locator("#conversations").inner_text()
        mine.context.close()
