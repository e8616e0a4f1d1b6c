"""What a question asks for: the expected answer type and the key entities an answer must name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from qa.errors import QAError
from qa.text import STOPWORDS, content_stems, stem

AnswerType = Literal["count", "measure", "amount", "date", "person", "place", "other"]

# up to three words before the noun that names the kind ("which retired Russian general"),
# none of them a verb or a function word ("which system did the head ..." is not a person)
_MODIFIERS = (r"(?:(?!(?:did|does|do|was|were|is|are|has|have|had|will|would|can|could|the|a|an"
              r"|of|to|in|on|for|by|with)\b)[\w'’-]+ ){0,3}?")

_TYPE_RULES: tuple[tuple[AnswerType, re.Pattern[str]], ...] = (
    ("count", re.compile(r"\bhow many\b|\bnumber of\b|\bwhat percentage\b|\bwhat share\b")),
    ("measure", re.compile(
        r"\bhow (?:far|long|big|fast|high|heavy|large)\b"
        r"|\bwhat (?:is|was|are) (?:the )?(?:\w+ )?(?:range|distance|length|speed|altitude|"
        r"weight|size)\b")),
    ("amount", re.compile(
        r"\bhow much\b|\bwhat (?:was|is|were) the (?:\w+ )?(?:value|price|cost|worth|sum)\b"
        r"|\b(?:value|price|cost|worth)(?:ed)? of\b|\bfor how much\b|\bwhat did .* cost\b"
        r"|\bwhat (?:was|is|were) (?:the |its |their |[\w.-]+['’]s )?(?:\w+ )?"
        r"(?:revenues?|sales|profits?|turnover|earnings|net income)\b")),
    ("date", re.compile(
        r"^\s*when\b|\bwhen (?:did|was|were|is|will|had|has)\b"
        r"|\b(?:what|which) (?:year|date|month|day|weekday)\b"
        r"|\b(?:in|on) (?:which|what) (?:year|date|month|day|weekday)\b"
        r"|\bsince when\b|\bwhat time\b")),
    ("person", re.compile(
        r"^\s*(?:who|whom|whose)\b|\bwho (?:is|was|were|said|told|signed|heads?|led)\b"
        rf"|\bwhich {_MODIFIERS}(?:person|official|minister|analyst|general|ambassador|leader|"
        r"president|director|head|spokesman|diplomat|expert|people|officials)\b"
        r"|\bname of the (?:person|official|head)\b")),
    ("place", re.compile(
        r"^\s*where\b|\bwhere (?:did|was|were|is|will)\b"
        r"|\b(?:in|at) (?:which|what) (?:city|country|place|venue|exhibition|location|show)\b"
        rf"|\b(?:which|what) {_MODIFIERS}(?:city|country|place|venue|location)\b")),
)

_QUESTION_WORDS = frozenset(
    """
    what which who whom whose when where why how is are was were did do does can could will
    would should has have had in on at according tell give name list besides apart aside
    except excluding other than
    """.split()
)

_ENTITY = re.compile(
    r"\"([^\"]+)\"|“([^”]+)”"  # quoted phrases
    r"|((?:[a-z]*[A-Z][\w.'’-]*|[A-Za-z]*\d[\w-]*)(?:\s+(?:[a-z]*[A-Z][\w.'’-]*|\d[\w-]*))*)"
)
# a decade or a bare small number ("the 80s", "3rd-and-9") is context, not a name to match
_WEAK_NUMBER = re.compile(r"^(?:\d{1,3}|\d{2,4}s|\d+(?:st|nd|rd|th))$")

# Names a text may use for one another: a country, its capital, its adjective; acronyms.
_ALIAS_GROUPS: tuple[tuple[str, ...], ...] = (
    ("iran", "tehran", "iranian", "persia"),
    ("russia", "moscow", "kremlin", "russian"),
    ("u.s.", "us", "usa", "united states", "washington", "american"),
    ("israel", "israeli", "tel aviv", "jerusalem"),
    ("china", "beijing", "chinese"),
    ("ukraine", "kyiv", "kiev", "ukrainian"),
    ("un", "u.n.", "united nations", "united nation"),
    ("uk", "britain", "british", "london", "united kingdom"),
    ("uae", "united arab emirates", "emirates"),
    ("q1", "first quarter"), ("q2", "second quarter"), ("q3", "third quarter"),
    ("q4", "fourth quarter"), ("h1", "first half"), ("h2", "second half"),
    ("iraq", "baghdad", "iraqi"),
)
ALIASES: dict[str, tuple[str, ...]] = {name: group for group in _ALIAS_GROUPS for name in group}
_DEMONYM = re.compile(r"(?:ian|ean|ese|ish|an|i|n)$")
# "besides the S-300, which ...": what follows these is context, not a required entity
_EXCLUDED = re.compile(
    r"\b(?:besides|apart from|other than|except(?: for)?|excluding|aside from)\s+(?:the\s+)?"
    r"([^,?]+?)(?=\s*(?:[,?]|$|\b(?:what|which|who|whom|whose|when|where|how|why)\b))", re.I)
# words that name the kind of answer, not its content ("in which year")
_TYPE_WORDS = frozenset("""
    year date day weekday month time number person place city country
    """.split())
_AUX = frozenset("""
    did does do was were is are has have had will would can could
    """.split())


@dataclass(frozen=True)
class QuestionAnalysis:
    """``entities`` must all appear in a supporting sentence; ``terms`` are content stems."""

    text: str
    answer_type: AnswerType
    entities: tuple[str, ...]
    terms: tuple[str, ...]
    counted: str = ""  # the noun of "how many <noun>": a count must sit next to it

    def with_context(self, previous: QuestionAnalysis | None) -> QuestionAnalysis:
        """A follow-up that names nothing inherits the previous question's entities."""
        if previous is None or self.entities:
            return self
        return QuestionAnalysis(
            self.text, self.answer_type, previous.entities,
            tuple(dict.fromkeys(self.terms + tuple(content_stems(" ".join(previous.entities))))),
            self.counted,
        )


def answer_type(question: str) -> AnswerType:
    q = question.lower()
    for kind, pattern in _TYPE_RULES:
        if pattern.search(q):
            return kind
    return "other"


_IRREGULAR_PLURALS = frozenset("""
    people children men women staff personnel police cattle sheep fish deer crew teeth feet mice
    geese aircraft offspring
    """.split())


def counted_noun(question: str) -> str:
    """``units`` in "How many S-300 units were ...": the first plural-looking word of the phrase
    after "how many" (else its last word)."""
    m = re.search(r"\bhow many\s+([^?,.]+)", question, re.I)
    if not m:
        return ""
    phrase: list[str] = []
    for tok in m.group(1).split():
        if tok.lower() in _AUX or tok.lower() in STOPWORDS:
            break
        phrase.append(tok)
    plural = [t for t in phrase if (t.lower().endswith("s") or t.lower() in _IRREGULAR_PLURALS)
              and not any(c.isdigit() for c in t)]
    return (plural or phrase or [""])[0 if plural else -1].lower()


def entities(question: str) -> tuple[str, ...]:
    """Proper names, codes with digits (S-300, Tor-M1), years and quoted phrases of the
    question. A capitalised word that only opens the question ("Based on ...", "Members of
    ...") is not a name unless it looks like one inside (iPhone, IPCC)."""
    found: list[str] = []
    excluded = {w.lower() for m in _EXCLUDED.finditer(question) for w in m.group(1).split()}
    opening = re.match(r"\s*[\"“]?(\w[\w'’-]*)", question)
    first_word = opening.group(1) if opening else ""
    for m in _ENTITY.finditer(question):
        phrase = (m.group(1) or m.group(2) or m.group(3) or "").strip(" .,'’?")
        if not phrase:
            continue
        if not m.group(3):
            found.append(phrase)
            continue
        # a capitalised question word opening the sentence is not a name
        tokens = [t for t in phrase.split() if t.lower() not in _QUESTION_WORDS | STOPWORDS]
        if (tokens and m.start(3) <= question.find(first_word) and tokens[0] == first_word
                and first_word[1:].islower()):
            tokens = tokens[1:]
        # codes and numbers (S-300, 2007) stand alone; runs of capitalised words stay together
        run: list[str] = []
        for tok in [*tokens, ""]:
            tok = re.sub(r"['’]s$", "", tok).strip(" .,'’?")
            tok = re.sub(r"(?<=\d{4})s$|(?<=-\d{3})s$", "", tok)  # S-300s, 1990s
            if run and tok.isdigit() and len(tok) <= 3 and tok.lower() not in excluded:
                run.append(tok)  # a number that follows a name is part of it ("iPhone 13")
                continue
            if tok.lower() in excluded or _WEAK_NUMBER.match(tok):
                tok = ""
            if tok and not any(ch.isdigit() for ch in tok):
                run.append(tok)
                continue
            if run:
                found.append(" ".join(run))
                run = []
            if tok:
                found.append(tok)
    return tuple(dict.fromkeys(found))


_SECOND_QUESTION = re.compile(
    r"\s*(?:,\s*|;\s*|\s)and\s+(?=(?:which|who|whom|whose|what|where|when|how)\s)", re.I)


def question_parts(question: str) -> tuple[str, ...]:
    """The questions a question asks: "Which official was due in Moscow, and which minister
    came to Tehran?" is two, each a question of at least three words; "Who signed it and
    when?" is one."""
    parts = [p.strip(" ,;?") for p in _SECOND_QUESTION.split(question.strip())]
    if len(parts) < 2 or any(len(p.split()) < 3 for p in parts):
        return (question,)
    return tuple(p[0].upper() + p[1:] + "?" for p in parts)


def analyse(question: str) -> QuestionAnalysis:
    ents = entities(question)
    skip = {stem(w) for w in _QUESTION_WORDS | _TYPE_WORDS}
    terms = tuple(dict.fromkeys(t for t in content_stems(question) if t not in skip))
    return QuestionAnalysis(question.strip(), answer_type(question), ents, terms,
                            counted_noun(question))


def entity_variants(entity: str) -> tuple[str, ...]:
    low = entity.lower()
    if low in ALIASES:
        return ALIASES[low]
    root = _DEMONYM.sub("", low) if " " not in low and low.isalpha() else low
    if root != low and len(root) >= 4:
        return ALIASES.get(root, (low, root))
    return (low,)


def _norm_name(text: str) -> str:
    """U.S. = US, Tor-M1 = Tor M1: dots dropped, dashes and apostrophes as spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[-–—'’/]", " ", text.replace(".", ""))).strip()


def mentions(text_lower: str, entity: str) -> bool:
    """Whether ``text_lower`` names ``entity``. Longer names also match with a short suffix
    (Iran: Iranian, Russia: Russians); short ones and codes must match whole."""
    for variant in entity_variants(entity):
        body = r"\W+".join(re.escape(tok) for tok in variant.split())
        short = len(variant) <= 3 or any(ch.isdigit() for ch in variant)
        tail = r"(?![\w-])" if short else r"[a-z]{0,4}(?!\w)"
        if re.search(r"(?<![\w-])" + body + tail, text_lower):
            return True
    plain = _norm_name(entity.lower())
    return plain != entity.lower() and f" {plain} " in f" {_norm_name(text_lower)} "


def _near(word: str, vocabulary: set[str]) -> bool:
    """``word`` or a word one typo away from it (letters of 5 or more only): Bedigo, Bendigo."""
    if word in vocabulary:
        return True
    if len(word) < 5 or not word.isalpha():
        return False
    for other in vocabulary:
        if abs(len(other) - len(word)) > 1 or other[:1] != word[:1]:
            continue
        a, b = (word, other) if len(word) <= len(other) else (other, word)
        i = 0
        while i < len(a) and a[i] == b[i]:
            i += 1
        if a[i + (len(a) == len(b)):] == b[i + 1:]:
            return True
    return False


def _acronym_of(entity: str, text: str) -> bool:
    """UMC, EU: the initials of a run of capitalised words in ``text`` (United Methodist
    Church, European Union)."""
    if not (2 <= len(entity) <= 6 and entity.isupper() and entity.isalpha()):
        return False
    # a run stays on one line (a title above a sentence is not part of its name) and may go
    # on past the name ("... United Methodist Church Opposes"): the initials must occur in it
    runs = re.findall(r"[A-Z][a-z]+(?:[^\S\n]+(?:(?:of|and|the)[^\S\n]+)?[A-Z][a-z]+)+", text)
    skip = {"The", "A", "An"}
    return any(entity in "".join(w[0] for w in run.split() if w[0].isupper() and w not in skip)
               for run in runs)


def entity_match(text: str, entity: str) -> float:
    """How much of ``entity`` ``text`` names: 1 for the whole name (an alias, its acronym's
    expansion, or with one typo), else the share of its words found ("the 2018 final" names a
    third of "World Cup Final"); codes and numbers count whole or not at all (a year also as
    its decade: 1970 in "the 1970s")."""
    low = text.lower()
    if mentions(low, entity) or _acronym_of(entity, text):
        return 1.0
    if re.fullmatch(r"\d{4}", entity):
        return float(bool(re.search(rf"(?<![\w-]){entity}s(?!\w)", low)))
    parts = [w for w in _norm_name(entity.lower()).split() if w not in STOPWORDS]
    if any(w.isdigit() and not re.search(rf"(?<![\w.-]){w}(?![\w-])", low) for w in parts):
        return 0.0  # "iPhone 12" is no part of "iPhone 13"
    words_of_text = set(re.findall(r"[a-z]+", low))
    if len(parts) == 1:
        return float(_near(parts[0], words_of_text))
    have = set(content_stems(low))
    return sum(1 for w in parts if stem(w) in have or _near(w, words_of_text)) / len(parts)


_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_TAG = re.compile(
    r"</?(?:a|abbr|b|big|blockquote|br|code|del|div|em|font|h[1-6]|hr|i|iframe|img|input|"
    r"ins|kbd|li|mark|object|ol|p|pre|q|s|script|small|span|strike|strong|style|sub|sup|svg|"
    r"table|td|th|tr|tt|u|ul|embed|form|link|meta|video|audio|source|body|html|head)"
    r"(?:\s[^<>]*)?/?>", re.I)


def plain_question(question: str) -> str:
    """The words of a question without HTML markup pasted along with it (tags, scripts,
    styles, comments), so that ``<script>alert(1)</script> How many ...`` is read as
    ``How many ...``. Only known element names count as tags: ``a < b and c > d`` stays."""
    plain = _TAG.sub(" ", _SCRIPT.sub(" ", question))
    return " ".join(plain.split())


def tidy_question(question: str, limit: int) -> str:
    """The question with its white space tidied; empty, over-long (``limit`` characters) or
    invalid questions are refused with a message saying what to do."""
    tidy = " ".join(question.replace("\x00", " ").split())
    bad = re.search(r"[\ud800-\udfff]", tidy)
    if bad:  # a lone surrogate: JSON "\ud800", or non-UTF-8 bytes on a command line
        raise QAError(f"the question is not valid text (character {bad.start() + 1} is "
                      f"{bad.group()!a}): send it as UTF-8")
    if not tidy:
        raise QAError("the question is empty: ask something about the articles")
    if len(tidy) > limit:
        raise QAError(f"the question is {len(tidy):,} characters long; ask in at most "
                      f"{limit:,} (QA_MAX_QUESTION_CHARS)")
    return tidy
