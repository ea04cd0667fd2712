"""Evaluation datasets and scoring: retrieval recall, citations, faithfulness, abstention, facts."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import CitecraftError, InputError
from .listfile import Rejected, read_records

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


_LISTS = ("gold", "acceptable", "facts")
_FILTER_KEYS = ("since", "until", "min_authors", "max_authors")


def check_case(row: Any) -> Case | str:
    """A Case from one record, or the reason it cannot be evaluated."""
    if not isinstance(row, dict):
        return "a case is a mapping with id, kind and question"
    missing = [k for k in ("id", "kind", "question") if not str(row.get(k) or "").strip()]
    if missing:
        return f"missing {', '.join(missing)}"
    if row["kind"] not in KINDS:
        return f"unknown kind {row['kind']!r} (use one of {', '.join(KINDS)})"
    if not isinstance(row["question"], str):
        return "question must be text"
    values: dict[str, Any] = {}
    for key in _LISTS:
        value = row.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            return f"{key} must be a list of strings, e.g. {key}: [paper-id]"
        values[key] = [str(v) for v in value]
    filters = row.get("filters") or {}
    if not isinstance(filters, dict) or set(filters) - set(_FILTER_KEYS):
        return f"filters must be a mapping with keys among {', '.join(_FILTER_KEYS)}"
    if row["kind"] == "unanswerable" and values["gold"]:
        return "an unanswerable case has no gold papers"
    if row["kind"] != "unanswerable" and not values["gold"]:
        return f"a {row['kind']} case needs gold papers"
    case = Case(str(row["id"]), row["kind"], row["question"], filters=filters, **values)
    try:
        case_filters(case)
    except CitecraftError as exc:
        return f"bad filters: {exc}"
    return case


def read_dataset(path: Path, known: Callable[[str], bool] | None = None) -> tuple[list[Case], list[Rejected]]:
    """Cases from YAML (a list) or JSONL, and the records rejected with the reason; one bad record
    never spoils the others. With `known`, cases whose gold or acceptable papers are not in the index are
    rejected too."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read dataset ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    rows, rejected = read_records(path, text)
    cases: list[Case] = []
    seen: set[str] = set()
    for where, row in rows:
        checked = check_case(row)
        case_id = str(row["id"]) if isinstance(row, dict) and row.get("id") else None
        if isinstance(checked, str):
            rejected.append(Rejected(where, case_id, checked))
        elif checked.id in seen:
            rejected.append(Rejected(where, case_id, "duplicate id"))
        elif known is not None and (
            unknown := [p for p in checked.gold + checked.acceptable if not known(p)]
        ):
            rejected.append(Rejected(where, case_id, f"paper not in the index: {', '.join(unknown[:3])}"))
        else:
            seen.add(checked.id)
            cases.append(checked)
    rejected.sort(key=lambda r: int(r.where.split()[-1]))
    return cases, rejected


def load_dataset(path: Path) -> list[Case]:
    """Every case of a dataset; any bad record is an error naming all of them."""
    cases, rejected = read_dataset(path)
    if rejected:
        raise InputError(f"{path}: {len(rejected)} bad case(s): " + "; ".join(map(str, rejected[:3])))
    return cases


def case_filters(case: Case) -> Any:
    from .retrieve import Filters

    f = case.filters or {}

    def count(key: str) -> int | None:
        value = f.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not str(value).isdigit():
            raise InputError(f"{key} must be a whole number, not {value!r}")
        return int(value)

    # YAML reads an unquoted 2023-01-01 as a date: take it as its ISO text
    since, until = (None if f.get(k) is None else str(f[k]) for k in ("since", "until"))
    return Filters.parse(since, until, count("min_authors"), count("max_authors"))


def recall(found: list[str], gold: list[str]) -> float:
    return len(set(found) & set(gold)) / len(gold) if gold else 1.0


def retrieval_recall(
    index: Any, cases: list[Case], ks: tuple[int, ...] = (1, 5, 10, 20), mode: str = "hybrid"
) -> dict[str, dict[str, float]]:
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
    judgement: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "kind": self.case.kind,
            "question": self.case.question,
            "gold": self.case.gold,
            "cited": self.cited,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "answer": self.answer.get("answer", self.answer.get("summary", "")),
            "abstained": self.answer.get("abstained", False),
            "judgement": self.judgement,
            "seconds": round(self.seconds, 3),
        }


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


# ---- the full evaluation run -----------------------------------------------------------------

# Report order and meaning of every metric (per kind and overall: the mean over the cases that have it).
METRICS: dict[str, str] = {
    "recall@5": "retrieval: share of gold papers in the top 5",
    "recall@20": "retrieval: share of gold papers in the top 20",
    "gold_citation_precision": "share of cited papers that are gold or acceptable",
    "gold_citation_recall": "share of gold papers the answer cites",
    "topic_completeness": "topic cases: share of gold papers the summary cites",
    "alce_citation_recall": "ALCE: share of claim sentences their citations support (judge)",
    "alce_citation_precision": "ALCE: share of citations that are needed and supporting (judge)",
    "faithfulness": "RAGAS: share of claims supported by the cited abstracts (judge)",
    "abstention": "unanswerable cases: share answered with the abstention",
    "answered": "answerable cases: share not abstained",
    "fact_coverage": "share of expected facts stated verbatim",
}
_RENAMED = {"citation_precision": "gold_citation_precision", "citation_recall": "gold_citation_recall"}
Progress = Callable[[int, int], None]


@dataclass
class TopicAnswer:
    """A topic summary seen as an answer (citations, text, abstained) for scoring."""

    summary: Any

    @property
    def answer(self) -> str:
        return str(self.summary.summary)

    @property
    def citations(self) -> list[Any]:
        return list(self.summary.citations)

    @property
    def abstained(self) -> bool:
        return not self.summary.citations

    def to_json(self) -> dict[str, Any]:
        data = dict(self.summary.to_json())
        data.setdefault("answer", self.answer)
        data.setdefault("abstained", self.abstained)
        return data


def topic_summarizer() -> Callable[..., Any] | None:
    """`citecraft.summarize.summarize_topic` when that module exists, else None (topic cases use ask)."""
    try:
        from .summarize import summarize_topic
    except ImportError:
        return None
    return summarize_topic


@dataclass
class EvalRun:
    dataset: str
    judge: str
    answer_model: str
    results: list[CaseResult]
    table: dict[str, dict[str, float]]
    seconds: float
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    agreement: dict[str, Any] | None = None
    topic_engine: str = "ask"
    rejected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def faithfulness(self) -> float | None:
        return self.table.get("overall", {}).get("faithfulness")

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "judge": self.judge,
            "answer_model": self.answer_model,
            "topic_engine": self.topic_engine,
            "created": self.created,
            "seconds": round(self.seconds, 2),
            "n_cases": len(self.results),
            "metrics": {
                kind: {m: (round(v, 4) if m != "n" else int(v)) for m, v in row.items()}
                for kind, row in self.table.items()
            },
            "metric_help": METRICS,
            "judge_agreement": self.agreement,
            "rejected": self.rejected,
            "cases": [r.to_json() for r in self.results],
        }


def marker_map(answer: Any) -> dict[int, str]:
    """[n] -> paper id for an answer's citations (citations without `.n` are numbered in order)."""
    return {int(getattr(c, "n", i)): c.paper_id for i, c in enumerate(answer.citations, 1)}


def run_eval(
    index: Any,
    cases: list[Case],
    answerer: Any,
    judge: Any,
    progress: Progress | None = None,
    ks: tuple[int, ...] = (5, 20),
    dataset: str = "",
) -> EvalRun:
    """Answer every case and score it: retrieval recall@k, citations against gold, topic completeness,
    ALCE citation recall/precision and faithfulness (by `judge`), abstention, fact coverage."""
    from .judge import judge_answer, paper_evidence
    from .retrieve import Retriever

    started = time.perf_counter()
    retriever = Retriever(index)
    summarize = topic_summarizer()
    evidence: dict[str, str] = {}

    def evidence_of(pid: str) -> str:
        if pid not in evidence:
            sp = index.get(pid)
            evidence[pid] = paper_evidence(sp) if sp is not None else ""
        return evidence[pid]

    results: list[CaseResult] = []
    for i, case in enumerate(cases, 1):
        t = time.perf_counter()
        filters = case_filters(case)
        recalls: dict[str, float] = {}
        if case.gold:
            ids = [h.paper_id for h in retriever.search(case.question, k=max(ks), filters=filters).hits]
            recalls = {f"recall@{k}": recall(ids[:k], case.gold) for k in ks}
        if case.kind == "topic" and summarize is not None:
            answer: Any = TopicAnswer(summarize(index, case.question, model=answerer.model, filters=filters))
        else:
            answer = answerer.ask(case.question, filters)
        result = score_answer(case, answer)
        result.scores = {_RENAMED.get(k, k): v for k, v in result.scores.items()}
        if case.kind == "topic" and "gold_citation_recall" in result.scores:
            result.scores["topic_completeness"] = result.scores["gold_citation_recall"]
        result.scores.update(recalls)
        if not answer.abstained:
            judgement = judge_answer(judge, answer.answer, marker_map(answer), evidence_of)
            result.scores.update(judgement.scores())
            result.judgement = judgement.to_json()
        result.seconds = time.perf_counter() - t
        results.append(result)
        if progress:
            progress(i, len(cases))
    table = aggregate(results)
    return EvalRun(
        dataset,
        judge.name,
        getattr(answerer.model, "name", None) or "extractive",
        results,
        table,
        time.perf_counter() - started,
        topic_engine="summarize" if summarize else "ask",
    )


CALIBRATION_LABELS = "judge_labels.yaml"
HELDOUT_LABELS = "judge_labels_heldout.yaml"
TEST_LABELS = "judge_labels_test.yaml"
# what each set of hand labels is for: the offline judge's thresholds were fitted on the calibration set and
# its checks developed on the calibration and held-out sets, so its agreement there is optimistic; the test
# set was written before those checks and never used for tuning
LABEL_SETS = {
    "calibration": "the offline judge's thresholds were fitted and its checks developed on these labels (optimistic)",
    "held_out": "labels used for developing the offline judge's checks (optimistic)",
    "test": "labels never used for tuning or calibration",
    "labels": "a label file given with --labels",
}


def label_set_name(path: Path) -> str:
    """'calibration' for judge_labels.yaml, 'held_out' for judge_labels_heldout.yaml, 'test' for
    judge_labels_test.yaml, else 'labels'."""
    return {CALIBRATION_LABELS: "calibration", HELDOUT_LABELS: "held_out", TEST_LABELS: "test"}.get(
        path.name, "labels"
    )


def run_agreement(
    index: Any, judge: Any, labels_path: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Agreement of a judge with the hand labels (accuracy; precision/recall of 'unsupported').

    A label that cannot be read, or that cites a paper the index does not hold, is left out and listed
    under "rejected"; a file with no usable label is an error."""
    from .judge import judge_agreement, paper_evidence, read_labels

    rows, rejected = read_labels(labels_path, known=lambda pid: index.get(pid) is not None)
    if not rows:
        raise InputError(
            f"{labels_path}: no usable label"
            + (f" ({len(rejected)} rejected; first: {rejected[0]})" if rejected else ""),
            "judge labels are a YAML list of sentence / cited / label records about papers in the index",
        )
    agreement = judge_agreement(judge, rows, lambda pid: paper_evidence(index.get(pid)), progress)
    name = label_set_name(labels_path)
    return {
        "set": name,
        "about": LABEL_SETS[name],
        **agreement.to_json(),
        "labels": str(labels_path),
        "rejected": [r.to_json() for r in rejected],
    }


def run_agreements(
    index: Any, judge: Any, label_paths: list[Path], progress: Callable[[str, int, int], None] | None = None
) -> dict[str, dict[str, Any]]:
    """Agreement on each label file, keyed by set name ('calibration', 'held_out', 'test'; 'labels' for others)."""
    out: dict[str, dict[str, Any]] = {}
    for path in label_paths:
        name = label_set_name(path)
        key = name if name not in out else f"{name}_{len(out) + 1}"

        def step(done: int, total: int, stage: str = name) -> None:
            if progress:
                progress(stage, done, total)

        out[key] = run_agreement(index, judge, path, step)
    return out


def default_labels(dataset: Path | None = None) -> Path:
    """The calibration labels: judge_labels.yaml next to the dataset, else next to the default dataset."""
    for candidate in ([dataset.parent / CALIBRATION_LABELS] if dataset else []) + [
        default_dataset().parent / CALIBRATION_LABELS
    ]:
        if candidate.exists():
            return candidate
    raise InputError("no judge labels found", "expected evals/judge_labels.yaml")


def default_label_sets(dataset: Path | None = None) -> list[Path]:
    """The calibration labels, then the held-out and test labels that sit beside them."""
    calibration = default_labels(dataset)
    others = [calibration.parent / name for name in (HELDOUT_LABELS, TEST_LABELS)]
    return [calibration, *(p for p in others if p.exists())]
