"""`citecraft eval`: run an evaluation dataset through the pipeline, judge it, write reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

EXIT_BELOW_THRESHOLD = 1


@click.command("eval")
@click.argument("dataset", required=False, type=click.Path(path_type=Path))
@click.option(
    "--judge",
    "judge_model",
    default=None,
    help="Judge with this LLM (OpenAI-compatible); without it (or with 'offline') the offline judge.",
)
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    default=None,
    help="OpenAI-compatible server for --judge and --model [env: OPENAI_BASE_URL].",
)
@click.option(
    "-m",
    "--model",
    envvar="CITECRAFT_MODEL",
    default=None,
    help="Chat model that writes the answers; the offline extractive engine when omitted, even if "
    "an API key or base URL is set [env: CITECRAFT_MODEL].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Report directory [default: reports/ next to the dataset, i.e. evals/reports; "
    "$CITECRAFT_HOME/reports for the dataset shipped in the package].",
)
@click.option(
    "--compare",
    "compare_paths",
    nargs=2,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Print the metric differences between two JSON reports (B - A) and exit.",
)
@click.option(
    "--min-faithfulness",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Exit with code 1 when overall faithfulness is below this value (reports are still written).",
)
@click.option(
    "--judge-agreement",
    is_flag=True,
    help="Also measure the judge against the hand labels, separately on the calibration set "
    "(judge_labels.yaml: the offline judge's thresholds were fitted on it), the held-out set "
    "(judge_labels_heldout.yaml: used for developing its checks) and the test set "
    "(judge_labels_test.yaml: never used for tuning), each when it sits beside the dataset.",
)
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Measure the judge's agreement on this one label file only (implies --judge-agreement) [default: judge_labels.yaml, "
    "judge_labels_heldout.yaml and judge_labels_test.yaml next to the dataset].",
)
@click.option("--no-chart", is_flag=True, help="Do not draw the PNG bar chart.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the per-kind metrics (and report paths) as JSON."
)
@click.pass_obj
def eval_command(
    app: Any,
    dataset: Path | None,
    judge_model: str | None,
    base_url: str | None,
    model: str | None,
    out: Path | None,
    compare_paths: tuple[Path, Path] | None,
    min_faithfulness: float | None,
    judge_agreement: bool,
    labels: Path | None,
    no_chart: bool,
    as_json: bool,
) -> None:
    """Evaluate answers on DATASET (YAML or JSONL; default evals/dataset.yaml).

    Scores per kind and overall: retrieval recall@5/@20, citation precision against
    gold, topic completeness, ALCE citation recall/precision, RAGAS faithfulness,
    abstention on unanswerable questions and fact coverage. The judge is the offline
    one (lexical + embedding overlap, exact numbers) unless --judge names an LLM;
    every report says which judge produced it. Writes JSON + Markdown (+ PNG chart).

    A case that cannot be read or checked (bad YAML/JSON, missing fields, unknown
    kind, gold papers not in the index, duplicate id) is skipped with a warning; the
    others are evaluated and the report lists what was skipped.

    Exit codes: 0 done; 1 overall faithfulness below --min-faithfulness; 2 bad
    dataset or arguments (nothing evaluated); 3 index problem; 4 model or judge
    failure (e.g. a judge reply that is not the JSON asked for); 6 some cases were
    skipped as invalid (the rest were evaluated and reported).
    """
    from .cli import _chat_model, _err_console, _out_console, emit_json, progress_bar

    if compare_paths:
        _print_compare(*compare_paths, as_json=as_json)
        return
    from rich.markup import escape

    from .answer import Answerer
    from .errors import EXIT_PARTIAL, InputError
    from .evaluate import default_dataset, default_label_sets, read_dataset, run_agreements, run_eval
    from .judge import LLMJudge, OfflineJudge
    from .report import write_reports

    dataset = dataset or default_dataset()
    reports_dir = out or default_reports_dir(dataset)
    judge_agreement = judge_agreement or labels is not None  # --labels asks for the agreement too
    if not dataset.is_file():
        raise InputError(
            f"{dataset}: no such dataset file", "a YAML list of cases or JSONL; see evals/dataset.yaml"
        )
    index = app.ensure_index()
    cases, rejected = read_dataset(dataset, known=lambda pid: index.get(pid) is not None)
    if not cases:
        raise InputError(
            f"{dataset}: no case can be evaluated"
            + (f" ({len(rejected)} rejected; first: {rejected[0]})" if rejected else "")
        )
    if labels is not None:  # a label file that cannot be used fails now, not after the whole evaluation
        from .judge import read_labels

        if not read_labels(labels, known=lambda pid: index.get(pid) is not None)[0]:
            raise InputError(f"{labels}: no usable label", "a YAML list of sentence / cited / label records")
    _make_reports_dir(reports_dir)
    err = _err_console()
    err.soft_wrap = True
    for bad in rejected[:10]:
        err.print(f"[yellow]skipped {escape(dataset.name)} {escape(str(bad))}[/yellow]", highlight=False)
    if len(rejected) > 10:
        err.print(f"[yellow]... and {len(rejected) - 10} more skipped (listed in the report)[/yellow]")
    # answers come from an LLM only when --model names one: a key or base URL alone (which
    # `ask` takes as "use gpt-4o-mini") must not silently change what is being evaluated
    answer_model = _chat_model(app, model, base_url) if model else None
    judge_llm = _chat_model(app, judge_model, base_url) if judge_model and judge_model != "offline" else None
    judge: Any = LLMJudge(judge_llm) if judge_llm is not None else OfflineJudge.from_index(index)
    err.print(
        f"[dim]judge: {judge.name}; answers: {answer_model.name if answer_model else 'extractive'}; "
        f"{len(cases)} case{'s' if len(cases) != 1 else ''} from {dataset}[/dim]"
    )
    with progress_bar() as progress:
        run = run_eval(
            index,
            cases,
            Answerer(index, answer_model),
            judge,
            progress=lambda done, total: progress("cases", done, total),
            dataset=str(dataset),
        )
        run.rejected = [r.to_json() for r in rejected]
        if judge_agreement:
            run.agreement = run_agreements(
                index,
                judge,
                [labels] if labels else default_label_sets(dataset),
                progress=lambda name, done, total: progress(name, done, total),
            )
    for agreement in (run.agreement or {}).values():
        for bad in agreement.get("rejected", []):
            label_id = f" ({bad['id']})" if bad.get("id") else ""
            err.print(
                f"[yellow]skipped label {Path(agreement['labels']).name} {bad['where']}{label_id}: "
                f"{bad['reason']}[/yellow]",
                highlight=False,
            )
    skipped_labels = sum(len(a.get("rejected", [])) for a in (run.agreement or {}).values())
    report = run.to_json()
    paths = write_reports(report, reports_dir, chart=not no_chart)
    faithfulness = run.faithfulness
    below = min_faithfulness is not None and (faithfulness is None or faithfulness < min_faithfulness)
    if as_json:
        emit_json(
            {
                "judge": run.judge,
                "answer_model": run.answer_model,
                "dataset": str(dataset),
                "seconds": report["seconds"],
                "metrics": report["metrics"],
                "judge_agreement": report["judge_agreement"],
                "reports": {k: str(p) for k, p in paths.items()},
                "min_faithfulness": min_faithfulness,
                "passed": not below,
            }
        )
    else:
        _print_table(_wide(_out_console()), report)
        click.echo(
            f"reports: {paths['json']}  {paths['md']}" + (f"  {paths['png']}" if "png" in paths else "")
        )
    if below:
        shown = "n/a" if faithfulness is None else f"{faithfulness:.3f}"
        err.print(f"[bold red]faithfulness {shown} is below --min-faithfulness {min_faithfulness}[/bold red]")
        sys.exit(EXIT_BELOW_THRESHOLD)
    if rejected:
        err.print(
            f"[yellow]{len(rejected)} case(s) of {dataset.name} were not valid and were skipped; "
            f"the scores cover the other {len(cases)}[/yellow]"
        )
    if skipped_labels:
        err.print(f"[yellow]{skipped_labels} judge label(s) were not valid and were skipped[/yellow]")
    if rejected or skipped_labels:
        sys.exit(EXIT_PARTIAL)


def _print_table(console: Any, report: dict[str, Any]) -> None:
    from rich.table import Table

    from .report import agreement_line, agreement_sets, metrics_rows

    header, rows = metrics_rows(report)
    n = report["n_cases"]
    console.print(
        f"citecraft eval — judge: {report['judge']} — answers: {report['answer_model']} — "
        f"{n} case{'s' if n != 1 else ''} in {report['seconds']:.1f}s",
        soft_wrap=True,
    )
    table = Table()
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    sets = agreement_sets(report)
    if sets:
        console.print(
            f"judge agreement with hand labels ({sets[0][1]['judge']}; thresholds fitted on the "
            "calibration set, checks developed on it and the held-out set, the test set never used "
            "for tuning):",
            highlight=False,
        )
        for name, agreement in sets:
            console.print(f"  {agreement_line(name, agreement)}", highlight=False)


def _make_reports_dir(path: Path) -> None:
    """Create the report directory before the evaluation runs, so a bad --out fails in a second, not after."""
    from .errors import InputError

    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path} is a file", "give a directory for the reports")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {path}: cannot create the report directory ({exc.strerror})") from None


def _print_compare(a: Path, b: Path, as_json: bool) -> None:
    from .cli import _err_console, _out_console, emit_json
    from .report import compare

    result = compare(a, b)
    if as_json:
        emit_json(result)
        return
    from rich.table import Table

    console = _wide(_out_console())
    if not result["same_dataset"]:
        _err_console().print(
            "[yellow]the reports cover different datasets or case counts: the differences mix "
            "pipeline changes with dataset changes[/yellow]"
        )
    if not result["same_judge"]:
        _err_console().print(
            f"[yellow]the reports were judged differently: {result['a']['judge']} vs "
            f"{result['b']['judge']}[/yellow]"
        )
    table = Table(
        title=f"A = {a} ({result['a']['judge']})\nB = {b} ({result['b']['judge']})", title_justify="left"
    )
    for h in ("kind", "metric", "A", "B", "B - A"):
        table.add_column(h, justify="left" if h in ("kind", "metric") else "right")
    for row in result["rows"]:
        d = row["delta"]
        delta = "–" if d is None else f"{d:+.3f}"
        style = "" if d is None or abs(d) < 1e-9 else ("green" if d > 0 else "red")
        table.add_row(
            row["kind"],
            row["metric"],
            _num(row["a"]),
            _num(row["b"]),
            f"[{style}]{delta}[/{style}]" if style else delta,
        )
    console.print(table)
    changed = sum(1 for r in result["rows"] if r["delta"] is not None and abs(r["delta"]) > 1e-9)
    click.echo(f"{changed} metric(s) differ")


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _wide(console: Any) -> Any:
    """Tables are wide: when printing to a file or pipe, do not squeeze them into 80 columns."""
    if console.is_terminal:
        return console
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=160)


def default_reports_dir(dataset: Path) -> Path:
    """reports/ next to the dataset (evals/reports in a checkout); under the home for the copy in an installed package."""
    from .settings import Settings

    package = Path(__file__).resolve().parent
    if package in dataset.resolve().parents:
        return Settings().home / "reports"
    return dataset.parent / "reports"
