"""Judges of whether cited evidence supports a claim, and the answer-level metrics built on them.

Two judges share one interface (`supports(claim, evidence) -> bool`, `claims(text)`, `name`):

* `OfflineJudge` ("offline"): sentence-level support from lexical overlap (stemmed
  content-word recall in the best evidence sentence or pair of adjacent sentences),
  WordLlama embedding similarity, and hard checks: every number in the claim must occur
  in the evidence, specific names (acronyms, CamelCase, letter-digit names, capitalised
  names) must occur in it, and negations, antonyms and absolute words ("all",
  "completely", "proves") the evidence does not use make a claim unsupported.
  Thresholds are calibrated on evals/judge_labels.yaml (see `CALIBRATION`); its agreement
  on those labels is therefore optimistic. evals/judge_labels_heldout.yaml measures it on
  labels it was not fitted to, and must never be used to fit it.
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
from typing import Any, Protocol

import numpy as np

from .errors import ModelError

MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# the extractive engine opens each paragraph with "**Short title** (2023): "; that label is no claim
# (a title with "?" in it may be split, leaving "...end of title** (2023): " on the next sentence)
_HEADING = re.compile(r"^\s*(?:[-*]\s+)?(?:\*\*)?[^*\n]*\*\*(?:\s*\([^)]*\))?\s*:\s*")

STOPWORDS = frozenset(["a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "may", "me", "might", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "paper", "papers", "work", "works", "study", "studies", "author", "authors", "article", "approach", "propose", "proposes", "proposed", "present", "presents", "introduce", "introduces", "introduced", "show", "shows", "shown", "showed", "report", "reports", "reported", "demonstrate", "demonstrates", "demonstrated", "find", "finds", "found", "use", "uses", "used", "using", "via", "based", "new", "novel", "method", "methods", "model", "models", "result", "results", "respectively", "e", "g", "i", "e", "et", "al", "etc"])

# a number is not part of a name such as VGG16 or CIFAR10; "1,612" is 1612; "x63.6" is 63.6
_NUMBER = re.compile(r"(?<![A-Za-z\d.,])(\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?)")
_WORD = re.compile(r"[A-Za-z0-9]+(?:[.'][A-Za-z0-9]+)*")
_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:[-+.][A-Za-z0-9]+)*")

NEGATIONS = frozenset(["not", "no", "never", "cannot", "can't", "don't", "doesn't", "didn't", "isn't", "aren't", "won't", "fails", "fail", "failed", "unable", "neither", "nor", "none"])
# absolute words and strong verbs: a claim may use them only when the evidence does too
ABSOLUTES = frozenset(["all", "every", "always", "never", "completely", "entirely", "fully", "totally", "perfectly", "solely", "guarantees", "guarantee", "guaranteed", "proves", "prove", "proved", "proven", "eliminates", "eliminate", "eliminated", "consistently", "universally"])
ANTONYMS = {
    "outperform": "underperform", "improve": "degrade", "increase": "decrease", "faster": "slower",
    "higher": "lower", "better": "worse", "more": "less", "larger": "smaller", "succeed": "fail",
    "match": "mismatch", "strong": "weak",
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
    text = re.sub(r"(?<![A-Za-z])[xX](?=\d)", " ", text)
    return {m.group(1).replace(",", "") for m in _NUMBER.finditer(text)}


def content_stems(text: str) -> set[str]:
    stem = _stem()
    return {stem(w) for w in (t.lower() for t in _WORD.findall(text))
            if w not in STOPWORDS and not w.replace(".", "").isdigit() and len(w) > 1}


def _lower_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def specific_names(claim: str) -> list[str]:
    """Names a claim relies on: acronyms, CamelCase, letter-digit mixes and capitalised words after the first."""
    names = []
    for i, m in enumerate(_TOKEN.finditer(claim)):
        token = m.group(0).rstrip(".")
        parts = [p for p in re.split(r"[-+]", token) if p]
        for part in parts or [token]:
            upper_inside = any(c.isupper() for c in part[1:])
            mixed = any(c.isdigit() for c in part) and any(c.isalpha() for c in part)
            capitalised = i > 0 and part[:1].isupper() and part[1:].islower() and len(part) > 2
            if (upper_inside or mixed or capitalised) and not part[:1].isdigit():
                names.append(part)
    return list(dict.fromkeys(names))


_NEG_SCOPE = 3  # a negation governs the next few words ("cannot fully match", "does not occur")


def _scoped(text: str) -> list[tuple[str, bool]]:
    """(stem, negated) for each content word: negated when a negation cue precedes it closely."""
    stem = _stem()
    out: list[tuple[str, bool]] = []
    since_negation = _NEG_SCOPE + 1
    for raw in re.findall(r"[A-Za-z0-9']+", text.lower()):
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
    return re.search(rf"(?<![a-z0-9]){re.escape(name.lower())}(?![a-z0-9])", text_lower) is not None


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
    """Thresholds of the offline judge, fitted on evals/judge_labels.yaml (52 hand labels)."""

    # accuracy is flat (51/52) for min_lexical 0.4-0.55 and min_combined 0.45-0.55: the middle is taken
    min_lexical: float = 0.45  # stemmed content-word recall in the best window, at least
    min_combined: float = 0.5  # 0.5 * lexical + 0.5 * embedding cosine, at least
    check_names: bool = True
    check_negation: bool = True
    check_absolutes: bool = True


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

    @property
    def combined(self) -> float:
        return 0.5 * self.lexical + 0.5 * self.embedding

    def to_json(self) -> dict[str, Any]:
        return {"lexical": round(self.lexical, 3), "embedding": round(self.embedding, 3),
                "missing_numbers": self.missing_numbers, "missing_names": self.missing_names,
                "negation_mismatch": self.negation_mismatch, "antonyms": self.antonyms,
                "absolutes": self.absolutes}


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

    def features(self, claim: str, evidence: list[str]) -> Features:
        claim = strip_markers(claim)
        joint = "\n".join(evidence)
        joint_lower = joint.lower()
        cands: list[str] = [w for e in evidence for w in windows(e)]
        stems = content_stems(claim)
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
        missing_names = [n for n in specific_names(claim) if not mentions(joint_lower, n)]
        # a negated claim needs a negation in its evidence, and must not deny what the evidence affirms
        negation_mismatch = bool(claim_words & NEGATIONS) and (
            not (window_words & NEGATIONS)
            or bool((negated_terms(claim) - negated_terms(window)) & affirmed_terms(window)))
        stem = _stem()
        evidence_stems = {stem(w) for w in _lower_words(joint)}
        claim_stems = {stem(w) for w in claim_words}
        antonyms = sorted(w for w in claim_stems if w in ANTONYMS and stem(ANTONYMS[w]) in evidence_stems
                          and w not in evidence_stems)
        absolutes = sorted(w for w in claim_words & ABSOLUTES if w not in _lower_words(joint))
        return Features(lex[best], float(sims[best]), missing_numbers, missing_names, negation_mismatch,
                        antonyms, absolutes, window)

    def verdict(self, f: Features) -> bool:
        c = self.calibration
        if f.missing_numbers:
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
        raise ModelError(f"judge {model} did not reply with JSON: {text[:120]!r}",
                         "the judge prompt asks for a JSON object; try another --judge model") from None
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
        return {"sentence": self.sentence, "cited": self.cited, "supported": self.supported,
                "precise": self.precise}


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
        out = {"alce_citation_recall": self.citation_recall, "alce_citation_precision": self.citation_precision,
               "faithfulness": self.faithfulness}
        return {k: v for k, v in out.items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        return {"sentences": [s.to_json() for s in self.sentences], "n_claims": len(self.claims),
                "unsupported_claims": [c for c, ok in self.claims if not ok]}


def judge_answer(judge: Judge, text: str, marker_ids: dict[int, str], evidence_of: Callable[[str], str],
                 faithfulness: bool = True) -> AnswerJudgement:
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
        context = [evidence_of(pid) for pid in cited]
        for claim in judge.claims(text):
            result.claims.append((claim, bool(context) and judge.supports(claim, context)))
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
        return {"judge": self.judge, "n": self.n, "accuracy": round(self.accuracy, 4),
                "precision_unsupported": round(self.precision_unsupported, 4),
                "recall_unsupported": round(self.recall_unsupported, 4),
                "confusion": {"unsupported_as_unsupported": self.tp, "supported_as_unsupported": self.fp,
                              "unsupported_as_supported": self.fn, "supported_as_supported": self.tn},
                "errors": self.errors}


def load_labels(path: Any) -> list[dict[str, Any]]:
    import yaml

    from .errors import InputError

    rows = yaml.safe_load(path.read_text("utf-8")) or []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not {"sentence", "cited", "label"} <= set(row) \
                or row["label"] not in ("supported", "unsupported"):
            raise InputError(f"{path}: label {i} needs sentence, cited and label (supported|unsupported)")
    return rows


def paper_evidence(sp: Any) -> str:
    """What a citation points to: the paper's title and abstract."""
    return f"{sp.paper.title}\n{sp.paper.abstract}"


def judge_agreement(judge: Judge, labels: Iterable[dict[str, Any]], evidence_of: Callable[[str], str],
                    progress: Callable[[int, int], None] | None = None) -> Agreement:
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
