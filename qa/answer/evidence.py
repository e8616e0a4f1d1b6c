"""Sentences of retrieved passages as citable evidence, and what kind of facts each contains."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.answer.question import ALIASES, AnswerType, QuestionAnalysis
from qa.ingest.documents import file_range
from qa.text import is_headline, sentence_spans, stem
from qa.types import Citation, Passage


@dataclass(frozen=True)
class Sentence:
    """A sentence of a passage; ``start``/``end`` index ``passage.text``."""

    passage: Passage
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.passage.text[self.start : self.end]

    @property
    def key(self) -> tuple[str, int, int]:
        """Where the sentence sits in its file (the same sentence in two overlapping chunks)."""
        fs, fe = self.file_range()
        return (self.passage.path, fs, fe)

    def file_range(self) -> tuple[int, int]:
        if self.passage.spans:
            return file_range(self.passage.spans, self.start, self.end)
        return self.passage.start + self.start, self.passage.start + self.end

    def citation(self, n: int) -> Citation:
        """A citation of this sentence (for HTML the quote is re-cut from the file later)."""
        fs, fe = self.file_range()
        p = self.passage
        return Citation(n=n, source=p.source, path=p.path, title=p.title, quote=self.text,
                        start=fs, end=fe, outlet=p.outlet, published=p.published, url=p.url,
                        encoding=p.encoding)


def split_sentences(passage: Passage, min_words: int = 4) -> list[Sentence]:
    return [
        Sentence(passage, a, b)
        for a, b in sentence_spans(passage.text)
        if len(passage.text[a:b].split()) >= min_words
    ]


_MONTHS = """
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    """.split()
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_NUMBER_WORDS = frozenset(
    """
    two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety hundred hundreds thousand thousands million millions billion billions dozen
    dozens
    """.split()
)
_YEAR = re.compile(r"(?<![\w-])(1[89]\d\d|20\d\d)(?![\w-])")
# as a date (not as a count to leave out) any year from 1000 on, decades and centuries count
_ANY_YEAR = re.compile(
    r"(?<![\w.,-])(1\d\d\d|20\d\d)s?(?![\w-])|\b\d{1,2}(?:st|nd|rd|th)[\s-]century\b", re.I)
_NUMBER = re.compile(r"(?<![\w.-])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w-])|(?<![\w.-])\d+(?:\.\d+)?"
                     r"(?:-(?:million|billion|thousand|strong|year))?%?(?![\w-])")
_AMOUNT = re.compile(
    r"(?:\\?[$€£]|\b(?:USD|EUR|US\$))\s?\d[\d,.]*(?:[\s-]*(?:million|billion|thousand|bn|m)\b)?"
    r"|\b\d[\d,.]*[\s-]*(?:million|billion|thousand)?\s*(?:dollars|euros|rubles|roubles|rials|"
    r"pounds)\b", re.I)
_DATE = re.compile(
    r"\b(?:" + "|".join(_MONTHS) + r")\.?\s+\d{1,2}\b|\b\d{1,2}\s+(?:" + "|".join(_MONTHS)
    + r")\b|\b(?:" + "|".join(_MONTHS) + r")\b|\b(?:" + "|".join(_WEEKDAYS)
    + r")\b|\b(?:yesterday|today|last (?:week|month|year)|earlier this (?:week|month|year))\b",
    re.I,
)
_NOT_NAMES = frozenset(
    """
    the a an in on at of and for to with from by this that these those he she it they we his
    her their its our new old former late early last next north south east west middle
    united nations nation security council international court arbitration ministry federal
    service state states news agency corporation air force army navy day supreme national
    military defense defence airshow exhibition media wire front page plan action joint
    comprehensive resolution republic embassy government parliament foreign affairs city
    town island islands gulf strait sea river county province region corps guard
    revolutionary islamic
    """.split()
    + _MONTHS + _WEEKDAYS
)
_PLACE = re.compile(
    r"\b(?:in|at|near|outside|from|to|inside)\s+(?:the\s+)?((?:[A-Z][\w'’-]+)(?:\s+(?:[A-Z][\w'’-]+"
    r"|of|de|and)){0,4})"
)


def _new(found: Sequence[str], q: QuestionAnalysis) -> bool:
    """At least one of ``found`` is not already in the question."""
    q_lower = q.text.lower()
    return any(not re.search(rf"(?<![\w-]){re.escape(f.lower().strip())}(?![\w-])", q_lower)
               for f in found if f.strip())


_QUANTITY = (r"(?:\d[\d,.]*|\b(?:" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
             + r"|one|a few|several))\s*(?:-\s*)?")
_UNITS = (r"km|kilomet(?:er|re)s?|miles?|met(?:er|re)s?|m|feet|ft|kg|tons?|tonnes?|knots|mph"
          r"|km/h|percent|per cent|%|degrees?")
_MEASURE = re.compile(_QUANTITY + rf"(?:{_UNITS}|years?|months?|days?|hours?|minutes?)(?!\w)",
                      re.I)
# "by how much did emissions fall": a percentage or a measure, not a span of time
_CHANGE = re.compile(_QUANTITY + rf"(?:{_UNITS})(?!\w)", re.I)
# "how long did it last": a span of time given by its ends ("from 1870 to 1939", "until the
# 19th century", "1975–1996")
_TIME_SPAN = re.compile(
    r"\b(?:from|between)\s+(?:[\w,]+\s+){0,3}?(?:1\d\d\d|20\d\d)\s*(?:to|and|until|till|[-–])\s*"
    r"(?:[\w,]+\s+){0,3}?(?:1\d\d\d|20\d\d)\b"
    r"|\b(?:until|till|up to)\s+(?:the\s+)?(?:[\w-]+\s+){0,4}?"
    r"(?:1\d\d\d|20\d\d|\d{1,2}(?:st|nd|rd|th)[\s-]century)\b"
    r"|(?<![\w.-])(?:1\d\d\d|20\d\d)\s*[-–]\s*(?:1\d\d\d|20\d\d|\d\d)(?![\w-])", re.I)
_TOKEN = re.compile(r"[\w$%’'.,-]+")


_PERCENT_WORD = re.compile(r"\s*(?:percent|per cent|percentage points?)\b", re.I)


_TIMES = re.compile(r"\b(?:once|twice|thrice)\b", re.I)  # "how many times": "twice a day"


def _counts_near(text: str, noun: str, q: QuestionAnalysis, reach: int = 7) -> list[str]:
    """Numbers (digits or words) in ``text``, not years; with ``noun`` given, only those that
    ``noun`` follows within ``reach`` words ("29 Russian-made Tor-M1 air defense ... systems")."""
    tokens = _TOKEN.findall(text)
    root = stem(noun) if noun else ""
    found = []
    for i, tok in enumerate(tokens):
        bare = tok.strip(".,’'")
        # "six-time winner": a number word may open a compound
        is_number = (bool(_NUMBER.fullmatch(bare)) and not _YEAR.fullmatch(bare)) or (
            bare.lower().split("-")[0] in _NUMBER_WORDS)
        if root == "time" and _TIMES.fullmatch(bare):
            found.append(bare)
            continue
        if not is_number:
            continue
        if root and not _near_noun(tokens[i + 1 : i + 1 + reach], tokens[max(0, i - 3) : i],
                                   root):
            continue
        found.append(bare)
    return found


def _near_noun(after: Sequence[str], before: Sequence[str], root: str) -> bool:
    """The counted noun follows the number ("29 ... systems") or just precedes it
    ("interceptions with 24"); a compound counts by its last part ("six-time Grammy")."""
    return any(stem(t.strip(".,’'").split("-")[-1]) == root or stem(t.strip(".,’'")) == root
               for t in [*after, *before])


_SIZE = re.compile(r"\b(?:size|big|large)\b", re.I)


def _measure_patterns(q: QuestionAnalysis) -> tuple[re.Pattern[str], ...]:
    """Measures (4 km, 30 years) and spans of time by their ends; for a size, amounts too
    ("what is the size of the endowment" is answered in dollars)."""
    return (_MEASURE, _TIME_SPAN, _AMOUNT) if _SIZE.search(q.text) else (_MEASURE, _TIME_SPAN)


def _found(patterns: Sequence[re.Pattern[str]], text: str) -> list[re.Match[str]]:
    return [m for pattern in patterns for m in pattern.finditer(text)]


_MONEY = re.compile(
    r"\b(?:money|pay|paid|pays|cost|costs|price\w*|worth|value\w*|spen[dt]\w*|revenues?|sales"
    r"|profits?|budgets?|fund\w*|dollars?|euros?|earn\w*|sold|sell\w*|buy\w*|bought|fees?"
    r"|fines?|salar\w*|wages?|income|loss\w*|debts?|tax\w*|invest\w*|raised?|deal|contract)\b",
    re.I)


def _amount_patterns(q: QuestionAnalysis) -> tuple[re.Pattern[str], ...]:
    """Sums of money; when the question names no money ("by how much did emissions fall",
    "how much lower was the sea"), a percentage or a measure answers it too."""
    return (_AMOUNT,) if _MONEY.search(q.text) else (_AMOUNT, _CHANGE)


def typed_values(text: str, kind: AnswerType, q: QuestionAnalysis) -> set[str]:
    """The normalised values of ``kind`` that ``text`` states and the question does not."""
    from qa.text import normalize

    if kind == "count":
        found = _counts_near(text, q.counted, q)
    elif kind == "amount":
        found = [m.group() for m in _found(_amount_patterns(q), text)]
    elif kind == "measure":
        found = [m.group() for m in _found(_measure_patterns(q), text)]
    elif kind == "date":
        found = [m.group() for m in _ANY_YEAR.finditer(text)] + [m.group()
                                                               for m in _DATE.finditer(text)]
    else:
        return set()
    q_norm = normalize(q.text)
    return {v for f in found if (v := normalize(f))
            and not re.search(rf"(?<![\w-]){re.escape(v)}(?![\w-])", q_norm)}


def has_answer_type(text: str, kind: AnswerType, q: QuestionAnalysis) -> bool:
    """Whether ``text`` holds a count, measure, amount or date (``kind``) that the question
    does not already state; other kinds always pass (they are scored, not gated)."""
    if kind == "count":
        return _new(_counts_near(text, q.counted, q), q)
    if kind == "measure":
        return _new([m.group() for m in _found(_measure_patterns(q), text)], q)
    if kind == "amount":
        return _new([m.group() for m in _found(_amount_patterns(q), text)], q)
    if kind == "date":
        dates = [m.group() for m in _ANY_YEAR.finditer(text)]
        dates += [m.group() for m in _DATE.finditer(text)]
        return _new(dates, q)
    return True  # who, where, what: a matter of degree, scored by the reader (new_names)


_DATE_SPAN = re.compile(
    r"\b(?:\d{1,2}\s+)?(?:" + "|".join(_MONTHS) + r")\.?(?:\s+\d{1,2}(?:st|nd|rd|th)?)?"
    r"(?:,?\s+(?:1\d\d\d|20\d\d))?\b|(?<![\w.,-])(?:1\d\d\d|20\d\d)s?(?![\w-])"
    r"|\b\d{1,2}(?:st|nd|rd|th)[\s-]century\b", re.I)
_NUMBER_SPAN = re.compile(
    r"(?<![\w.-])\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|(?<![\w.-])\d+(?:\.\d+)?%?(?![\w-])"
    r"|\b(?:" + "|".join(sorted(_NUMBER_WORDS | {"one"}, key=len, reverse=True)) + r")\b", re.I)


_CAPITALISED = re.compile(r"\b[A-Z][\w'’.-]*[a-z0-9][\w'’-]*(?:\s+(?:of\s+|de\s+|the\s+)?"
                          r"[A-Z][\w'’.-]*)*")


_SENTENCE_END = re.compile(r"\.[\"”’')]*\s*$")


def new_names(text: str, q: QuestionAnalysis) -> list[tuple[int, int]]:
    """Spans of capitalised names in ``text`` (not its first word, not a month or weekday)
    that the question does not name: the candidates for "who", "where", "which X". A Title Case
    headline has none (its capitals are not names)."""
    if is_headline(text) and not _SENTENCE_END.search(text):
        return []  # a sentence with a full stop may be dense in names and still be a sentence
    q_low = q.text.lower()
    # the question's words, codes split as names are below ("tor-m1": "tor", "m1"), so that
    # the question's own codes are no new names
    q_words = [w.strip(".,;:!?\"“”'’()") for w in re.split(r"[\s/–—-]+", q_low)]
    out = []
    for m in _CAPITALISED.finditer(text):
        if m.start() == 0 and " " not in m.group():
            continue  # a capitalised first word is only the start of the sentence
        # a lowercase piece names nothing ("Russian-made", "Iran-bound": only the country)
        words = [re.sub(r"['’]s$", "", w.lower()) for w in re.split(r"[\s-]+", m.group())
                 if w and not w.islower()]  # "Sunday's": the word is "sunday"
        # a name needs a word that is not a common word, a nationality (Russian, Iranian:
        # no answer to "who") or one of the question's own
        if all(w in _NOT_NAMES or w in ALIASES or _DEMONYM_WORD.fullmatch(w)
               or any(qw.startswith(w) for qw in q_words if qw) for w in words):
            continue
        out.append(m.span())
    return out


_DEMONYM_WORD = re.compile(
    r"(?:russ|iran|americ|ukrain|syr|ind|ital|canad|austral|egypt|brazil|arab|asi|europe|afric"
    r"|palestin|norweg|belgi|hungar|indones|nigeri)ians?|(?:chin|japan|vietnam|portugu|leban|taiw)"
    r"ese|(?:brit|engl|ir|scott|turk|pol|span|swed|dan|finn)ish|(?:israel|iraq|pakistan|saud)is?"
    r"|(?:germ|mexic|kore|kenya)ans?|french|dutch|greek|swiss")
# "which party ...", also after an opening clause ("Apart from the Tor-M1, which system ...")
_WANTS_NAME = re.compile(r"(?:^|[,;])\s*which\s+(?!of\b|is\b|was\b|are\b|were\b)\w+", re.I)


def wants_name(q: QuestionAnalysis) -> bool:
    """"who", "where", "which party ...": the answer is a name."""
    return q.answer_type in ("person", "place") or bool(_WANTS_NAME.search(q.text))


def answer_span(text: str, q: QuestionAnalysis) -> tuple[int, int] | None:
    """Where in ``text`` the value that answers ``q`` sits: the first count, amount, measure,
    date, name or place of the expected kind that the question does not already state; None
    when the kind is open ("what", "why") or nothing of it is found."""
    from qa.text import normalize

    kind = q.answer_type
    spans: list[tuple[int, int]] = []
    if kind == "count":
        root = stem(q.counted) if q.counted else ""
        for m in _NUMBER_SPAN.finditer(text):
            if _YEAR.fullmatch(m.group()):
                continue
            if not root or _near_noun(_TOKEN.findall(text[m.end():])[:7],
                                      _TOKEN.findall(text[: m.start()])[-3:], root):
                spans.append(m.span())
        if root == "time":
            spans += [m.span() for m in _TIMES.finditer(text)]
        # a share's span takes its word: "90 percent"
        spans = [(a, w.end() if (w := _PERCENT_WORD.match(text, b)) else b) for a, b in spans]
    elif kind == "amount":
        spans = [m.span() for m in _found(_amount_patterns(q), text)]
    elif kind == "measure":
        spans = [m.span() for m in _found(_measure_patterns(q), text)]
    elif kind == "date":
        spans = [m.span() for m in _DATE_SPAN.finditer(text)]
    elif kind == "place":
        spans = [m.span(1) for m in _PLACE.finditer(text)
                 if m.group(1).split()[0].lower() not in _MONTHS + _WEEKDAYS] or new_names(text, q)
    elif wants_name(q):
        spans = new_names(text, q)
    q_norm = f" {normalize(q.text)} "
    for a, b in sorted(spans, key=lambda ab: (ab[0], -ab[1])):
        value = normalize(text[a:b].strip())
        if value and f" {value} " not in q_norm:
            return a, b
    return None
