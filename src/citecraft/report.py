"""Evaluation reports: JSON (complete), Markdown (readable), a PNG bar chart per kind, and comparisons.

Files go to one directory as `<dataset-stem>-<judge>-<timestamp>.{json,md,png}` plus stable copies
`latest-<judge>.{json,md,png}` (the judge "llm:gpt-4o-mini" becomes "llm-gpt-4o-mini" in names).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .errors import InputError

KIND_ORDER = ("fact", "reworded", "multi", "topic", "unanswerable", "filter", "overall")
CHART_METRICS = (
    "recall@5",
    "gold_citation_precision",
    "topic_completeness",
    "alce_citation_recall",
    "alce_citation_precision",
    "faithfulness",
    "abstention",
    "fact_coverage",
)


def slug(judge: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", judge).strip("-") or "judge"


def report_name(dataset: str, judge: str, created: str) -> str:
    stamp = re.sub(r"[^0-9T]", "", created)[:15] or "run"
    return f"{Path(dataset).stem or 'dataset'}-{slug(judge)}-{stamp}"


def _kinds(metrics: dict[str, Any]) -> list[str]:
    return [k for k in KIND_ORDER if k in metrics] + sorted(k for k in metrics if k not in KIND_ORDER)


def _metric_names(metrics: dict[str, dict[str, float]], order: list[str]) -> list[str]:
    present = {m for row in metrics.values() for m in row if m != "n"}
    return [m for m in order if m in present] + sorted(present - set(order))


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def metrics_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The per-kind table: one row per metric, one column per kind (and overall)."""
    metrics = report["metrics"]
    kinds = _kinds(metrics)
    names = _metric_names(metrics, list(report.get("metric_help") or CHART_METRICS))
    rows = [["n", *[str(int(metrics[k].get("n", 0))) for k in kinds]]]
    rows += [[m, *[_fmt(metrics[k].get(m)) for k in kinds]] for m in names]
    return ["metric", *kinds], rows


SET_TITLES = {
    "calibration": "calibration (thresholds fitted)",
    "held_out": "held-out (used for development)",
    "test": "test (never used for tuning)",
    "labels": "labels",
}


def set_title(name: str) -> str:
    """'held_out' -> 'held-out (used for development)' (a name the report does not know is shown with spaces)."""
    return SET_TITLES.get(name, name.replace("_", " "))


def agreement_sets(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The judge-agreement results of a report per label set (calibration, held-out, then test).

    Reports written before there were two sets hold one agreement dict; it is shown as 'labels'."""
    agreement = report.get("judge_agreement")
    if not agreement:
        return []
    if "accuracy" in agreement:
        return [("labels", agreement)]
    order = list(SET_TITLES)
    return sorted(
        agreement.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])
    )


def agreement_line(name: str, agreement: dict[str, Any]) -> str:
    """One line per label set for the printed summary."""
    return (
        f"{set_title(name)} — {Path(agreement.get('labels', '')).name or '?'}, {agreement['n']} labels: "
        f"accuracy {agreement['accuracy']:.3f}, unsupported precision "
        f"{agreement['precision_unsupported']:.3f}, recall {agreement['recall_unsupported']:.3f}"
    )


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(report: dict[str, Any], chart: str | None = None) -> str:
    out = [
        f"# citecraft eval: {Path(report['dataset']).name}",
        "",
        f"- judge: **{report['judge']}**",
        f"- answers: {report['answer_model']} (topic cases: {report.get('topic_engine', 'ask')})",
        f"- cases: {report['n_cases']}, run {report['created']}, {report['seconds']:.1f} s",
        "",
    ]
    rejected = report.get("rejected") or []
    if rejected:
        out += [f"- **{len(rejected)} invalid case(s) skipped** (not scored):", ""]
        for r in rejected:
            case_id = f" ({r['id']})" if r.get("id") else ""
            out.append(f"  - {r['where']}{case_id}: {r['reason']}")
        out.append("")
    out += ["## Scores per kind", "", _md_table(*metrics_rows(report)), ""]
    if chart:
        out += [f"![scores per kind]({chart})", ""]
    helps = report.get("metric_help") or {}
    if helps:
        out += ["Metrics (means over the cases that have them):", ""]
        out += [f"- `{m}`: {h}" for m, h in helps.items()] + [""]
    sets = agreement_sets(report)
    if sets:
        out += [
            "## Judge agreement with hand labels",
            "",
            "'unsupported' is the positive class. The offline judge's thresholds were fitted on the "
            "calibration labels and its checks developed on the calibration and held-out labels, so its "
            "agreement there is optimistic; the test labels were written before those checks and never "
            "used for tuning.",
            "",
        ]
        for name, agreement in sets:
            c = agreement["confusion"]
            out += [
                f"### {set_title(name)}: {Path(agreement.get('labels', '')).name or '?'}",
                "",
                f"{agreement['judge']} on {agreement['n']} labelled sentences: accuracy "
                f"{agreement['accuracy']:.3f}; 'unsupported' precision "
                f"{agreement['precision_unsupported']:.3f}, recall {agreement['recall_unsupported']:.3f} "
                f"(unsupported→unsupported {c['unsupported_as_unsupported']}, supported→unsupported "
                f"{c['supported_as_unsupported']}, unsupported→supported {c['unsupported_as_supported']}, "
                f"supported→supported {c['supported_as_supported']}).",
                "",
            ]
            out += [
                f"- disagrees on {e['id']} ({e['label']}): {e['sentence']}"
                for e in agreement.get("errors", [])
            ]
            out.append("")
    cases = report.get("cases") or []
    misses = [c for c in cases if c["kind"] == "unanswerable" and not c["scores"].get("abstention")]
    wrong_abstain = [c for c in cases if c["kind"] != "unanswerable" and c["scores"].get("answered") == 0.0]
    if misses or wrong_abstain:
        out += ["## Abstention errors", ""]
        out += [f"- {c['id']}: answered an unanswerable question: {c['question']}" for c in misses]
        out += [f"- {c['id']}: abstained on an answerable question: {c['question']}" for c in wrong_abstain]
        out.append("")
    flagged = [
        (c["id"], s)
        for c in cases
        for s in (c.get("judgement") or {}).get("sentences", [])
        if not s["supported"]
    ]
    if flagged:
        out += [f"## Sentences the judge found unsupported by their citations ({len(flagged)})", ""]
        out += [
            f"- {cid} [{', '.join(s['cited']) or 'no citation'}]: {s['sentence']}" for cid, s in flagged[:50]
        ]
        if len(flagged) > 50:
            out.append(f"- … {len(flagged) - 50} more in the JSON report")
        out.append("")
    if cases:
        shown = [
            "recall@5",
            "gold_citation_precision",
            "alce_citation_recall",
            "faithfulness",
            "abstention",
            "fact_coverage",
        ]
        rows = [[c["id"], c["kind"], *[_fmt(c["scores"].get(m)) for m in shown]] for c in cases]
        out += ["## Cases", "", _md_table(["id", "kind", *shown], rows), ""]
    return "\n".join(out)


def bar_chart(report: dict[str, Any], path: Path) -> bool:
    """A grouped bar chart of the headline metrics per kind; False when matplotlib is not installed."""
    try:
        import logging

        import matplotlib

        logging.getLogger("matplotlib").setLevel(logging.WARNING)
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    metrics = report["metrics"]
    kinds = _kinds(metrics)
    names = [m for m in CHART_METRICS if any(m in metrics[k] for k in kinds)]
    fig, ax = plt.subplots(figsize=(max(8.0, 1.5 * len(kinds)), 5.0), dpi=100)
    width = 0.8 / max(1, len(names))
    for i, m in enumerate(names):
        xs = [k + (i - (len(names) - 1) / 2) * width for k in range(len(kinds))]
        ax.bar(xs, [metrics[k].get(m, 0.0) for k in kinds], width, label=m)
    ax.set_xticks(range(len(kinds)), [f"{k}\n(n={int(metrics[k].get('n', 0))})" for k in kinds])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"citecraft eval — {Path(report['dataset']).name} — judge: {report['judge']}")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return True


def write_reports(report: dict[str, Any], out_dir: Path, chart: bool = True) -> dict[str, Path]:
    """Write JSON, Markdown and (when matplotlib is available) PNG, plus the stable latest-<judge> copies."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = report_name(report["dataset"], report["judge"], report["created"])
    latest = f"latest-{slug(report['judge'])}"
    paths: dict[str, Path] = {}
    png = out_dir / f"{name}.png"
    has_chart = chart and bar_chart(report, png)
    if has_chart:
        paths["png"] = png
        paths["latest_png"] = out_dir / f"{latest}.png"
        paths["latest_png"].write_bytes(png.read_bytes())
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    for key, stem in (("json", name), ("latest_json", latest)):
        paths[key] = out_dir / f"{stem}.json"
        paths[key].write_text(text, encoding="utf-8")
    for key, stem in (("md", name), ("latest_md", latest)):
        paths[key] = out_dir / f"{stem}.md"
        paths[key].write_text(to_markdown(report, f"{stem}.png" if has_chart else None), encoding="utf-8")
    return paths


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable eval report ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(
            f"{path}: not an eval report (no 'metrics')", "pass JSON files written by citecraft eval"
        )
    bad = [k for k, row in data["metrics"].items() if not isinstance(row, dict)]
    if bad:
        raise InputError(
            f"{path}: not an eval report (metrics for {bad[0]!r} are not a table)",
            "pass JSON files written by citecraft eval",
        )
    return data


def compare(a: Path, b: Path) -> dict[str, Any]:
    """Metric differences b - a for every kind and metric in either report."""
    ra, rb = load_report(a), load_report(b)
    ma, mb = ra["metrics"], rb["metrics"]
    kinds = _kinds({**ma, **mb})
    rows = []
    for kind in kinds:
        row_a, row_b = ma.get(kind, {}), mb.get(kind, {})
        for m in _metric_names({"a": row_a, "b": row_b}, list(ra.get("metric_help") or CHART_METRICS)):
            va, vb = row_a.get(m), row_b.get(m)
            delta = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
            rows.append({"kind": kind, "metric": m, "a": va, "b": vb, "delta": delta})
    return {
        "a": {
            "path": str(a),
            "judge": ra.get("judge"),
            "answer_model": ra.get("answer_model"),
            "created": ra.get("created"),
        },
        "b": {
            "path": str(b),
            "judge": rb.get("judge"),
            "answer_model": rb.get("answer_model"),
            "created": rb.get("created"),
        },
        "same_judge": ra.get("judge") == rb.get("judge"),
        # scores over different case sets are not comparable metric by metric
        "same_dataset": (Path(str(ra.get("dataset"))).name, ra.get("n_cases"))
        == (Path(str(rb.get("dataset"))).name, rb.get("n_cases")),
        "rows": rows,
    }
