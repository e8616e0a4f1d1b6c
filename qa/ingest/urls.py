"""Articles by URL: fetch a page (``httpx``: timeouts, a size cap, ``text/html`` or
``text/plain`` only, redirects capped), keep its raw bytes in the upload folder so citations are
checked against the stored copy, and record where it came from.

The app may run on a server, so a URL whose host resolves to a loopback, private, link-local
(cloud metadata), multicast or reserved address is refused, at every redirect, unless
``QA_URL_ALLOW_PRIVATE=true``. Each failure is one line naming the URL; a URL that failed
changes nothing in the index."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from qa.errors import IngestError
from qa.settings import Settings
from qa.types import FileReport

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
PAGE_TYPES = {"text/html": ".html", "application/xhtml+xml": ".html", "text/plain": ".txt"}
SIDECAR_PREFIX = "."  # ".<name>.url" beside a fetched page holds its URL (hidden: not ingested)


@dataclass(frozen=True)
class Fetched:
    """A page as the server sent it: ``url`` asked for, ``final_url`` after redirects."""

    url: str
    final_url: str
    data: bytes
    suffix: str  # .html or .txt, from the content type


def is_url(text: str) -> bool:
    return bool(re.match(r"https?://", text.strip(), re.I))


def check_address(url: str, allow_private: bool) -> None:
    """Refuses URLs that are not http(s), or whose host resolves to an address inside the
    machine's own networks (unless ``allow_private``)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise IngestError(f"{url}: not an http(s) URL")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise IngestError(f"{url}: cannot resolve {parts.hostname} ({exc})") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        mapped = getattr(ip, "ipv4_mapped", None)
        ip = mapped or ip
        if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified):
            raise IngestError(f"{url}: refused: {parts.hostname} is {ip}, a loopback, private or "
                              "link-local address (QA_URL_ALLOW_PRIVATE=true allows it)")


def fetch(url: str, *, timeout: float, max_bytes: int, allow_private: bool) -> Fetched:
    """The page at ``url``; :class:`IngestError` naming the URL for every way it can fail."""
    import httpx

    current = url.strip()
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False,
                          headers={"User-Agent": "qa-articles/1 (+ask your articles)"}) as client:
            for _ in range(MAX_REDIRECTS + 1):
                check_address(current, allow_private)
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        current = urljoin(current, response.headers.get("location", ""))
                        continue
                    return _page(url, current, response, max_bytes)
    except httpx.TimeoutException as exc:
        raise IngestError(f"{url}: no answer within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise IngestError(f"{url}: {type(exc).__name__}: {exc}") from exc
    raise IngestError(f"{url}: more than {MAX_REDIRECTS} redirects")


def _page(url: str, final: str, response: httpx.Response, max_bytes: int) -> Fetched:
    status = response.status_code
    if status >= 400:
        raise IngestError(f"{url}: HTTP {status} {response.reason_phrase}".rstrip())
    headers = response.headers
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in PAGE_TYPES:
        raise IngestError(f"{url}: {kind or 'no content type'} is not an article page "
                          "(text/html or text/plain)")
    declared = headers.get("content-length", "")
    too_big = IngestError(f"{url}: the page is over the {max_bytes / 1e6:g} MB cap "
                          "(QA_MAX_UPLOAD_MB)")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > max_bytes:
            raise too_big
    if not bytes(data).strip():
        raise IngestError(f"{url}: the page is empty")
    return Fetched(url, final, bytes(data), PAGE_TYPES[kind])


def stored_name(url: str, suffix: str) -> str:
    """One file name per URL (re-fetching replaces it): host, path words, a short hash."""
    parts = urlsplit(url.strip())
    words = re.sub(r"[^A-Za-z0-9]+", "-", f"{parts.hostname or ''} {parts.path}").strip("-")
    digest = hashlib.sha256(url.strip().encode()).hexdigest()[:10]
    return f"{words[:70].strip('-') or 'page'}-{digest}{suffix}"


def store(page: Fetched, folder: Path) -> Path:
    """Writes the raw bytes under ``folder`` (and, in a hidden file beside them, the URL they
    came from after redirects); returns the page's path. An unchanged page is left as it
    was; a changed one replaces it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / stored_name(page.url, page.suffix)
    if not (path.exists() and path.read_bytes() == page.data):
        path.write_bytes(page.data)
    sidecar_of(path).write_text(page.final_url.strip() + "\n", encoding="utf-8")
    return path


def sidecar_of(path: Path) -> Path:
    return path.with_name(f"{SIDECAR_PREFIX}{path.name}.url")


def fetched_url(path: Path) -> str:
    """The URL a fetched page came from, or ""."""
    try:
        return sidecar_of(path).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def fetch_all(urls: list[str], settings: Settings) -> tuple[list[Path], list[FileReport]]:
    """Fetches each URL and stores it in ``QA_UPLOAD_DIR/web``: the stored pages, and a
    ``failed`` report line for each URL that failed (logged, one line each)."""
    saved: list[Path] = []
    failed: list[FileReport] = []
    for url in dict.fromkeys(u.strip() for u in urls if u.strip()):
        try:
            page = fetch(url, timeout=settings.url_timeout,
                         max_bytes=int(settings.max_upload_mb * 1_000_000),
                         allow_private=settings.url_allow_private)
            saved.append(store(page, settings.upload_dir / "web"))
            log.info("fetched %s (%d bytes)", url, len(page.data))
        except IngestError as exc:
            log.warning("%s", exc)
            failed.append(FileReport(url, url, "failed", problem=True,
                                     reason=str(exc).removeprefix(f"{url}: ")))
    return saved, failed
