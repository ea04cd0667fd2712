"""`citecraft ask` as a user runs it: a real process on the bundled index, JSON / Markdown / BibTeX out."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

from citecraft.prompts import ABSTAIN_PHRASE
from citecraft.readers import read_file
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI

NERV_QUESTION = "Which datasets does NeRV++ evaluate on?"
NERV_TITLE = "NERV++: An Enhanced Implicit Neural Video Representation"
NERV_ID = "nerv-enhanced-implicit-neural-ead2d32f"
DIFFUSION_QUESTION = "Which papers study diffusion models for image generation?"
TOP_KEYS = {
    "question",
    "answer",
    "abstained",
    "citations",
    "removed_citations",
    "model",
    "usage",
    "timings_ms",
}
CITATION_KEYS = {"n", "paper_id", "title", "date", "quote"}
USAGE_KEYS = {"prompt_tokens", "completion_tokens", "cost_usd"}


def ask_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    code, out, err = run_cli("ask", "--json", *args, env=env)
    assert code == 0, err
    assert "Traceback" not in err
    return json.loads(out)


def check_shape(data: dict[str, Any]) -> None:
    assert set(data) in (TOP_KEYS, TOP_KEYS | {"uncited_sentences"})
    assert isinstance(data["question"], str) and isinstance(data["answer"], str)
    assert isinstance(data["abstained"], bool)
    assert isinstance(data["model"], str)
    assert isinstance(data["removed_citations"], list)
    for c in data["citations"]:
        assert set(c) == CITATION_KEYS
        assert isinstance(c["n"], int) and isinstance(c["paper_id"], str) and isinstance(c["title"], str)
        assert c["date"] is None or isinstance(c["date"], str)
        assert isinstance(c["quote"], str) and c["quote"]
    assert set(data["usage"]) == USAGE_KEYS
    assert isinstance(data["usage"]["prompt_tokens"], int) and isinstance(
        data["usage"]["completion_tokens"], int
    )
    assert data["usage"]["cost_usd"] is None or isinstance(data["usage"]["cost_usd"], float)
    assert isinstance(data["timings_ms"], dict)
    assert all(isinstance(v, int | float) for v in data["timings_ms"].values())


def test_ask_json_matches_the_spec(readonly_bundled: Path) -> None:
    data = ask_json(NERV_QUESTION)
    check_shape(data)
    assert data["question"] == NERV_QUESTION
    assert data["abstained"] is False
    assert data["model"] == "extractive"
    assert data["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": None}
    assert "UVG" in data["answer"]
    nerv = [c for c in data["citations"] if c["paper_id"] == NERV_ID]
    assert len(nerv) == 1
    assert nerv[0]["title"] == NERV_TITLE and nerv[0]["date"] == "2024-02-28"
    assert f"[{nerv[0]['n']}]" in data["answer"]
    assert data["removed_citations"] == []


def test_ask_json_abstains_off_topic(readonly_bundled: Path) -> None:
    data = ask_json("What is the best sourdough bread recipe?")
    check_shape(data)
    assert data["abstained"] is True
    assert data["answer"] == ABSTAIN_PHRASE
    assert data["citations"] == []


def test_ask_markdown_has_a_references_section(readonly_bundled: Path) -> None:
    code, out, err = run_cli("ask", NERV_QUESTION)
    assert code == 0, err
    body, sep, refs = out.partition("\n## References\n")
    assert sep, out
    assert "UVG" in body
    ref_lines = [line for line in refs.splitlines() if line.strip()]
    assert ref_lines and all(re.match(r"^\[\d+\] .+ \(.+\) — `[^`]+`$", line) for line in ref_lines), (
        ref_lines
    )
    nerv = [line for line in ref_lines if NERV_ID in line]
    assert len(nerv) == 1
    n = re.match(r"^\[(\d+)\]", nerv[0]).group(1)  # type: ignore[union-attr]
    assert nerv[0] == f"[{n}] {NERV_TITLE} (2024-02-28) — `{NERV_ID}`"
    assert f"[{n}]" in body


def test_ask_markdown_abstention_has_no_references(readonly_bundled: Path) -> None:
    code, out, err = run_cli("ask", "What is the best sourdough bread recipe?")
    assert code == 0, err
    assert out.strip() == ABSTAIN_PHRASE


def test_ask_bib_writes_the_cited_papers(readonly_bundled: Path, tmp_path: Path) -> None:
    bib = tmp_path / "out.bib"
    data = ask_json(NERV_QUESTION, "--bib", str(bib))
    assert data["citations"]
    result = read_file(bib)
    assert result.problems == []
    assert [p.title for p in result.papers] == [c["title"] for c in data["citations"]]
    nerv = next(p for p in result.papers if p.title == NERV_TITLE)
    assert nerv.year == 2024
    assert "UVG, MCL JVC, and Bunny datasets" in nerv.abstract


def test_ask_bib_round_trips_an_abstract_with_latex(readonly_bundled: Path, tmp_path: Path) -> None:
    bib = tmp_path / "strip.bib"
    data = ask_json("What does Strip-MLP improve on Caltech-101?", "--bib", str(bib))
    assert [c["title"] for c in data["citations"]] == [
        "Strip-MLP: Efficient Token Interaction for Vision MLP"
    ]
    result = read_file(bib)
    assert result.problems == []
    assert [p.title for p in result.papers] == ["Strip-MLP: Efficient Token Interaction for Vision MLP"]


def test_ask_since_is_respected(readonly_bundled: Path) -> None:
    def dated_after(d: str | None) -> bool:
        return (
            d is not None
            and re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) is not None
            and date.fromisoformat(d) >= date(2024, 1, 1)
        )

    unfiltered = ask_json(DIFFUSION_QUESTION)
    assert not all(dated_after(c["date"]) for c in unfiltered["citations"])  # the filter has work to do
    data = ask_json(DIFFUSION_QUESTION, "--since", "2024-01-01")
    assert data["abstained"] is False
    assert data["citations"]
    assert all(dated_after(c["date"]) for c in data["citations"]), [c["date"] for c in data["citations"]]


def test_ask_with_a_bad_since_date_is_one_line(readonly_bundled: Path) -> None:
    code, out, err = run_cli("ask", NERV_QUESTION, "--since", "last tuesday")
    assert "Traceback" not in err
    assert out == ""
    assert err.strip().splitlines() == [
        "error: --since 'last tuesday' is not a date (use YYYY-MM-DD or YYYY)"
    ]


def test_ask_uses_the_llm_and_validates_its_citations(readonly_bundled: Path) -> None:
    def responder(body: dict[str, Any]) -> str:
        prompt = "\n".join(m["content"] for m in body["messages"])
        n = re.search(rf"(?m)^\[(\d+)\] {re.escape(NERV_TITLE)} \(", prompt).group(1)  # type: ignore[union-attr]
        return f"NeRV++ is evaluated on the UVG, MCL JVC and Bunny datasets [{n}]. It beats every codec [9]."

    with FakeOpenAI(responder, require_key="sk-test") as srv:
        data = ask_json(
            NERV_QUESTION,
            "--base-url",
            srv.base_url,
            "--model",
            "fake-model",
            "-k",
            "4",
            env={"OPENAI_API_KEY": "sk-test"},
        )
        requests = srv.chat_requests
    check_shape(data)
    assert len(requests) == 1
    assert requests[0]["model"] == "fake-model"
    prompt = "\n".join(m["content"] for m in requests[0]["messages"])
    assert f"Question: {NERV_QUESTION}" in prompt
    assert re.findall(r"(?m)^\[(\d+)\] ", prompt) == ["1", "2", "3", "4"]
    n = int(re.search(rf"(?m)^\[(\d+)\] {re.escape(NERV_TITLE)} \(", prompt).group(1))  # type: ignore[union-attr]
    assert data["model"] == "fake-model"
    assert data["abstained"] is False
    assert (
        data["answer"]
        == f"NeRV++ is evaluated on the UVG, MCL JVC and Bunny datasets [{n}]. It beats every codec."
    )
    assert [(c["n"], c["paper_id"]) for c in data["citations"]] == [(n, NERV_ID)]
    assert [r["n"] for r in data["removed_citations"]] == [9]
    assert data["usage"]["prompt_tokens"] > 0 and data["usage"]["completion_tokens"] > 0
    assert data["usage"]["cost_usd"] is None


def test_ask_with_a_model_and_no_key_is_a_one_line_error(readonly_bundled: Path) -> None:
    code, out, err = run_cli("ask", NERV_QUESTION, "--model", "gpt-4o-mini")
    assert code == 2
    assert "Traceback" not in err
    assert out == ""
    assert err.strip().splitlines() == [
        "error: model 'gpt-4o-mini' needs OPENAI_API_KEY, or --base-url for a local server "
        "(or drop --model to use the offline extractive engine)"
    ]
