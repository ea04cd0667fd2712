"""Evaluation datasets and scoring: retrieval recall, citations, faithfulness, abstention, facts."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

KINDS = ("fact", "reworded", "multi", "topic", "unanswerable", "filter")


@dataclass
class Case:
    id: str
    kind: str
    question: str
    gold: list[str] = field(default_factory=list)
    acceptable: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"


def default_dataset() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "evals" / "dataset.yaml", here.parents[1] / "evals" / "dataset.yaml"):
        if candidate.exists():
            return candidate
    raise InputError("no default dataset found", "pass a dataset path: citecraft eval evals/dataset.yaml")


def load_dataset(path: Path) -> list[Case]:
    """Read cases from YAML (a list) or JSONL; every case needs id, kind and question."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read dataset ({exc.strerror})") from None
    if path.suffix in (".jsonl", ".json"):
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        import yaml

        rows = yaml.safe_load(text) or []
    cases = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not {"id", "kind", "question"} <= set(row):
            raise InputError(f"{path}: case {i} needs id, kind and question")
        if row["kind"] not in KINDS:
            raise InputError(f"{path}: case {row['id']} has unknown kind {row['kind']!r}", f"use one of {', '.join(KINDS)}")
        cases.append(Case(**{k: (v if v is not None else Case.__dataclass_fields__[k].default_factory())  # type: ignore[misc]
                             if k in ("gold", "acceptable", "facts", "filters") else v
                             for k, v in row.items() if k in Case.__dataclass_fields__}))
    return cases


def case_filters(case: Case) -> Any:
    from .retrieve import Filters

    f = case.filters or {}
    return Filters.parse(f.get("since"), f.get("until"), f.get("min_authors"), f.get("max_authors"))


def recall(found: list[str], gold: list[str]) -> float:
    return len(set(found) & set(gold)) / len(gold) if gold else 1.0


def retrieval_recall(index: Any, cases: list[Case], ks: tuple[int, ...] = (1, 5, 10, 20),
                     mode: str = "hybrid") -> dict[str, dict[str, float]]:
    """Mean recall@k per kind for cases with gold papers. mode: hybrid, dense or bm25."""
    from .retrieve import Retriever

    retriever = Retriever(index)
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, int] = defaultdict(int)
    for case in cases:
        if not case.gold:
            continue
        hits = retriever.search(case.question, k=max(ks), filters=case_filters(case), mode=mode).hits
        ids = [h.paper_id for h in hits]
        counts[case.kind] += 1
        for k in ks:
            sums[case.kind][f"recall@{k}"] += recall(ids[:k], case.gold)
    return {kind: {m: v / counts[kind] for m, v in metrics.items()} for kind, metrics in sums.items()}


def fact_found(fact: str, text: str) -> bool:
    """A fact counts when it appears verbatim (case and spacing aside); numbers therefore match exactly."""
    norm = lambda s: " ".join(s.lower().split())  # noqa: E731
    return norm(fact) in norm(text)


@dataclass
class CaseResult:
    case: Case
    answer: dict[str, Any]
    cited: list[str]
    scores: dict[str, float]


def score_answer(case: Case, answer: Any) -> CaseResult:
    """The judge-free metrics of one answer: citations against gold, abstention, facts."""
    cited = [c.paper_id for c in answer.citations]
    scores: dict[str, float] = {}
    if case.answerable:
        scores["answered"] = 0.0 if answer.abstained else 1.0
        ok = set(case.gold) | set(case.acceptable)
        if cited:
            scores["citation_precision"] = sum(pid in ok for pid in cited) / len(cited)
        if case.gold:
            scores["citation_recall"] = recall(cited, case.gold)
        if case.facts:
            scores["fact_coverage"] = sum(fact_found(f, answer.answer) for f in case.facts) / len(case.facts)
    else:
        scores["abstention"] = 1.0 if answer.abstained else 0.0
    return CaseResult(case, answer.to_json(), cited, scores)


def aggregate(results: list[CaseResult]) -> dict[str, dict[str, float]]:
    """Mean of every metric per kind and overall (metrics a case lacks are not counted for it)."""
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        groups[r.case.kind].append(r)
        groups["overall"].append(r)
    table: dict[str, dict[str, float]] = {}
    for kind, rs in groups.items():
        metrics: dict[str, list[float]] = defaultdict(list)
        for r in rs:
            for m, v in r.scores.items():
                metrics[m].append(v)
        table[kind] = {m: sum(v) / len(v) for m, v in metrics.items()}
        table[kind]["n"] = len(rs)
    return table
