"""Find the product a free-text chat message is about: by code, alias, or name.

Pure: plain data in, plain data out. Rules (DESIGN §5 is silent on the details):

* Text is compared folded: Unicode NFKD, combining marks dropped, casefolded
  ("Feijão" == "FEIJAO").
* An exact code or alias in the text (a whole token, or a run of up to three
  tokens) wins outright. Codes that are also everyday words ("A", "de", "o")
  count only when typed in the code's exact case, or as the whole message, and
  only if no name matches: "what about a bag of rice" is about rice, not
  product "A".
* Otherwise names are scored word by word: each significant word of a name
  (not a stop word) takes its best similarity to a word of the message: 1 for
  equal, 0.9 when the message word is a prefix of at least 4 letters, else the
  difflib ratio when it is at least 0.8 (words of 3 letters or fewer, and words
  with digits, must be equal). A product's score is the sum over its words.
* The best score wins alone when no other product comes within 0.15 of it.
  Among tied products, the only one whose whole name was typed wins ("prod a"
  picks "Prod A"), else the only one whose every significant word matched
  ("arroz" picks "Arroz" over "Arroz Integral"). Otherwise the message is
  ambiguous, listing at most 5 products, best first.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

MAX_CANDIDATES = 5
TIE_MARGIN = 0.15
FUZZY_CUTOFF = 0.8
PREFIX_SCORE = 0.9
MIN_PREFIX = 4
MIN_FUZZY = 4
MAX_CODE_WORDS = 3

# Words that say nothing about which product is meant (English and Portuguese, folded).
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "with",
        "and",
        "or",
        "is",
        "are",
        "be",
        "am",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "how",
        "much",
        "many",
        "about",
        "should",
        "could",
        "would",
        "can",
        "do",
        "does",
        "did",
        "buy",
        "buying",
        "purchase",
        "purchasing",
        "order",
        "ordering",
        "reorder",
        "stock",
        "analyse",
        "analyze",
        "analysis",
        "check",
        "need",
        "want",
        "more",
        "some",
        "any",
        "please",
        "tell",
        "show",
        "give",
        "need",
        "needs",
        "product",
        "products",
        "item",
        "items",
        "sku",
        "code",
        "there",
        "here",
        "now",
        "today",
        "tomorrow",
        "week",
        "month",
        "if",
        "whether",
        "will",
        "get",
        "have",
        "has",
        "o",
        "os",
        "as",
        "um",
        "uma",
        "uns",
        "umas",
        "de",
        "da",
        "do",
        "das",
        "dos",
        "no",
        "na",
        "nos",
        "nas",
        "em",
        "e",
        "ou",
        "que",
        "qual",
        "quais",
        "quanto",
        "quanta",
        "quantos",
        "quantas",
        "como",
        "sobre",
        "para",
        "pra",
        "por",
        "com",
        "sem",
        "se",
        "eu",
        "meu",
        "minha",
        "nos",
        "voce",
        "devo",
        "deveria",
        "posso",
        "pode",
        "comprar",
        "compra",
        "compro",
        "mais",
        "estoque",
        "analise",
        "analisar",
        "analisa",
        "produto",
        "produtos",
        "item",
        "itens",
        "codigo",
        "preciso",
        "precisa",
        "quero",
        "favor",
        "me",
        "diga",
        "mostre",
        "ver",
        "e",
        "hoje",
        "amanha",
        "semana",
        "mes",
        "ha",
        "tem",
        "ter",
        "esse",
        "essa",
        "este",
        "esta",
        "isso",
        "isto",
        "ai",
        "la",
    ]
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_EDGE_PUNCT = "\"'`.,;:!?()[]{}<>«»“”‘’"


@dataclass(frozen=True)
class Candidate:
    """A product the message may be about."""

    code: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    """The outcome: one product, several to choose from, or none."""

    kind: Literal["single", "ambiguous", "none"]
    products: list[Candidate] = field(default_factory=list)


def fold(text: str) -> str:
    """Return text without accents, casefolded (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    """Return the folded alphanumeric words of a text."""
    return _WORD.findall(fold(text))


def _raw_tokens(text: str) -> list[str]:
    """Split on white space and strip surrounding punctuation, keeping the typed case."""
    out = []
    for chunk in text.split():
        token = chunk.strip(_EDGE_PUNCT)
        if token:
            out.append(token)
    return out


def _code_keys(text: str) -> tuple[set[str], set[str], str]:
    """Return (folded token runs, raw token runs, the folded whole message) to look codes up in."""
    raw = _raw_tokens(text)
    folded_runs: set[str] = set()
    raw_runs: set[str] = set()
    for size in range(1, MAX_CODE_WORDS + 1):
        for i in range(len(raw) - size + 1):
            run = " ".join(raw[i : i + size])
            raw_runs.add(run)
            folded_runs.add(fold(run))
    for token in raw:  # "SKU-1/ABC" also offers "sku", "1", "abc"
        folded_runs.update(words(token))
    whole = fold(" ".join(raw))
    return folded_runs, raw_runs, whole


def _as_candidate(item) -> Candidate:
    """Accept a Candidate or a (code, name, aliases) tuple."""
    if isinstance(item, Candidate):
        return item
    code, name, aliases = item
    return Candidate(str(code), str(name or ""), tuple(str(a) for a in (aliases or ())))


def match_codes(text: str, candidates: Sequence[Candidate]) -> tuple[list[Candidate], list]:
    """Return (strong, weak) products whose code or an alias appears in the text."""
    folded_runs, raw_runs, whole = _code_keys(text)
    strong: list[Candidate] = []
    weak: list[Candidate] = []
    for cand in candidates:
        level = 0
        for code in (cand.code, *cand.aliases):
            key = fold(code).strip()
            if not key or key not in folded_runs:
                continue
            if key not in STOP_WORDS or key == whole:
                level = 2
                break
            if code in raw_runs:
                level = max(level, 1)
        if level == 2:
            strong.append(cand)
        elif level == 1:
            weak.append(cand)
    return strong, weak


def _similarity(word: str, query: set[str], close: dict[str, list[str]]) -> float:
    """Return how well one significant name word is matched by the message's words."""
    if word in query:
        return 1.0
    if any(ch.isdigit() for ch in word):
        return 0.0
    best = 0.0
    for q in query:
        if len(q) >= MIN_PREFIX and word.startswith(q):
            best = max(best, PREFIX_SCORE)
    if len(word) >= MIN_FUZZY:
        for q in close.get(word, ()):
            best = max(best, difflib.SequenceMatcher(None, q, word).ratio())
    return best


def _significant(ws: Iterable[str]) -> list[str]:
    """Drop stop words and one-letter words."""
    return [w for w in ws if w not in STOP_WORDS and len(w) > 1]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    """Tell whether `needle` occurs as a contiguous run of `haystack`."""
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def match_names(text: str, candidates: Sequence[Candidate]) -> list[tuple]:
    """Return (score, whole name typed, every word matched, product) for the products named."""
    typed = words(text)
    query = set(_significant(typed))
    if not query:
        return []
    name_words = {c.code: _significant(words(c.name)) for c in candidates}
    vocabulary = {w for ws in name_words.values() for w in ws}
    fuzzy_query = [q for q in query if len(q) >= MIN_FUZZY and not any(ch.isdigit() for ch in q)]
    close: dict[str, list[str]] = {}
    for q in fuzzy_query:
        for w in difflib.get_close_matches(q, vocabulary, n=50, cutoff=FUZZY_CUTOFF):
            close.setdefault(w, []).append(q)
    scored = []
    for cand in candidates:
        ws = name_words[cand.code]
        sims = [_similarity(w, query, close) for w in ws]
        if not any(sims):
            continue
        scored.append((sum(sims), _contains(typed, words(cand.name)), all(sims), cand))
    scored.sort(key=lambda s: (-s[0], not s[1], not s[2], fold(s[3].name), s[3].code))
    return scored


def find_product(text: str, candidates: Iterable) -> Match:
    """Return the product(s) a message is about."""
    cands = [_as_candidate(c) for c in candidates]
    strong, weak = match_codes(text, cands)
    if strong:
        return _decide(strong)
    scored = match_names(text, cands)
    if scored:
        best = scored[0][0]
        leaders = [s for s in scored if s[0] >= best - TIE_MARGIN]
        for flag in (1, 2):  # the whole name typed, then every significant word matched
            preferred = [s for s in leaders if s[flag]]
            if len(preferred) == 1:
                leaders = preferred
                break
        return _decide([s[3] for s in leaders])
    if weak:
        return _decide(weak)
    return Match("none", [])


def _decide(products: list[Candidate]) -> Match:
    """Return single for one distinct product, else ambiguous (at most 5)."""
    unique = list({p.code: p for p in products}.values())
    if len(unique) == 1:
        return Match("single", unique)
    return Match("ambiguous", unique[:MAX_CANDIDATES])
