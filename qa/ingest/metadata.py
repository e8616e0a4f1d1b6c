"""Article metadata from the page text: outlet, publication date, URL. HTML pages get theirs from
trafilatura; text dumps from what the page itself says (bylines, datelines, site suffixes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from qa.text import MONTHS

# news-agency codes seen in datelines such as "TEHRAN (FNA)-"
AGENCIES = {
    "FNA": "Fars News Agency", "IRNA": "IRNA", "AP": "Associated Press", "AFP": "AFP",
    "TASS": "TASS", "RIA": "RIA Novosti", "UPI": "UPI", "ISNA": "ISNA", "PTI": "PTI",
    "IANS": "IANS", "Xinhua": "Xinhua", "Reuters": "Reuters", "Tasnim": "Tasnim News Agency",
    "MNA": "Mehr News Agency", "IFP": "Iran Front Page",
}
_MONTHS = MONTHS
_M = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = (
    re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"),
    re.compile(rf"\b(\d{{1,2}})\s+({_M})\.?,?\s+(\d{{4}})\b", re.I),
    re.compile(rf"\b({_M})\.?\s+(\d{{1,2}}),?\s+(\d{{4}})\b", re.I),
)
_PUBLISHED = re.compile(r"\b(?:published|posted|updated|date)\s*(?:on|:)?\s*(.{6,40})", re.I)
_URL = re.compile(r"https?://[^\s)\]>\"']+")
_DATELINE = re.compile(r"^[A-Z][A-Z .'-]{2,30}\s*\(([A-Za-z]{2,8})\)\s*[-–—]")
_SITE_LINE = re.compile(r"^\s*[-–|•]\s*([A-Z][\w.]*(?:\s[A-Z][\w.]*){0,3})\s*$")
_SITE_SUFFIX = re.compile(r"\s[-–|]\s([A-Z][\w.]*(?:\s[A-Z][\w.]*){0,3})$")


@dataclass(frozen=True)
class Metadata:
    outlet: str = ""
    published: str = ""  # ISO date, or "" when unknown
    url: str = ""

    @property
    def published_int(self) -> int:
        """YYYYMMDD for range filters; 0 when unknown."""
        return int(self.published.replace("-", "")) if self.published else 0


def parse_date(text: str) -> str:
    """The first date in ``text`` as YYYY-MM-DD, or ""."""
    for pattern in _DATE_PATTERNS:
        m = pattern.search(text)
        if not m:
            continue
        g = m.groups()
        try:
            if pattern is _DATE_PATTERNS[0]:
                d = date(int(g[0]), int(g[1]), int(g[2]))
            elif pattern is _DATE_PATTERNS[1]:
                d = date(int(g[2]), _MONTHS[g[1].lower()], int(g[0]))
            else:
                d = date(int(g[2]), _MONTHS[g[0].lower()], int(g[1]))
        except (ValueError, KeyError):
            continue
        return d.isoformat()
    return ""


def from_text(text: str, clutter_lines: list[str]) -> Metadata:
    """Outlet from a dateline agency code, a "Published by" line or a site-name line/suffix;
    date from a "Published ..." line; URL from the first link in the page."""
    outlet = ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in lines:
        m = _DATELINE.match(line)
        if m and m.group(1) in AGENCIES:
            outlet = AGENCIES[m.group(1)]
            break
    if not outlet:
        for i, line in enumerate(lines):
            if re.fullmatch(r"published by:?", line, re.I) and i + 1 < len(lines):
                outlet = lines[i + 1]
                break
    if not outlet:
        for line in clutter_lines:
            m = _SITE_LINE.match(line) or _SITE_SUFFIX.search(line)
            if m and len(m.group(1).split()) >= 2:
                outlet = m.group(1)
                break
    url_match = _URL.search(text)
    return Metadata(outlet=outlet, published=published_line(lines),
                    url=url_match.group().rstrip(".,") if url_match else "")


def published_line(lines: list[str]) -> str:
    """The full date of a "Published/Posted/Updated ..." line near the top, or "" (a bare year
    or a date elsewhere in the text is never taken for the publication date)."""
    for line in lines[:40]:
        m = _PUBLISHED.search(line)
        if m and (found := parse_date(m.group(1))):
            return found
    return ""


def from_html(source: str, text: str = "") -> tuple[Metadata, str]:
    """Metadata and title of an HTML page, by trafilatura. The date is the one the page declares
    (meta tags, ``<time>``, structured data, a dated URL) — htmldate's extensive search, which
    turns any year in the text into January 1st, is off — or else a "Published ..." line of the
    visible ``text``."""
    import trafilatura

    meta = trafilatura.extract_metadata(source, extensive=False)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if meta is None:
        return Metadata(published=published_line(lines)), ""
    published = parse_date(meta.date or "") if meta.date else ""
    return (Metadata(outlet=meta.sitename or "", published=published or published_line(lines),
                     url=meta.url or ""), meta.title or "")
