"""Judges of whether cited evidence supports a claim, and the answer-level metrics built on them.

Two judges share one interface (`supports(claim, evidence) -> bool`, `claims(text)`, `name`):

* `OfflineJudge` ("offline"): sentence-level support from lexical overlap (stemmed
  content-word recall in the best evidence sentence or pair of adjacent sentences),
  WordLlama embedding similarity, and hard checks:
  - numbers: every number in the claim ("approx13%", "~30%" included; not the 2 of "2D")
    must occur in the evidence, and go with what the evidence says it measures: not with
    words the evidence ties to another number (another metric, baseline, dataset or model),
    not with the other item of a "respectively" list, not swapped with another number of the
    same sentence, not said of a previous system or baseline when the claim does not say so;
    numbers of one claim clause must be found together in one evidence sentence;
  - specific names (acronyms, CamelCase, letter-digit names such as CIFAR-10, capitalised
    names; plural or singular) must occur in the evidence;
  - wording: negations (scoped to their clause), antonyms, and against the evidence sentence
    that best matches each clause: opposites ("fewer" for "more", "same" for "different"),
    "non-"/"un-" forms, exclusive kinds ("convolutional" vs "fully-connected"), and
    comparisons ("works as well as" vs "subpar");
  - overclaims: absolute words ("all", "completely", "proves") the evidence does not use
    ("all" matches "entire(ty)"/"whole" in the best sentence), and "the first X" unless an
    evidence sentence says "first" of the same thing;
  - "Both A and B ..." citing A and B is judged against each paper on its own.
  Thresholds were calibrated on evals/judge_labels.yaml (see `CALIBRATION`), and the rules
  developed on it and on evals/judge_labels_heldout.yaml: agreement on both is optimistic.
  evals/judge_labels_test.yaml (written before these rules, plus a batch written blind later)
  was never tuned on, and must never be used to tune it.
* `LLMJudge` ("llm:<model>"): a chat model with prompts/judge_claims.md (claim
  extraction) and prompts/judge_support.md (verdicts); replies are parsed strictly.

Answer-level metrics (`judge_answer`):

* ALCE citation recall: share of claim sentences whose cited abstracts, together, support them.
* ALCE citation precision: share of citations that are not irrelevant; a citation is
  irrelevant when it alone does not support its sentence and the sentence's other
  citations still do without it. Citations of an unsupported sentence are not precise.
* RAGAS faithfulness: share of the answer's claims supported by the abstracts the answer
  cites (offline: the claim sentences, markers stripped; LLM: the extracted claims).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import InputError, ModelError

MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# the extractive engine opens each paragraph with "**Short title** (2023): "; that label is no claim
# (a title with "?" in it may be split, leaving "...end of title** (2023): " on the next sentence)
_HEADING = re.compile(r"^\s*(?:[-*]\s+)?(?:\*\*)?[^*\n]*\*\*(?:\s*\([^)]*\))?\s*:\s*")

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "may",
        "me",
        "might",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "paper",
        "papers",
        "work",
        "works",
        "study",
        "studies",
        "author",
        "authors",
        "article",
        "approach",
        "propose",
        "proposes",
        "proposed",
        "present",
        "presents",
        "introduce",
        "introduces",
        "introduced",
        "show",
        "shows",
        "shown",
        "showed",
        "report",
        "reports",
        "reported",
        "demonstrate",
        "demonstrates",
        "demonstrated",
        "find",
        "finds",
        "found",
        "use",
        "uses",
        "used",
        "using",
        "via",
        "based",
        "new",
        "novel",
        "method",
        "methods",
        "model",
        "models",
        "result",
        "results",
        "respectively",
        "e",
        "g",
        "i",
        "e",
        "et",
        "al",
        "etc",
    ]
)

# a number is not part of a name such as VGG16, CIFAR10 or CIFAR-10 (names are checked as names); "1,612" is
# 1612; "x63.6" is 63.6; the 2 of "2D" / "3D" is a dimension, not a quantity
_NUMBER_RE = r"(?<![A-Za-z\d.,])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?)(?!\d|[dD](?![A-Za-z]))"
_NUMBER = re.compile(_NUMBER_RE)
# "approx13%" (LaTeX's \approx without its backslash): the prefix is no part of a name
_APPROX_GLUED = re.compile(r"(?<![A-Za-z])(approx(?:imately)?)(?=\d)", re.I)
_WORD = re.compile(r"[A-Za-z0-9]+(?:[.'][A-Za-z0-9]+)*")
_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:[-+.][A-Za-z0-9]+)*")

NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "cannot",
        "can't",
        "don't",
        "doesn't",
        "didn't",
        "isn't",
        "aren't",
        "won't",
        "fails",
        "fail",
        "failed",
        "unable",
        "neither",
        "nor",
        "none",
    ]
)
# absolute words and strong verbs: a claim may use them only when the evidence does too
ABSOLUTES = frozenset(
    [
        "all",
        "every",
        "always",
        "never",
        "completely",
        "entirely",
        "fully",
        "totally",
        "perfectly",
        "solely",
        "guarantees",
        "guarantee",
        "guaranteed",
        "proves",
        "prove",
        "proved",
        "proven",
        "eliminates",
        "eliminate",
        "eliminated",
        "consistently",
        "universally",
    ]
)
ANTONYMS = {
    "outperform": "underperform",
    "improve": "degrade",
    "increase": "decrease",
    "faster": "slower",
    "higher": "lower",
    "better": "worse",
    "more": "less",
    "larger": "smaller",
    "succeed": "fail",
    "match": "mismatch",
    "strong": "weak",
}
ANTONYMS.update({v: k for k, v in list(ANTONYMS.items())})


@lru_cache(maxsize=1)
def _stem() -> Callable[[str], str]:
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    return stemmer.stemWord  # type: ignore[no-any-return]


def strip_markers(sentence: str) -> str:
    """The claim a sentence makes: citation markers and the "**Title** (year):" label removed."""
    return _HEADING.sub("", MARKER.sub("", sentence)).strip()


def cited_numbers(sentence: str) -> list[int]:
    return [int(n) for m in MARKER.finditer(sentence) for n in re.split(r"\s*[,;]\s*", m.group(1))]


def numbers(text: str) -> set[str]:
    """The numbers in a text, normalised ("1,612" -> "1612", "12X" -> "12", "x63.6" -> "63.6")."""
    return {m.group(1).replace(",", "") for m in _NUMBER.finditer(_number_text(text))}


def _number_text(text: str) -> str:
    """Text with the prefixes glued to numbers ("x63.6", "approx13%") set apart from them."""
    text = _APPROX_GLUED.sub(r"\1 ", text)
    return re.sub(r"(?<![A-Za-z])[xX](?=\d)", " ", text)


@lru_cache(maxsize=16384)
def content_stems(text: str) -> frozenset[str]:
    stem = _stem()
    return frozenset(
        stem(w)
        for w in (t.lower() for t in _WORD.findall(text))
        if w not in STOPWORDS and not w.replace(".", "").isdigit() and len(w) > 1
    )


def _lower_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def specific_names(claim: str) -> list[str]:
    """Names a claim relies on: acronyms, CamelCase, letter-digit mixes and capitalised words after the first."""
    names = []
    for i, m in enumerate(_TOKEN.finditer(claim)):
        token = m.group(0).rstrip(".")
        parts = [p for p in re.split(r"[-+]", token) if p]
        if len(parts) > 1 and any(p[:1].isdigit() for p in parts[1:]):
            names.append(token)  # "CIFAR-10", "GPT-4", "ImageNet-1K": the number is part of the name
            continue
        for part in parts or [token]:
            upper_inside = any(c.isupper() for c in part[1:])
            mixed = any(c.isdigit() for c in part) and any(c.isalpha() for c in part)
            capitalised = i > 0 and part[:1].isupper() and part[1:].islower() and len(part) > 2
            if (upper_inside or mixed or capitalised) and not part[:1].isdigit():
                names.append(part)
    return list(dict.fromkeys(names))


_NEG_SCOPE = 3  # a negation governs the next few words ("cannot fully match", "does not occur")
# ... within its clause: "needs no segmentation, handles any length" negates no "handles"
_SCOPE_ENDS = frozenset(["and", "or", "but", "while", "whereas", "yet", "which", "that", "so"])


def _scoped(text: str) -> list[tuple[str, bool]]:
    """(stem, negated) for each content word: negated when a negation cue precedes it closely."""
    stem = _stem()
    out: list[tuple[str, bool]] = []
    since_negation = _NEG_SCOPE + 1
    for raw in re.findall(r"[A-Za-z0-9']+|[,;:()]|\.(?!\d)", text.lower()):
        if raw in _SCOPE_ENDS or not raw[0].isalnum():
            since_negation = _NEG_SCOPE + 1
            continue
        if raw in NEGATIONS or raw.endswith("n't"):
            since_negation = 0
            continue
        since_negation += 1
        if raw not in STOPWORDS and raw not in ("be", "to") and not raw.isdigit():
            out.append((stem(raw), since_negation <= _NEG_SCOPE))
    return out


def negated_terms(text: str) -> set[str]:
    return {w for w, negated in _scoped(text) if negated}


def affirmed_terms(text: str) -> set[str]:
    return {w for w, negated in _scoped(text) if not negated}


def mentions(text_lower: str, name: str) -> bool:
    """Whether a text names `name` (also as plural or singular: "Transformer" / "Transformers"; and with or
    without the hyphen before a number: "CIFAR-10" / "CIFAR10")."""
    low = name.lower()
    stem = low[:-1] if low.endswith("s") and len(low) > 3 else low
    pattern = re.sub(r"\\-(?=\d)", "[- ]?", re.escape(stem))
    return re.search(rf"(?<![a-z0-9]){pattern}(?:e?s)?(?![a-z0-9])", text_lower) is not None


@lru_cache(maxsize=4096)
def evidence_sentences(text: str) -> tuple[str, ...]:
    """An abstract's sentences (title first when the evidence starts with one line of title)."""
    from .chunking import sentence_spans

    head, sep, body = text.partition("\n")
    parts = [head] if sep and body.strip() else []
    body = body if parts else text
    parts += [body[s:e] for s, e in sentence_spans(body)] if body.strip() else []
    return tuple(p.strip() for p in parts if p.strip())


def windows(text: str) -> list[str]:
    """Every sentence of the evidence and every pair of adjacent sentences."""
    sents = evidence_sentences(text)
    return list(sents) + [f"{a} {b}" for a, b in zip(sents, sents[1:], strict=False)]


# ---- numbers and what they measure ---------------------------------------------------------------
# A claim may quote a number the abstract gives for something else: another metric, baseline, dataset or
# model ("44% annotation cost and 26% time" -> "44% less time"), or the other item of a "respectively"
# list. Each number is tied to the content words next to it (up to _WINDOW on each side, within its
# clause); a claim's number must not come with words the abstract ties to a different number.


@dataclass(frozen=True)
class _Tok:
    kind: str  # "num" (text normalised: "1612"), "word" (as written) or "brk" (punctuation, clause word)
    text: str


_SCAN = re.compile(
    rf"(?P<num>{_NUMBER_RE})|(?P<word>[A-Za-z][A-Za-z0-9']*(?:[-+.][A-Za-z0-9]+)*)"
    r"|(?P<brk>[,;:()\[\]]|[.!?](?!\d))"
)
_CLAUSE_WORDS = frozenset(["while", "whereas", "but", "yet", "although", "though", "however", "respectively"])
# what may stand between the numbers of one list or range: "10.33 times and 2.72 times", "0.27% and more than 1%"
_JOINERS = frozenset(
    [
        "and",
        "or",
        "to",
        "from",
        "between",
        "more",
        "less",
        "than",
        "over",
        "under",
        "up",
        "about",
        "approx",
        "approximately",
        "around",
        "roughly",
        "nearly",
        "almost",
        "times",
        "fold",
        "percent",
    ]
)
_LIST_JOINERS = frozenset(["and", "or", ","])
# words next to a number that do not say what it measures
_NUMBER_FILLER = (
    STOPWORDS
    | _JOINERS
    | frozenset(
        [
            "percentage",
            "points",
            "point",
            "least",
            "average",
            "achieve",
            "achieves",
            "achieved",
            "achieving",
            "reach",
            "reaches",
            "reached",
            "obtain",
            "obtains",
            "yield",
            "yields",
            "gives",
        ]
    )
)
_WINDOW = 4


@lru_cache(maxsize=16384)
def _scan(text: str) -> tuple[_Tok, ...]:
    out = []
    for m in _SCAN.finditer(_number_text(text)):
        if m.group("num"):
            out.append(_Tok("num", m.group("num").replace(",", "")))
        elif m.group("word"):
            word = m.group("word")
            out.append(_Tok("brk" if word.lower() in _CLAUSE_WORDS else "word", word))
        else:
            out.append(_Tok("brk", m.group("brk")))
    return tuple(out)


def _term(word: str) -> str:
    stem = _stem()
    return "-".join(stem(p) for p in word.lower().split("-"))


def _parts(word: str) -> list[str]:
    """The words of a hyphenated compound that say something ("state-of-the-art" -> state, art)."""
    return [p for p in word.split("-") if len(p) > 1 and p.lower() not in _NUMBER_FILLER] or [word]


def _is_content(tok: _Tok) -> bool:
    low = tok.text.lower()
    return tok.kind == "word" and len(low) > 1 and low not in _NUMBER_FILLER


def _specific(word: str) -> bool:
    """A name-like word: an acronym, CamelCase or a letter-digit mix ("RGB", "MoonViT", "ogbn-papers100M")."""
    return any(c.isupper() for c in word[1:]) or any(c.isdigit() for c in word)


@dataclass
class _Group:
    """Adjacent numbers of one list or range, with the content words on each side."""

    values: list[list[str]]  # the list's items; a range ("10.5-35.5", "from 1 to 5") is one item
    start: int
    end: int
    # content words before and after it within its clause (compounds split into their words)
    left: list[str] = field(default_factory=list)
    right: list[str] = field(default_factory=list)

    @property
    def context(self) -> list[str]:
        return self.left + self.right

    @property
    def numbers(self) -> set[str]:
        return {n for v in self.values for n in v}


def _side(toks: tuple[_Tok, ...], i: int, step: int) -> list[list[str]]:
    """The content words next to a number on one side, nearest first, each split into its parts; the parts
    of a name-like word keep its case, and so are found name-like by `_specific`."""
    words: list[list[str]] = []
    while (
        0 <= i < len(toks)
        and len(words) < _WINDOW
        and toks[i].kind == "word"
        and toks[i].text.lower() not in ("and", "or")
    ):
        if _is_content(toks[i]):
            parts = _parts(toks[i].text)
            # "on ogbn-products": a compound after "on" names a dataset or setting
            if len(parts) > 1 and i > 0 and toks[i - 1].text.lower() == "on":
                parts = [p.upper() for p in parts]
            words.append(parts)
        i += step
    return words


def _joins(tok: _Tok) -> bool:
    if tok.kind == "brk":
        return tok.text == ","
    low = tok.text.lower()
    return tok.kind == "word" and (low in _JOINERS or len(low) == 1)


@lru_cache(maxsize=16384)
def _groups(text: str) -> tuple[_Group, ...]:
    toks = _scan(text)
    out: list[_Group] = []
    i = 0
    while i < len(toks):
        if toks[i].kind != "num":
            i += 1
            continue
        group = _Group([[toks[i].text]], i, i)
        gaps: list[tuple[int, set[str]]] = []  # (index of the next number, the joining words)
        while True:
            k, joined = group.end + 1, set()
            while k < len(toks) and k - group.end <= 5 and _joins(toks[k]):
                joined.add(toks[k].text.lower())
                k += 1
            if k < len(toks) and k - group.end <= 5 and toks[k].kind == "num":
                gaps.append((k, joined))
                group.end = k
            else:
                break
        # "3.65, 0.09 percent better": a comma joins a list only when an "and" / "or" ends it
        for n, (k, joined) in enumerate(gaps):
            if joined & {"and", "or"}:
                group.values.append([toks[k].text])
            elif "," in joined and not any(j & {"and", "or"} for _, j in gaps[n + 1 :]):
                group.end = gaps[n - 1][0] if n else group.start
                break
            else:
                group.values[-1].append(toks[k].text)
        group.left = [p for w in _side(toks, group.start - 1, -1) for p in w]
        group.right = [p for w in _side(toks, group.end + 1, 1) for p in w]
        out.append(group)
        i = group.end + 1
    return tuple(out)


_ITEM_STOP = frozenset(
    [
        "of",
        "in",
        "on",
        "for",
        "by",
        "with",
        "to",
        "from",
        "at",
        "over",
        "than",
        "compared",
        "versus",
        "vs",
        "via",
        "into",
        "under",
        "between",
        "among",
        "across",
        "both",
        "either",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "that",
        "which",
    ]
)
_DETERMINERS = frozenset(["the", "a", "an", "their", "its", "our", "his", "her"])


def _item(toks: tuple[_Tok, ...], i: int, step: int) -> tuple[list[str], int]:
    """The words of one coordinated item next to an "and" (up to 4 words; stops at prepositions)."""
    words: list[str] = []
    while 0 <= i < len(toks) and toks[i].kind == "word" and len(words) < 4:
        low = toks[i].text.lower()
        if low in _ITEM_STOP:
            break
        if low in _DETERMINERS:
            if step < 0 or words:
                break
        else:
            words.append(toks[i].text)
        i += step
    return (words[::-1] if step < 0 else words), i


@lru_cache(maxsize=4096)
def _respectively(text: str) -> tuple[dict[str, int], tuple[frozenset[str], ...]]:
    """For a sentence with "respectively": the item of the coordination each listed number goes with."""
    toks = _scan(text)
    at = [i for i, t in enumerate(toks) if t.text.lower() == "respectively"]
    lists = [g for g in _groups(text) if len(g.values) >= 2]
    if not at or not lists:
        return {}, ()
    in_lists = {i for g in lists for i in range(g.start, g.end + 1)}
    best: tuple[int, list[list[str]]] | None = None
    for j, tok in enumerate(toks):
        if tok.kind != "word" or tok.text.lower() not in ("and", "or") or j in in_lists:
            continue
        right, _ = _item(toks, j + 1, 1)
        items, k = [right], j - 1
        while True:
            left, k = _item(toks, k, -1)
            if not left:
                break
            items.insert(0, left)
            if k >= 0 and toks[k].text == ",":
                k -= 1
                continue
            break
        if len(items) >= 2 and all(items) and any(len(g.values) == len(items) for g in lists):
            distance = min(abs(a - j) for a in at)
            if best is None or distance < best[0]:
                best = (distance, items)
    if best is None:
        return {}, ()
    items = best[1]
    mapping = {n: i for g in lists if len(g.values) == len(items) for i, v in enumerate(g.values) for n in v}
    return mapping, tuple(frozenset(_term(w) for w in item if len(w) > 1) for item in items)


_PREVIOUS = frozenset(
    ["previous", "prior", "existing", "earlier", "conventional", "traditional", "baseline", "baselines"]
)
_COMPARED = frozenset(
    [
        "over",
        "than",
        "to",
        "against",
        "versus",
        "vs",
        "compared",
        "with",
        "from",
        "relative",
        "on",
        "upon",
        "beyond",
        "outperform",
        "outperforms",
        "outperforming",
        "outperformed",
        "surpass",
        "surpasses",
        "surpassing",
        "beat",
        "beats",
        "beating",
        "exceeds",
        "exceeding",
        "improve",
        "improves",
        "improved",
        "improving",
        "like",
        "unlike",
    ]
)


def _other_system(toks: tuple[_Tok, ...], group: _Group) -> bool:
    """The number is said of a previous system or a baseline ("Previous NVC ... supports about 3.8 dB"),
    not compared with one ("better than the previous ...")."""
    i = group.start - 1
    while i >= 0 and toks[i].kind == "word" and group.start - i <= 8:
        if toks[i].text.lower() in _PREVIOUS:
            before = [t.text.lower() for t in toks[max(0, i - 3) : i] if t.kind == "word"]
            return not (set(before) & _COMPARED)
        i -= 1
    return False


def _clause_numbers(text: str) -> list[set[str]]:
    """The numbers of each clause of a claim (clauses end at punctuation, "and" outside a list of numbers,
    and while/whereas/but)."""
    toks = _scan(text)
    in_lists = {i for g in _groups(text) for i in range(g.start, g.end + 1)}
    out: list[set[str]] = [set()]
    for i, tok in enumerate(toks):
        if tok.kind == "brk" or (tok.text.lower() == "and" and i not in in_lists):
            out.append(set())
        elif tok.kind == "num":
            out[-1].add(tok.text)
    return [c for c in out if c]


def _overlap(a: _Group, b: _Group) -> int:
    return len({_term(w) for w in a.left} & {_term(w) for w in b.left}) + len(
        {_term(w) for w in a.right} & {_term(w) for w in b.right}
    )


def swapped_numbers(claim: str, groups: list[tuple[str, _Group]]) -> set[str]:
    """Two numbers of one evidence sentence that the claim gives each other's words ("24 layers beat 12")."""
    claim_groups = [g for g in _groups(claim) if len(g.numbers) == 1]
    bad: set[str] = set()
    for i, ca in enumerate(claim_groups):
        for cb in claim_groups[i + 1 :]:
            if ca.numbers == cb.numbers:
                continue
            for s, ea in groups:
                if ea.numbers != ca.numbers:
                    continue
                for t, eb in groups:
                    if (
                        t == s
                        and eb.numbers == cb.numbers
                        and _overlap(ca, eb) > _overlap(ca, ea)
                        and _overlap(cb, ea) > _overlap(cb, eb)
                    ):
                        bad |= ca.numbers | cb.numbers
    return bad


def misattributed_numbers(claim: str, evidence: list[str]) -> list[str]:
    """Numbers of the claim that the evidence gives, but for something else than the claim says."""
    sentences = [s for e in evidence for s in evidence_sentences(e)]
    groups = [(s, g) for s in sentences for g in _groups(s)]
    found = {n for _, g in groups for n in g.numbers}
    claim_lower = {_term(t.text) for t in _scan(claim) if t.kind == "word"}
    claim_previous = bool(_lower_words(claim) & _PREVIOUS)
    bad: set[str] = set()
    for cg in _groups(claim):
        terms = {_term(w): w for w in cg.context}
        for n in cg.numbers & found:
            own = [(s, g) for s, g in groups if n in g.numbers]
            own_sentences = {s for s, _ in own}
            own_terms = {_term(w) for _, g in own for w in g.context}
            others = [(s, g) for s, g in groups if n not in g.numbers]
            other_terms = {_term(w) for _, g in others for w in g.context}
            near_terms = {_term(w) for s, g in others if s in own_sentences for w in g.context}
            bound = [t for t in terms if t in own_terms]
            conflict = [t for t in terms if t not in own_terms and t in other_terms]
            # a name the same sentence gives to another number, or more words of another number than of this one
            if any(_specific(terms[t]) and t in near_terms for t in conflict) or (
                len(conflict) >= 2 and len(conflict) > len(bound)
            ):
                bad.add(n)
            # said of a previous system or a baseline wherever the evidence gives it
            if not claim_previous and all(_other_system(_scan(s), g) for s, g in own):
                bad.add(n)
            # the other item of a "respectively" list
            for s, _ in own:
                mapping, items = _respectively(s)
                if n in mapping and len(items) > 1:
                    mine = items[mapping[n]]
                    distinct = [it - frozenset().union(*(o for o in items if o is not it)) for it in items]
                    named = [bool(d) and len(d & claim_lower) * 2 >= len(d) for d in distinct]
                    if not named[mapping[n]] and any(named) and not (mine & claim_lower):
                        bad.add(n)
    bad |= swapped_numbers(claim, groups)
    # numbers the claim states together must be found together in one sentence
    sentence_numbers = [numbers(s) for s in sentences]
    for clause in _clause_numbers(claim):
        together = clause & found
        if len(together) > 1 and not any(together <= ns for ns in sentence_numbers):
            bad |= together
    return sorted(bad)


# ---- wording the best-matching evidence sentence contradicts ---------------------------------------

# opposites checked against the evidence sentence that best matches each clause of the claim
OPPOSITES: dict[str, frozenset[str]] = {}
for _a, _b in [
    ("outperform", "underperform"),
    ("improve", "degrade"),
    ("increase", "decrease"),
    ("faster", "slower"),
    ("higher", "lower"),
    ("high", "low"),
    ("better", "worse"),
    ("more", "less"),
    ("more", "fewer"),
    ("larger", "smaller"),
    ("large", "small"),
    ("succeed", "fail"),
    ("strong", "weak"),
    ("stronger", "weaker"),
    ("same", "different"),
    ("positive", "negative"),
    ("positively", "negatively"),
    ("easier", "harder"),
    ("longer", "shorter"),
    ("deeper", "shallower"),
    ("superior", "inferior"),
]:
    OPPOSITES[_a] = OPPOSITES.get(_a, frozenset()) | {_b}
    OPPOSITES[_b] = OPPOSITES.get(_b, frozenset()) | {_a}

# how a claim compares two things; a claim of one kind is contradicted by evidence of another
_COMPARISONS = {
    "better": re.compile(r"\b(?:better|outperform\w*|superior|surpass\w*|beats?|beating|exceed(?:s|ing)?)\b"),
    "equal": re.compile(
        r"\b(?:on par|comparabl[ey]|(?:works?|performs?|does|did|worked|performed) as well as|"
        r"as good as|competitive(?:ly)?|similar(?:ly)?|match(?:es|ing)?)\b"
    ),
    "worse": re.compile(r"\b(?:subpar|worse|inferior|underperform\w*|lags?|lagging|falls? short)\b"),
}
# kinds that exclude each other: a claim of one kind is contradicted by a best sentence of another
_EXCLUSIVE = [
    tuple((k.replace("[- ]", "-").replace("?", ""), re.compile(rf"(?<![a-z-]){k}\b")) for k in kinds)
    for kinds in [
        ("convolutional", "recurrent", "fully[- ]connected", "feed[- ]?forward"),
        ("encoder[- ]only", "decoder[- ]only", "encoder[- ]decoder"),
        ("lossy", "lossless"),
        ("white[- ]box", "black[- ]box"),
        ("dense", "sparse"),
        ("discrete", "continuous"),
        ("static", "dynamic"),
        ("online", "offline"),
        ("synchronous", "asynchronous"),
        ("supervised", "unsupervised", "self[- ]supervised", "semi[- ]supervised"),
    ]
]
_CONTRADICTS = {"better": {"equal", "worse"}, "equal": {"worse"}, "worse": {"better", "equal"}}
_CLAUSE_SPLIT = re.compile(r"[;:]|,\s+|\s+(?:and|while|whereas|but|yet)\s+", re.I)
# "the first X to ...", "is the first": claims of priority need the evidence to say the same of the same thing
_FIRST_CLAIM = re.compile(
    r"(?:\b(?:is|are|was|were|as|be|being|been|becomes?)\s+(?:the\s+)?(?:very\s+)?|,\s*the\s+)"
    r"first\b|\bfirst\s+to\b",
    re.I,
)
_UNIVERSAL = frozenset(["all", "every", "entire", "entirety", "whole"])


def claim_clauses(claim: str) -> list[str]:
    """A claim's clauses (split at ; : , and while whereas but yet); fragments of under 3 content words join
    the one before ("FLOPs and parameters" stays one)."""
    out: list[str] = []
    for part in _CLAUSE_SPLIT.split(claim):
        if out and len(content_stems(part)) < 3:
            out[-1] = f"{out[-1]} {part}"
        elif part.strip():
            out.append(part)
    if len(out) > 1 and len(content_stems(out[0])) < 3:
        out[1] = f"{out[0]} {out[1]}"
        out = out[1:]
    return out


def best_sentence(clause: str, sentences: list[str]) -> str:
    """The evidence sentence sharing the largest share of the clause's content words."""
    stems = content_stems(clause)
    if not sentences or not stems:
        return ""
    return max(sentences, key=lambda s: len(stems & content_stems(s)))


def _ordered_stems(text: str) -> list[str]:
    stem = _stem()
    words = (w.lower() for w in _WORD.findall(text))
    return list(
        dict.fromkeys(stem(w) for w in words if w not in STOPWORDS and not w[:1].isdigit() and len(w) > 1)
    )


@lru_cache(maxsize=8192)
def _prefixed_forms(text_lower: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The words of a text as they stand, the X of its "non-X"/"nonX", and the X of its "unX"."""
    bare, non, un = set(), set(), set()
    for m in re.finditer(r"(?<![a-z-])(non-?|un)?([a-z]+)", text_lower):
        if m.group(1) is None:
            bare.add(m.group(2))
        elif m.group(1).startswith("non"):
            non.add(m.group(2))
        else:
            un.add(m.group(2))
            bare.add(m.group(0))  # "under", "unified": words of their own as well
    return frozenset(bare), frozenset(non), frozenset(un)


def _has_negation(text: str) -> bool:
    return any(w in NEGATIONS or w.endswith("n't") for w in _lower_words(text))


def contradicted_words(claim: str, evidence: list[str]) -> list[str]:
    """Words of the claim whose opposite the best-matching evidence sentence uses instead ("fewer" for "more",
    "non-simulated" for "simulated", "subpar" for "works as well as")."""
    sentences = [s for e in evidence for s in evidence_sentences(e)]
    stem = _stem()
    out: list[str] = []
    for clause in claim_clauses(claim):
        best = best_sentence(clause, sentences)
        if not best:
            continue
        clause_lower, best_lower = clause.lower(), best.lower()
        best_stems = {stem(w) for w in re.findall(r"[a-z]+", best_lower)}
        negated = negated_terms(clause)
        for w in re.findall(r"[a-z]+", clause_lower):
            sw = stem(w)
            if sw in negated or sw in best_stems:
                continue
            if any(stem(o) in best_stems for o in OPPOSITES.get(w, ())):
                out.append(w)
        # "simulated" against "non-simulated" or "labeled" against "unlabeled"; "non-linear" against "linear"
        best_bare, best_non, best_un = _prefixed_forms(best_lower)
        claim_bare, claim_non, _ = _prefixed_forms(clause_lower)
        out += [w for w in claim_bare if len(w) > 3 and w in best_non | best_un and w not in best_bare]
        out += [f"non-{w}" for w in claim_non if w in best_bare and w not in best_non]
        for kinds in _EXCLUSIVE:
            said_kinds = {k for k, rx in kinds if rx.search(clause_lower)}
            best_kinds = {k for k, rx in kinds if rx.search(best_lower)}
            if said_kinds and best_kinds and not said_kinds & best_kinds:
                out.extend(sorted(said_kinds))
        if not (_has_negation(clause) or _has_negation(best)):
            said = {k for k, rx in _COMPARISONS.items() if rx.search(clause_lower)}
            found = {k for k, rx in _COMPARISONS.items() if rx.search(best_lower)}
            if said and found and not said & found and any(found & _CONTRADICTS[k] for k in said):
                out.append("/".join(sorted(said)))
    return sorted(set(out))


_DISTRIBUTIVE = re.compile(
    r"^\W*(?:both|each of|all (?:three|four|five))\b|\b(?:both|each|each of the|all (?:three|four|five)) "
    r"(?:papers?|stud(?:y|ies)|works?|methods?|approach(?:es)?|models?|systems?)\b",
    re.I,
)


def is_distributive(claim: str) -> bool:
    """ "Both A and B report X", "each of the papers ...": a claim about every cited paper, not about them together."""
    return _DISTRIBUTIVE.search(claim) is not None


def universal_in_best_sentence(claim: str, evidence: list[str]) -> bool:
    """ "all of the neurons" is what "the entirety of the neurons" says: every clause with "all" or "every"
    has its best-matching evidence sentence say "all", "every", "entire(ty)" or "whole"."""
    sentences = [s for e in evidence for s in evidence_sentences(e)]
    clauses = [c for c in claim_clauses(claim) if _lower_words(c) & {"all", "every"}]
    return bool(clauses) and all(_lower_words(best_sentence(c, sentences)) & _UNIVERSAL for c in clauses)


def distributive_subject(claim: str) -> str:
    """The words that name the papers in "Both A and B report ...": up to the first name after "and" (or
    the four words after it)."""
    m = re.search(r"\b(?:both|each of|all (?:three|four|five))\b", claim, re.I)
    if not m:
        return ""
    rest = claim[m.start() :]
    k = re.search(r"\s(?:and|or)\s", rest)
    if not k:
        return ""
    after = rest[k.end() :].split()
    take = next((i + 1 for i, w in enumerate(after[:4]) if specific_names(f"x {w}")), min(4, len(after)))
    return rest[: k.end()] + " ".join(after[:take])


def unsupported_priority(claim: str, evidence: list[str]) -> bool:
    """A "first" claim that no evidence sentence makes of the same thing."""
    m = _FIRST_CLAIM.search(claim)
    if not m:
        return False
    scope = _ordered_stems(" ".join(claim[m.end() :].split()[:6]))[:4]
    for e in evidence:
        for s in evidence_sentences(e):
            for f in re.finditer(r"\bfirst\b", s, re.I):
                after = content_stems(" ".join(s[f.end() :].split()[:10]))
                if len(set(scope) & after) * 2 >= len(scope):
                    return False
    return True


class Judge(Protocol):
    name: str

    def supports(self, claim: str, evidence: list[str]) -> bool: ...

    def claims(self, answer: str) -> list[str]: ...


def sentence_claims(answer: str) -> list[str]:
    """The claim sentences of an answer, markers stripped (offline faithfulness uses these)."""
    from .answer import split_sentences

    return [c for s in split_sentences(answer) if is_claim(c := strip_markers(s))]


# lines that make no claim about a paper: headings, and a topic summary's "Found 7 papers on X."
_META = re.compile(r"^\s*(?:#|Found \d+ papers?\b|No papers in the collection\b)")


def is_claim(sentence: str) -> bool:
    from .answer import is_abstention

    if _META.match(sentence):
        return False
    s = strip_markers(sentence).strip(" *#-:")
    return len(s.split()) >= 4 and not s.endswith("?") and not is_abstention(s)


# ---- the offline judge -----------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Thresholds of the offline judge, fitted on evals/judge_labels.yaml (52 hand labels); the checks were
    developed on it and evals/judge_labels_heldout.yaml (76), never on evals/judge_labels_test.yaml (142)."""

    # accuracy is flat (51/52) for min_lexical 0.4-0.55 and min_combined 0.45-0.55: the middle is taken
    min_lexical: float = 0.45  # stemmed content-word recall in the best window, at least
    min_combined: float = 0.5  # 0.5 * lexical + 0.5 * embedding cosine, at least
    check_names: bool = True
    check_negation: bool = True
    check_absolutes: bool = True
    check_number_context: bool = True  # each number must go with the same words as in the evidence
    distributive: bool = True  # "Both A and B ..." citing A and B: each paper on its own must support it


CALIBRATION = Calibration()


@dataclass
class Features:
    lexical: float
    embedding: float
    missing_numbers: list[str]
    missing_names: list[str]
    negation_mismatch: bool
    antonyms: list[str]
    absolutes: list[str]
    best_window: str
    misattributed_numbers: list[str] = field(default_factory=list)

    @property
    def combined(self) -> float:
        return 0.5 * self.lexical + 0.5 * self.embedding

    def to_json(self) -> dict[str, Any]:
        return {
            "lexical": round(self.lexical, 3),
            "embedding": round(self.embedding, 3),
            "missing_numbers": self.missing_numbers,
            "missing_names": self.missing_names,
            "negation_mismatch": self.negation_mismatch,
            "antonyms": self.antonyms,
            "absolutes": self.absolutes,
            "misattributed_numbers": self.misattributed_numbers,
        }


class OfflineJudge:
    """Support from lexical and embedding overlap plus exact numbers, names, negation and absolutes."""

    name = "offline"

    def __init__(self, embedder: Any = None, calibration: Calibration = CALIBRATION):
        self._embedder = embedder
        self.calibration = calibration
        self._vectors: dict[str, np.ndarray] = {}

    @classmethod
    def from_index(cls, index: Any) -> OfflineJudge:
        """Use the index's embedder when it is WordLlama (the thresholds were calibrated with it)."""
        embedder = None
        try:
            candidate = index.embedder()
            if str(getattr(candidate, "name", "")).startswith("wordllama"):
                embedder = candidate
        except Exception:  # noqa: BLE001 - fall back to loading WordLlama directly
            embedder = None
        return cls(embedder)

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from .embedders import WordLlamaEmbedder

            self._embedder = WordLlamaEmbedder()
        return self._embedder

    def _embed(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if todo:
            for t, v in zip(todo, self.embedder.embed(todo), strict=True):
                self._vectors[t] = np.asarray(v, dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)

    def claims(self, answer: str) -> list[str]:
        return sentence_claims(answer)

    def features(
        self, claim: str, evidence: list[str], others: list[str] | None = None, subject: str = ""
    ) -> Features:
        """The judge's evidence about a claim. For a "Both A and B ..." sentence judged against one of the
        papers it cites: `others` are the other papers and `subject` the words naming them all ("Both A and
        B"); names there that another paper gives, and its words this paper lacks, are not asked of it."""
        claim = strip_markers(claim)
        joint = "\n".join(evidence)
        joint_lower = joint.lower()
        cands: list[str] = [w for e in evidence for w in windows(e)]
        stems = content_stems(claim)
        if subject:
            stems = stems - (content_stems(subject) - content_stems(joint)) or stems
        others_lower = [o.lower() for o in others or []]
        subject_names = set(specific_names(subject)) if subject else set()
        lex = [len(stems & content_stems(w)) / len(stems) if stems else 1.0 for w in cands]
        # several cited papers may support a sentence together: also try their best windows joined
        if len(evidence) > 1 and cands:
            best_each = []
            for e in evidence:
                ws = windows(e)
                if ws:
                    best_each.append(max(ws, key=lambda w: len(stems & content_stems(w))))
            cands.append(" ".join(best_each))
            lex.append(len(stems & content_stems(cands[-1])) / len(stems) if stems else 1.0)
        if not cands:
            return Features(0.0, 0.0, sorted(numbers(claim)), specific_names(claim), False, [], [], "")
        vecs = self._embed([claim, *cands])
        sims = vecs[1:] @ vecs[0]
        scores = [0.5 * lx + 0.5 * float(s) for lx, s in zip(lex, sims, strict=True)]
        best = int(np.argmax(scores))
        window = cands[best]
        window_words = _lower_words(window)
        claim_words = _lower_words(claim)
        evidence_numbers = numbers(joint)
        missing_numbers = sorted(n for n in numbers(claim) if n not in evidence_numbers)
        missing_names = [
            n
            for n in specific_names(claim)
            if not mentions(joint_lower, n)
            and not (n in subject_names and any(mentions(o, n) for o in others_lower))
        ]
        # a negated claim needs a negation in its evidence, and must not deny what the evidence affirms
        negation_mismatch = bool(claim_words & NEGATIONS) and (
            not (window_words & NEGATIONS)
            or bool((negated_terms(claim) - negated_terms(window)) & affirmed_terms(window))
        )
        stem = _stem()
        evidence_stems = {stem(w) for w in _lower_words(joint)}
        claim_stems = {stem(w) for w in claim_words}
        antonyms = sorted(
            w
            for w in claim_stems
            if w in ANTONYMS and stem(ANTONYMS[w]) in evidence_stems and w not in evidence_stems
        )
        antonyms = sorted(set(antonyms) | set(contradicted_words(claim, evidence)))
        evidence_words = _lower_words(joint)
        absolutes = sorted(
            w
            for w in claim_words & ABSOLUTES
            if w not in evidence_words
            and not (w in ("all", "every") and universal_in_best_sentence(claim, evidence))
        )
        if unsupported_priority(claim, evidence):
            absolutes.append("first")
        return Features(
            lex[best],
            float(sims[best]),
            missing_numbers,
            missing_names,
            negation_mismatch,
            antonyms,
            absolutes,
            window,
            misattributed_numbers(claim, evidence),
        )

    def verdict(self, f: Features) -> bool:
        c = self.calibration
        if f.missing_numbers or (c.check_number_context and f.misattributed_numbers):
            return False
        if c.check_names and f.missing_names:
            return False
        if c.check_negation and (f.negation_mismatch or f.antonyms):
            return False
        if c.check_absolutes and f.absolutes:
            return False
        return f.lexical >= c.min_lexical and f.combined >= c.min_combined

    def supports(self, claim: str, evidence: list[str]) -> bool:
        if not evidence or not strip_markers(claim):
            return False
        if self.calibration.distributive and len(evidence) > 1 and is_distributive(strip_markers(claim)):
            subject = distributive_subject(strip_markers(claim))
            return all(
                self.verdict(self.features(claim, [e], evidence[:i] + evidence[i + 1 :], subject))
                for i, e in enumerate(evidence)
            )
        return self.verdict(self.features(claim, evidence))


# ---- the LLM judge ---------------------------------------------------------------------------


def parse_json_reply(text: str, key: str, kind: type, model: str) -> Any:
    """Strict parsing: a JSON object (optionally inside one ``` fence) holding `key` of type `kind`."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.S)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except ValueError:
        raise ModelError(
            f"judge {model} did not reply with JSON: {text[:120]!r}",
            "the judge prompt asks for a JSON object; try another --judge model",
        ) from None
    if not isinstance(data, dict) or key not in data:
        raise ModelError(f"judge {model} replied without the {key!r} key: {text[:120]!r}")
    value = data[key]
    if kind is list and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ModelError(f"judge {model}: {key!r} must be a list of strings, got {value!r:.80}")
    if kind is bool and not isinstance(value, bool):
        raise ModelError(f"judge {model}: {key!r} must be true or false, got {value!r:.80}")
    return value


class LLMJudge:
    """A chat model judging support (prompts/judge_support.md) and extracting claims (judge_claims.md)."""

    def __init__(self, model: Any):
        self.model = model
        self.name = f"llm:{model.name}"
        self.calls = 0
        self._cache: dict[tuple[str, tuple[str, ...]], bool] = {}
        from .models import Usage

        self.usage = Usage()

    def _ask(self, prompt: str) -> str:
        completion = self.model.complete(prompt)
        self.calls += 1
        self.usage.add(completion.usage)
        return str(completion.text)

    def claims(self, answer: str) -> list[str]:
        from .prompts import fence, load_prompt

        text = self._ask(load_prompt("judge_claims").render(answer=fence(answer)))
        return [c.strip() for c in parse_json_reply(text, "claims", list, self.model.name) if c.strip()]

    def supports(self, claim: str, evidence: list[str]) -> bool:
        from .prompts import fence, load_prompt

        if not evidence:
            return False
        key = (claim, tuple(evidence))
        if key not in self._cache:
            joined = "\n\n".join(fence(e) for e in evidence)
            prompt = load_prompt("judge_support").render(claim=fence(strip_markers(claim)), evidence=joined)
            self._cache[key] = parse_json_reply(self._ask(prompt), "supported", bool, self.model.name)
        return self._cache[key]


# ---- answer-level metrics ----------------------------------------------------------------------


@dataclass
class SentenceJudgement:
    sentence: str
    cited: list[str]
    supported: bool
    precise: list[bool]

    def to_json(self) -> dict[str, Any]:
        return {
            "sentence": self.sentence,
            "cited": self.cited,
            "supported": self.supported,
            "precise": self.precise,
        }


@dataclass
class AnswerJudgement:
    sentences: list[SentenceJudgement] = field(default_factory=list)
    claims: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def citation_recall(self) -> float | None:
        return sum(s.supported for s in self.sentences) / len(self.sentences) if self.sentences else None

    @property
    def citation_precision(self) -> float | None:
        flags = [p for s in self.sentences for p in s.precise]
        return sum(flags) / len(flags) if flags else None

    @property
    def faithfulness(self) -> float | None:
        return sum(ok for _, ok in self.claims) / len(self.claims) if self.claims else None

    def scores(self) -> dict[str, float]:
        out = {
            "alce_citation_recall": self.citation_recall,
            "alce_citation_precision": self.citation_precision,
            "faithfulness": self.faithfulness,
        }
        return {k: v for k, v in out.items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        return {
            "sentences": [s.to_json() for s in self.sentences],
            "n_claims": len(self.claims),
            "unsupported_claims": [c for c, ok in self.claims if not ok],
        }


def judge_answer(
    judge: Judge,
    text: str,
    marker_ids: dict[int, str],
    evidence_of: Callable[[str], str],
    faithfulness: bool = True,
) -> AnswerJudgement:
    """ALCE citation recall/precision per claim sentence and RAGAS faithfulness over the answer's claims.

    marker_ids maps the answer's [n] markers to paper ids; evidence_of gives a paper's title and abstract.
    """
    from .answer import split_sentences

    result = AnswerJudgement()
    for raw in split_sentences(text):
        if not is_claim(raw):
            continue
        claim = strip_markers(raw)
        ids = list(dict.fromkeys(marker_ids[n] for n in cited_numbers(raw) if n in marker_ids))
        if not ids:
            result.sentences.append(SentenceJudgement(claim, [], False, []))
            continue
        joint = judge.supports(claim, [evidence_of(pid) for pid in ids])
        precise: list[bool] = []
        if joint and len(ids) > 1:
            for pid in ids:
                alone = judge.supports(claim, [evidence_of(pid)])
                rest = [evidence_of(other) for other in ids if other != pid]
                precise.append(alone or not judge.supports(claim, rest))
        else:
            precise = [joint] * len(ids)
        result.sentences.append(SentenceJudgement(claim, ids, joint, precise))
    if faithfulness:
        cited = list(dict.fromkeys(marker_ids.values()))
        # RAGAS: a claim is faithful when the cited abstracts together support it ("Both these modules ..."
        # quoted from one abstract is not a claim about each of the other cited papers)
        context = "\n\n".join(evidence_of(pid) for pid in cited)
        for claim in judge.claims(text):
            result.claims.append((claim, bool(context) and judge.supports(claim, [context])))
    return result


# ---- agreement with hand labels ----------------------------------------------------------------


@dataclass
class Agreement:
    judge: str
    n: int
    tp: int  # unsupported, judged unsupported
    fp: int  # supported, judged unsupported
    fn: int  # unsupported, judged supported
    tn: int  # supported, judged supported
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n if self.n else 0.0

    @property
    def precision_unsupported(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall_unsupported(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "precision_unsupported": round(self.precision_unsupported, 4),
            "recall_unsupported": round(self.recall_unsupported, 4),
            "confusion": {
                "unsupported_as_unsupported": self.tp,
                "supported_as_unsupported": self.fp,
                "unsupported_as_supported": self.fn,
                "supported_as_supported": self.tn,
            },
            "errors": self.errors,
        }


def read_labels(
    path: Path, known: Callable[[str], bool] | None = None
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Hand labels (sentence, cited paper ids, supported|unsupported) and the records rejected with the
    reason; with `known`, labels citing a paper that is not in the index are rejected too."""
    from .listfile import Rejected, read_records

    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read labels ({getattr(exc, 'strerror', None) or exc})") from None
    records, rejected = read_records(path, text)
    rows = []
    for where, row in records:
        label_id = str(row.get("id")) if isinstance(row, dict) and row.get("id") else None
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("sentence"), str)
            or not isinstance(row.get("cited"), list)
            or row.get("label") not in ("supported", "unsupported")
        ):
            rejected.append(
                Rejected(where, label_id, "needs sentence, cited (a list) and label (supported|unsupported)")
            )
        elif known is not None and (unknown := [str(p) for p in row["cited"] if not known(str(p))]):
            rejected.append(
                Rejected(where, label_id, f"cited paper not in the index: {', '.join(unknown[:3])}")
            )
        else:
            rows.append(row)
    rejected.sort(key=lambda r: int(r.where.split()[-1]))
    return rows, rejected


def load_labels(path: Path) -> list[dict[str, Any]]:
    """Every label of a file; any bad record is an error naming the first ones."""
    rows, rejected = read_labels(path)
    if rejected:
        raise InputError(f"{path}: {len(rejected)} bad label(s): " + "; ".join(map(str, rejected[:3])))
    return rows


def paper_evidence(sp: Any) -> str:
    """What a citation points to: the paper's title and abstract."""
    return f"{sp.paper.title}\n{sp.paper.abstract}"


def judge_agreement(
    judge: Judge,
    labels: Iterable[dict[str, Any]],
    evidence_of: Callable[[str], str],
    progress: Callable[[int, int], None] | None = None,
) -> Agreement:
    """Run a judge over hand-labelled sentences; 'unsupported' is the positive class."""
    rows = list(labels)
    agreement = Agreement(judge.name, len(rows), 0, 0, 0, 0)
    for i, row in enumerate(rows, 1):
        supported = judge.supports(row["sentence"], [evidence_of(pid) for pid in row["cited"]])
        gold_unsupported = row["label"] == "unsupported"
        if gold_unsupported and not supported:
            agreement.tp += 1
        elif not gold_unsupported and not supported:
            agreement.fp += 1
        elif gold_unsupported:
            agreement.fn += 1
        else:
            agreement.tn += 1
        if gold_unsupported == supported:
            agreement.errors.append({"id": row.get("id"), "label": row["label"], "sentence": row["sentence"]})
        if progress:
            progress(i, len(rows))
    return agreement
