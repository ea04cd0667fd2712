"""The evaluation harness: run_eval on real cases, the `citecraft eval` command, reports, comparisons."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from citecraft.answer import Answerer
from citecraft.cli import main
from citecraft.errors import InputError
from citecraft.evaluate import Case, load_dataset, run_eval
from citecraft.index import Index
from citecraft.judge import OfflineJudge, strip_markers
from citecraft.report import compare, to_markdown, write_reports
from citecraft.settings import Settings
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "evals" / "dataset.yaml"


def first_of_each_kind(
    kinds: tuple[str, ...] = ("fact", "multi", "topic", "unanswerable", "filter"),
) -> list[dict]:
    rows = yaml.safe_load(DATASET.read_text("utf-8"))
    return [next(r for r in rows if r["kind"] == kind) for kind in kinds]


@pytest.fixture
def small_dataset(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(first_of_each_kind(), sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def index(readonly_bundled: Path) -> Index:
    return Index(Settings())


def test_run_eval_scores_every_kind(index: Index, small_dataset: Path) -> None:
    cases = load_dataset(small_dataset)
    seen: list[tuple[int, int]] = []
    run = run_eval(
        index,
        cases,
        Answerer(index),
        OfflineJudge.from_index(index),
        progress=lambda done, total: seen.append((done, total)),
        dataset=str(small_dataset),
    )
    assert seen == [(i, 5) for i in range(1, 6)]
    assert run.judge == "offline" and run.answer_model == "extractive" and run.topic_engine == "summarize"
    by_id = {r.case.id: r for r in run.results}
    fact = by_id["fact-001"].scores
    assert fact["recall@5"] == fact["recall@20"] == 1.0
    assert {
        "gold_citation_precision",
        "alce_citation_recall",
        "alce_citation_precision",
        "faithfulness",
        "fact_coverage",
    } <= set(fact)
    topic = next(r for r in run.results if r.case.kind == "topic")
    assert "topic_completeness" in topic.scores
    unanswerable = next(r for r in run.results if r.case.kind == "unanswerable")
    assert "abstention" in unanswerable.scores and "recall@5" not in unanswerable.scores
    assert set(run.table) == {"fact", "multi", "topic", "unanswerable", "filter", "overall"}
    assert run.table["overall"]["n"] == 5
    report = run.to_json()
    assert report["judge"] == "offline" and report["n_cases"] == 5
    json.dumps(report)  # serialisable


def test_topic_cases_fall_back_to_ask_without_the_summarizer(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    import citecraft.evaluate as evaluate

    monkeypatch.setattr(evaluate, "topic_summarizer", lambda: None)
    case = Case(**first_of_each_kind(("topic",))[0])
    run = run_eval(index, [case], Answerer(index), OfflineJudge.from_index(index))
    assert run.topic_engine == "ask"
    assert run.results[0].answer["question"] == case.question  # an Answer, not a Summary


def test_eval_cli_writes_reports_and_names_the_judge(
    readonly_bundled: Path, small_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    code, stdout, stderr = run_cli("eval", str(small_dataset), "--out", str(out))
    assert code == 0, stderr
    assert "judge: offline" in stdout
    assert re.search(r"faithfulness\s.*\d\.\d{3}", stdout)
    stamped = sorted(out.glob("small-offline-*.json"))
    assert len(stamped) == 1 and stamped[0].with_suffix(".md").exists()
    latest = json.loads((out / "latest-offline.json").read_text("utf-8"))
    assert latest["judge"] == "offline" and latest["n_cases"] == 5
    assert latest["metrics"]["overall"]["n"] == 5
    md = (out / "latest-offline.md").read_text("utf-8")
    assert "judge: **offline**" in md and "| faithfulness |" in md


def test_min_faithfulness_fails_the_run(
    readonly_bundled: Path,
    small_dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "reports"
    assert (
        main(["eval", str(small_dataset), "--out", str(out), "--min-faithfulness", "0.5", "--no-chart"]) == 0
    )
    # a judge that finds nothing supported: faithfulness 0 is below the gate
    monkeypatch.setattr(OfflineJudge, "supports", lambda self, claim, evidence: False)
    (out / "latest-offline.json").unlink()
    code = main(["eval", str(small_dataset), "--out", str(out), "--min-faithfulness", "0.5", "--no-chart"])
    assert code == 1
    assert "faithfulness 0.000 is below --min-faithfulness 0.5" in capsys.readouterr().err
    assert (out / "latest-offline.json").exists()  # the reports are written all the same
    # a gate no score can pass is a usage error, before anything runs
    assert (
        main(["eval", str(small_dataset), "--out", str(tmp_path / "r2"), "--min-faithfulness", "1.01"]) == 2
    )
    assert not (tmp_path / "r2").exists()


def test_json_output_and_judge_agreement(
    readonly_bundled: Path, small_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--labels FILE measures that one file only."""
    code = main(
        [
            "eval",
            str(small_dataset),
            "--out",
            str(tmp_path / "r"),
            "--judge-agreement",
            "--json",
            "--no-chart",
            "--labels",
            str(REPO / "evals" / "judge_labels.yaml"),
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["judge"] == "offline" and data["passed"] is True
    assert list(data["judge_agreement"]) == ["calibration"]
    assert data["judge_agreement"]["calibration"]["accuracy"] == 1.0  # 52/52 (see test_judge.py)
    assert data["judge_agreement"]["calibration"]["set"] == "calibration"
    assert set(data["reports"]) >= {"json", "md", "latest_json", "latest_md"}


def _label_dir(tmp_path: Path, heldout: bool, test: bool = False) -> Path:
    """A one-case dataset beside the first rows of the real calibration (and held-out, and test) label files."""
    d = tmp_path / "evals"
    d.mkdir()
    (d / "one.yaml").write_text(
        yaml.safe_dump(first_of_each_kind(("fact",)), sort_keys=False), encoding="utf-8"
    )
    files = {"judge_labels.yaml": (0, 2, 30)}  # label rows 1-2 are supported, row 31 is not
    if heldout:
        files["judge_labels_heldout.yaml"] = (0, 1, 2, 45, 50)  # rows 1-3 supported, 46 and 51 not
    if test:
        files["judge_labels_test.yaml"] = (0, 1, 40, 50)  # rows 1-2 supported, 41 and 51 not
    for name, picks in files.items():
        rows = yaml.safe_load((REPO / "evals" / name).read_text("utf-8"))
        (d / name).write_text(yaml.safe_dump([rows[i] for i in picks], sort_keys=False), encoding="utf-8")
    return d


def test_judge_agreement_reports_calibration_heldout_and_test_separately(
    readonly_bundled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _label_dir(tmp_path, heldout=True, test=True)
    out = tmp_path / "reports"
    assert main(["eval", str(d / "one.yaml"), "--out", str(out), "--judge-agreement", "--no-chart"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "latest-offline.json").read_text("utf-8"))
    agreement = report["judge_agreement"]
    assert list(agreement) == ["calibration", "held_out", "test"]
    calibration, heldout, test = agreement["calibration"], agreement["held_out"], agreement["test"]
    assert (calibration["n"], heldout["n"], test["n"]) == (3, 5, 4)
    assert Path(calibration["labels"]) == d / "judge_labels.yaml"
    assert Path(heldout["labels"]) == d / "judge_labels_heldout.yaml"
    assert Path(test["labels"]) == d / "judge_labels_test.yaml"
    assert (calibration["set"], heldout["set"], test["set"]) == ("calibration", "held_out", "test")
    assert "never used for tuning" in test["about"] and "developing" in heldout["about"]
    for a, (n_supported, n_unsupported) in ((calibration, (2, 1)), (heldout, (3, 2)), (test, (2, 2))):
        c = a["confusion"]
        assert c["supported_as_supported"] + c["supported_as_unsupported"] == n_supported
        assert c["unsupported_as_unsupported"] + c["unsupported_as_supported"] == n_unsupported
        assert a["accuracy"] == round(
            (c["unsupported_as_unsupported"] + c["supported_as_supported"]) / a["n"], 4
        )
    # the printed summary and the Markdown name every set and what it was used for, in this order
    lines = [line.strip() for line in printed.splitlines()]
    cal_line = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("calibration (thresholds fitted) — judge_labels.yaml, 3 labels:")
    )
    held_line = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("held-out (used for development) — judge_labels_heldout.yaml, 5 labels:")
    )
    test_line = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("test (never used for tuning) — judge_labels_test.yaml, 4 labels:")
    )
    assert cal_line < held_line < test_line
    assert f"accuracy {heldout['accuracy']:.3f}" in lines[held_line]
    assert f"accuracy {test['accuracy']:.3f}" in lines[test_line]
    md = (out / "latest-offline.md").read_text("utf-8")
    assert (
        md.index("### calibration (thresholds fitted): judge_labels.yaml")
        < md.index("### held-out (used for development): judge_labels_heldout.yaml")
        < md.index("### test (never used for tuning): judge_labels_test.yaml")
    )
    assert (
        "on 3 labelled sentences" in md
        and "on 5 labelled sentences" in md
        and "on 4 labelled sentences" in md
    )


@pytest.mark.parametrize(
    ("test", "sets", "sizes"),
    [
        (False, ["calibration"], {"calibration": 3}),
        (True, ["calibration", "test"], {"calibration": 3, "test": 4}),
    ],
    ids=["calibration-only", "calibration-and-test"],
)
def test_judge_agreement_reports_only_the_label_files_present(
    readonly_bundled: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    test: bool,
    sets: list[str],
    sizes: dict[str, int],
) -> None:
    d = _label_dir(tmp_path, heldout=False, test=test)
    args = [
        "eval",
        str(d / "one.yaml"),
        "--out",
        str(tmp_path / "r"),
        "--judge-agreement",
        "--no-chart",
        "--json",
    ]
    assert main(args) == 0
    agreement = json.loads(capsys.readouterr().out)["judge_agreement"]
    assert list(agreement) == sets
    assert {name: agreement[name]["n"] for name in sets} == sizes


def test_markdown_of_a_report_with_the_old_single_agreement() -> None:
    """Reports written before the held-out set hold one agreement dict: still rendered."""
    report = {
        "dataset": "d.yaml",
        "judge": "offline",
        "answer_model": "extractive",
        "created": "2026",
        "seconds": 1.0,
        "n_cases": 0,
        "metrics": {},
        "judge_agreement": {
            "judge": "offline",
            "n": 2,
            "accuracy": 0.5,
            "precision_unsupported": 1.0,
            "recall_unsupported": 0.5,
            "labels": "evals/judge_labels.yaml",
            "errors": [],
            "confusion": {
                "unsupported_as_unsupported": 1,
                "supported_as_unsupported": 0,
                "unsupported_as_supported": 1,
                "supported_as_supported": 0,
            },
        },
    }
    md = to_markdown(report)
    assert "### labels: judge_labels.yaml" in md and "offline on 2 labelled sentences: accuracy 0.500" in md


def _report(tmp_path: Path, name: str, faithfulness: float, judge: str = "offline") -> Path:
    data = {
        "dataset": "d.yaml",
        "judge": judge,
        "answer_model": "extractive",
        "created": "2026-01-01T00:00:00Z",
        "seconds": 1.0,
        "n_cases": 2,
        "metrics": {
            "fact": {"faithfulness": faithfulness, "recall@5": 1.0, "n": 2},
            "overall": {"faithfulness": faithfulness, "recall@5": 1.0, "n": 2},
        },
    }
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_compare_prints_the_differences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _report(tmp_path, "a.json", 0.75), _report(tmp_path, "b.json", 0.5, judge="llm:x")
    result = compare(a, b)
    faith = [r for r in result["rows"] if r["metric"] == "faithfulness"]
    assert [(r["kind"], r["delta"]) for r in faith] == [("fact", -0.25), ("overall", -0.25)]
    assert result["same_judge"] is False
    assert main(["eval", "--compare", str(a), str(b)]) == 0
    captured = capsys.readouterr()
    assert "-0.250" in captured.out and "faithfulness" in captured.out
    assert "2 metric(s) differ" in captured.out
    assert "judged differently" in captured.err


def test_compare_rejects_a_file_that_is_not_a_report(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    good = _report(tmp_path, "a.json", 1.0)
    assert main(["eval", "--compare", str(good), str(bad)]) == 2


def test_compare_rejects_metrics_that_are_not_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"metrics": {"overall": 5}}), encoding="utf-8")
    assert main(["eval", "--compare", str(_report(tmp_path, "a.json", 1.0)), str(bad)]) == 2
    assert "metrics for 'overall' are not a table" in capsys.readouterr().err


def test_compare_warns_when_the_datasets_differ(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _report(tmp_path, "a.json", 1.0)
    b = tmp_path / "b.json"
    b.write_text(json.dumps({**json.loads(a.read_text("utf-8")), "n_cases": 3}), encoding="utf-8")
    assert main(["eval", "--compare", str(a), str(b)]) == 0
    assert "different datasets or case counts" in " ".join(capsys.readouterr().err.split())
    assert main(["eval", "--compare", str(a), str(a)]) == 0
    assert "different datasets" not in capsys.readouterr().err


def test_eval_out_that_is_a_file_fails_before_running(
    readonly_bundled: Path, small_dataset: Path, tmp_path: Path
) -> None:
    target = tmp_path / "afile"
    target.write_text("x", encoding="utf-8")
    code, out, err = run_cli("eval", str(small_dataset), "--out", str(target))
    assert code == 2 and "is a file" in err and "judge:" not in err


def test_reports_without_matplotlib_skip_the_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    report = json.loads(_report(tmp_path, "a.json", 1.0).read_text("utf-8"))
    paths = write_reports(report, tmp_path / "out")
    assert "png" not in paths and paths["latest_md"].exists()
    assert "![" not in to_markdown(report)
    assert paths["json"].name.startswith("d-offline-20260101T000000")


def test_the_eval_command_keeps_the_cli_import_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, citecraft.cli; heavy = [m for m in ('citecraft.judge', 'citecraft.evaluate', "
        "'citecraft.report', 'numpy', 'matplotlib') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- an LLM judge end to end (scripted server) ---------------------------------------------------


def _judge_replies(body: dict[str, Any]) -> str:
    prompt = "\n".join(m["content"] for m in body["messages"])
    if "atomic factual claims" in prompt:
        answer = prompt.split("<<<", 1)[1].rsplit(">>>", 1)[0]
        first = strip_markers(answer.strip().splitlines()[0])
        return json.dumps({"claims": [first, "An invented claim that no abstract makes [1]"]})
    return json.dumps({"supported": "invented claim" not in prompt})


@pytest.fixture
def judge_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(responder=_judge_replies) as server:
        yield server


def test_eval_with_an_llm_judge(
    readonly_bundled: Path, tmp_path: Path, judge_server: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "one.yaml"
    dataset.write_text(yaml.safe_dump(first_of_each_kind(("fact",)), sort_keys=False), encoding="utf-8")
    out = tmp_path / "reports"
    code = main(
        [
            "eval",
            str(dataset),
            "--judge",
            "fake-model",
            "--base-url",
            judge_server.base_url,
            "--out",
            str(out),
            "--no-chart",
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["judge"] == "llm:fake-model"
    assert data["answer_model"] == "extractive"  # --base-url alone does not switch the answers to an LLM
    assert data["metrics"]["overall"]["faithfulness"] == 0.5  # 2 claims, 1 supported
    assert data["metrics"]["overall"]["alce_citation_recall"] == 1.0
    assert (out / "latest-llm-fake-model.json").exists()


BAD_CASES = """\
- id: good-1
  kind: fact
  question: "What does NIRVANA improve?"
  gold: [nirvana-neural-implicit-representations-fc3a787b]
- id: broken
  kind: fact
  question: "an unterminated quote
  gold: [x]
- id: no-kind
  question: "Which kind?"
- id: opinion-1
  kind: opinion
  question: "Is this good?"
- id: gold-as-text
  kind: fact
  question: "What is HNeRV?"
  gold: hnerv-hybrid-neural-representation-5d0a550f
- id: unanswerable-with-gold
  kind: unanswerable
  question: "What is the capital of France?"
  gold: [nirvana-neural-implicit-representations-fc3a787b]
- id: fact-without-gold
  kind: fact
  question: "What is HNeRV?"
- id: bad-filter
  kind: filter
  question: "Which INR papers since?"
  gold: [nirvana-neural-implicit-representations-fc3a787b]
  filters: {since: "last spring"}
- id: good-1
  kind: fact
  question: "A second case with the same id?"
  gold: [nirvana-neural-implicit-representations-fc3a787b]
- id: unknown-paper
  kind: fact
  question: "What does a paper we do not have say?"
  gold: [no-such-paper-00000000]
- id: good-2
  kind: unanswerable
  question: "What is the capital of France?"
"""


def test_read_dataset_rejects_each_bad_case_alone(tmp_path: Path) -> None:
    from citecraft.evaluate import read_dataset

    path = tmp_path / "mixed.yaml"
    path.write_text(BAD_CASES, encoding="utf-8")
    cases, rejected = read_dataset(path, known=lambda pid: not pid.startswith("no-such"))
    assert [c.id for c in cases] == ["good-1", "good-2"]
    reasons = {(r.where, r.case_id): r.reason for r in rejected}
    assert list(reasons) == [
        ("line 5", None),
        ("line 9", "no-kind"),
        ("line 11", "opinion-1"),
        ("line 14", "gold-as-text"),
        ("line 18", "unanswerable-with-gold"),
        ("line 22", "fact-without-gold"),
        ("line 25", "bad-filter"),
        ("line 30", "good-1"),
        ("line 34", "unknown-paper"),
    ]
    assert reasons[("line 5", None)].startswith("not valid YAML")
    assert reasons[("line 9", "no-kind")] == "missing kind"
    assert "unknown kind 'opinion'" in reasons[("line 11", "opinion-1")]
    assert "must be a list" in reasons[("line 14", "gold-as-text")]
    assert "no gold papers" in reasons[("line 18", "unanswerable-with-gold")]
    assert "needs gold papers" in reasons[("line 22", "fact-without-gold")]
    assert "last spring" in reasons[("line 25", "bad-filter")]
    assert reasons[("line 30", "good-1")] == "duplicate id"
    assert reasons[("line 34", "unknown-paper")] == "paper not in the index: no-such-paper-00000000"
    with pytest.raises(InputError, match="8 bad case"):
        load_dataset(path)


def test_read_dataset_jsonl_keeps_the_lines_that_parse(tmp_path: Path) -> None:
    from citecraft.evaluate import read_dataset

    good = {"id": "u1", "kind": "unanswerable", "question": "What is the capital of France?"}
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(good) + "\n{not json\n\n" + json.dumps({**good, "id": "u2"}) + "\n", "utf-8")
    cases, rejected = read_dataset(path)
    assert [c.id for c in cases] == ["u1", "u2"]
    assert [(r.where, r.reason) for r in rejected] == [
        ("line 2", "not valid JSON: Expecting property name enclosed in double quotes at column 2")
    ]


def test_eval_cli_skips_invalid_cases_and_exits_6(readonly_bundled: Path, tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(BAD_CASES, encoding="utf-8")
    out = tmp_path / "reports"
    code, _stdout, stderr = run_cli("eval", str(path), "--out", str(out), "--no-chart")
    assert code == 6, stderr
    assert "skipped mixed.yaml line 34 (unknown-paper): paper not in the index" in " ".join(stderr.split())
    report = json.loads((out / "latest-offline.json").read_text("utf-8"))
    assert report["n_cases"] == 2 and len(report["rejected"]) == 9
    assert "**9 invalid case(s) skipped**" in (out / "latest-offline.md").read_text("utf-8")


def test_eval_cli_with_no_valid_case_writes_nothing(readonly_bundled: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text('- id: a\n  kind: fact\n  question: "x\n', encoding="utf-8")
    out = tmp_path / "reports"
    code, _stdout, stderr = run_cli("eval", str(path), "--out", str(out))
    assert code == 2
    assert "no case can be evaluated" in stderr and "not valid YAML" in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_judge_agreement_skips_bad_labels_alone(
    readonly_bundled: Path, small_dataset: Path, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.yaml"
    labels.write_text(
        '- sentence: "NIRVANA models videos with adaptive networks [1]."\n'
        "  cited: [nirvana-neural-implicit-representations-fc3a787b]\n"
        "  label: supported\n"
        '- sentence: "an unterminated quote\n'
        '- sentence: "Cites a paper the index does not hold [1]."\n'
        "  cited: [no-such-paper-00000000]\n"
        "  label: supported\n"
        '- sentence: "A label that is neither [1]."\n'
        "  cited: [nirvana-neural-implicit-representations-fc3a787b]\n"
        "  label: maybe\n",
        encoding="utf-8",
    )
    out = tmp_path / "reports"
    code, _stdout, stderr = run_cli(
        "eval",
        str(small_dataset),
        "--judge-agreement",
        "--labels",
        str(labels),
        "--out",
        str(out),
        "--no-chart",
    )
    assert code == 6, stderr
    report = json.loads((out / "latest-offline.json").read_text("utf-8"))
    agreement = report["judge_agreement"]["labels"]
    assert agreement["n"] == 1
    assert [(r["where"], r["reason"].split(" (")[0].split(":")[0]) for r in agreement["rejected"]] == [
        ("line 4", "not valid YAML"),
        ("line 5", "cited paper not in the index"),
        ("line 8", "needs sentence, cited"),
    ]
    assert "3 judge label(s) were not valid" in " ".join(stderr.split())


def test_a_case_whose_question_is_blank_is_rejected(tmp_path: Path) -> None:
    from citecraft.evaluate import read_dataset

    path = tmp_path / "blank.yaml"
    path.write_text('- id: blank\n  kind: unanswerable\n  question: "   "\n', encoding="utf-8")
    cases, rejected = read_dataset(path)
    assert cases == [] and [(r.case_id, r.reason) for r in rejected] == [("blank", "missing question")]


def test_labels_alone_asks_for_the_agreement(
    readonly_bundled: Path, small_dataset: Path, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.yaml"
    labels.write_text(
        '- sentence: "NIRVANA models videos with adaptive networks [1]."\n'
        "  cited: [nirvana-neural-implicit-representations-fc3a787b]\n  label: supported\n",
        encoding="utf-8",
    )
    out = tmp_path / "r"
    code, _stdout, stderr = run_cli(
        "eval", str(small_dataset), "--labels", str(labels), "--out", str(out), "--no-chart"
    )
    assert code == 0, stderr
    assert json.loads((out / "latest-offline.json").read_text("utf-8"))["judge_agreement"]["labels"]["n"] == 1
    empty = tmp_path / "empty.yaml"
    empty.write_text('- sentence: "no cited papers"\n', encoding="utf-8")
    code, _stdout, stderr = run_cli(
        "eval", str(small_dataset), "--labels", str(empty), "--out", str(tmp_path / "r2")
    )
    assert code == 2 and "no usable label" in stderr and "judge:" not in stderr  # before the evaluation


def test_a_dataset_with_a_document_marker_or_in_flow_style_keeps_every_case(tmp_path: Path) -> None:
    from citecraft.evaluate import read_dataset

    case = '{id: u%d, kind: unanswerable, question: "What is the capital of France?"}'
    marked = tmp_path / "marked.yaml"
    marked.write_text("---\n" + "".join(f"- {case % i}\n" for i in (1, 2)), encoding="utf-8")
    flow = tmp_path / "flow.yaml"
    flow.write_text("[" + ", ".join(case % i for i in (1, 2)) + "]\n", encoding="utf-8")
    for path in (marked, flow):
        cases, rejected = read_dataset(path)
        assert [c.id for c in cases] == ["u1", "u2"] and rejected == []
