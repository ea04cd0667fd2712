"""`citecraft summarize`: the topic sweep, the cited sub-theme summary, its JSON / BibTeX, and the LLM path."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from citecraft.errors import ModelError
from citecraft.index import Index
from citecraft.models import ChatModel, estimate_cost
from citecraft.papers import readable_date
from citecraft.readers import read_file
from citecraft.retrieve import Filters
from citecraft.settings import Settings
from citecraft.summarize import Summary, group_label, summarize_topic, topic_of
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI, Reply

TOPIC = "video implicit neural representations"
# gold papers of topic-001 in evals/dataset.yaml that are plainly about video INRs
VIDEO_INR = {
    "nerv-enhanced-implicit-neural-ead2d32f": "NERV++: An Enhanced Implicit Neural Video Representation",
    "hnerv-hybrid-neural-representation-5d0a550f": "HNeRV: A Hybrid Neural Representation for Videos",
    "nirvana-neural-implicit-representations-fc3a787b": "NIRVANA: Neural Implicit Representations of Videos with "
    "Adaptive Networks and Autoregressive Patch-wise Modeling",
    "progressive-fourier-neural-representatio-7a1d8403": "Progressive Fourier Neural Representation for Sequential "
    "Video Compilation",
}
NIRVANA = "nirvana-neural-implicit-representations-fc3a787b"  # dated 2022-12-30
FOUND = re.compile(r"^Found (\d+) papers? on (.+?)\.$")
BULLET = re.compile(r"^- \*\*(?P<short>.+?)\*\*(?: \((?P<year>\d{4})\))?: (?P<body>.+) \[(?P<n>\d+)\][.!?]$")
MARKER = re.compile(r"\[(\d+)\]")
TOP_KEYS = {
    "topic",
    "summary",
    "count",
    "papers",
    "groups",
    "citations",
    "removed_citations",
    "model",
    "usage",
    "timings_ms",
}
CITATION_KEYS = {"n", "paper_id", "title", "date", "quote"}


@pytest.fixture(scope="module")
def index(bundled_home: Path) -> Index:
    return Index(Settings(home=bundled_home))


@pytest.fixture(scope="module")
def summary(index: Index) -> Summary:
    return summarize_topic(index, TOPIC)


def ids(summary: Summary) -> list[str]:
    return [sp.paper.paper_id for sp in summary.papers]


def sections(text: str) -> list[tuple[str, list[str]]]:
    """The summary's `### heading` sections with their bullet lines."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("### "):
            out.append((line[4:], []))
        elif line.startswith("- "):
            assert out, f"bullet before any heading: {line!r}"
            out[-1][1].append(line)
    return out


# ---- offline -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Summarize all papers on spiking neural networks.", "spiking neural networks"),
        ("summarise the federated learning papers", "federated learning"),
        ("Which papers on neural architecture search were published in 2023?", "neural architecture search"),
        (TOPIC, TOPIC),
    ],
)
def test_topic_of_strips_the_request(text: str, topic: str) -> None:
    assert topic_of(text) == topic


def test_offline_summary_finds_the_video_inr_papers(summary: Summary) -> None:
    assert set(VIDEO_INR) <= set(ids(summary)), ids(summary)
    assert len(ids(summary)) == len(set(ids(summary)))
    first = summary.summary.splitlines()[0]
    m = FOUND.match(first)
    assert m, first
    assert int(m.group(1)) == len(summary.papers) == summary.to_json()["count"]
    assert m.group(2) == TOPIC
    assert summary.candidates >= len(summary.papers)
    assert summary.model == "extractive"
    assert (summary.usage.prompt_tokens, summary.usage.completion_tokens) == (0, 0)
    assert summary.removed_citations == []


def test_every_bullet_cites_its_own_paper(summary: Summary) -> None:
    bullets = [line for line in summary.summary.splitlines() if line.startswith("- ")]
    assert len(bullets) == len(summary.papers)
    seen = []
    for line in bullets:
        m = BULLET.match(line)
        assert m, line
        n = int(m.group("n"))
        assert 1 <= n <= len(summary.papers)
        paper = summary.papers[n - 1].paper
        assert paper.title.startswith(m.group("short").rstrip("…")), (m.group("short"), paper.title)
        assert m.group("year") == (paper.date[:4] if paper.date else None)
        assert not MARKER.search(m.group("body")), line  # one citation per bullet: its own paper's
        seen.append(n)
    assert seen == list(range(1, len(summary.papers) + 1))  # numbered in the order listed
    assert {int(n) for n in MARKER.findall(summary.summary)} == set(seen)


def test_groups_cover_each_paper_exactly_once(summary: Summary) -> None:
    assert summary.groups
    grouped = [pid for _, members in summary.groups for pid in members]
    assert grouped == ids(summary)  # every paper in exactly one group, numbered group by group
    assert all(members for _, members in summary.groups)
    parsed = sections(summary.summary)
    assert [heading for heading, _ in parsed] == [label for label, _ in summary.groups]
    for (_, bullets), (_, members) in zip(parsed, summary.groups, strict=True):
        cited = [
            summary.papers[int(BULLET.match(b).group("n")) - 1].paper.paper_id  # type: ignore[union-attr]
            for b in bullets
        ]
        assert cited == members


def test_citations_quote_each_papers_abstract(summary: Summary, index: Index) -> None:
    assert [c.n for c in summary.citations] == list(range(1, len(summary.papers) + 1))
    for c in summary.citations:
        sp = summary.papers[c.n - 1]
        assert (c.paper_id, c.title, c.date) == (sp.paper.paper_id, sp.paper.title, sp.paper.display_date())
        assert c.quote in sp.sentence_texts()
    nerv = next(c for c in summary.citations if c.paper_id == "nerv-enhanced-implicit-neural-ead2d32f")
    assert nerv.date == "2024-02-28"


def test_group_label_takes_words_in_title_order(index: Index) -> None:
    # "JanusVLN: Decoupling Semantics and Spatiality with Dual Implicit Memory for Vision-Language Navigation":
    # without idf every title word weighs the same, so the label is the first two that qualify, whatever the
    # hash seed; a name keeps its capitals
    janus = index.get("janusvln-decoupling-semantics-spatiality-6c8b345f")
    assert janus is not None
    assert group_label([janus], TOPIC) == "JanusVLN / decoupling"


def test_group_label_names_what_the_group_shares_beyond_the_topic(index: Index) -> None:
    from citecraft.answer import term_idf

    codecs = [
        sp
        for sp in index.papers().values()
        if re.search(r"codec", sp.paper.title, re.I) and "speech" in sp.paper.text.lower()
    ]
    assert len(codecs) >= 3
    label = group_label(codecs, "neural speech codecs", term_idf(index))
    assert "codec" not in label.lower() and "speech" not in label.lower()  # the topic's own words say nothing
    words = label.lower().split(" / ")
    assert len(words) == 2
    for word in words:  # each word is shared by at least two of the papers
        assert sum(word in sp.paper.text.lower() for sp in codecs) >= 2


def test_since_restricts_the_papers(index: Index, summary: Summary) -> None:
    assert NIRVANA in ids(summary)  # the filter has work to do
    result = summarize_topic(index, TOPIC, filters=Filters.parse(since="2023-01-01"))
    assert NIRVANA not in ids(result)
    assert {"nerv-enhanced-implicit-neural-ead2d32f", "hnerv-hybrid-neural-representation-5d0a550f"} <= set(
        ids(result)
    )
    for sp in result.papers:
        assert (
            sp.paper.date
            and re.fullmatch(r"\d{4}-\d{2}-\d{2}", sp.paper.date)
            and sp.paper.date >= "2023-01-01"
        )
    assert result.summary.splitlines()[0] == (
        f"Found {len(result.papers)} paper{'s' if len(result.papers) != 1 else ''} on {TOPIC} (since 2023-01-01)."
    )
    assert [c.paper_id for c in result.citations] == ids(result)


def test_a_filter_that_excludes_everything_finds_no_papers(index: Index) -> None:
    result = summarize_topic(index, TOPIC, filters=Filters.parse(since="2030-01-01"))
    assert result.summary == f"No papers in the collection are about {TOPIC}."
    data = result.to_json()
    assert (data["count"], data["papers"], data["citations"], data["groups"]) == (0, [], [], [])
    assert result.to_markdown() == result.summary


# ---- the CLI ---------------------------------------------------------------------------------


def summarize_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    code, out, err = run_cli("summarize", "--json", *args, env=env)
    assert code == 0, err
    assert "Traceback" not in err
    return json.loads(out)


def test_summarize_json_shape_and_stable_output(readonly_bundled: Path) -> None:
    data = summarize_json(TOPIC, env={"PYTHONHASHSEED": "1"})
    assert set(data) == TOP_KEYS
    assert data["topic"] == TOPIC
    assert data["model"] == "extractive"
    assert data["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": None}
    assert data["removed_citations"] == []
    papers = data["papers"]
    assert data["count"] == len(papers) == int(FOUND.match(data["summary"].splitlines()[0]).group(1))  # type: ignore[union-attr]
    assert all(set(p) == {"paper_id", "title", "date"} for p in papers)
    assert set(VIDEO_INR) <= {p["paper_id"] for p in papers}
    for p in papers:
        if p["paper_id"] in VIDEO_INR:
            assert p["title"] == VIDEO_INR[p["paper_id"]]
    assert [pid for g in data["groups"] for pid in g["paper_ids"]] == [p["paper_id"] for p in papers]
    assert all(set(g) == {"label", "paper_ids"} and g["label"] for g in data["groups"])
    for c in data["citations"]:
        assert set(c) == CITATION_KEYS
        assert isinstance(c["quote"], str) and c["quote"]
        assert papers[c["n"] - 1]["paper_id"] == c["paper_id"] and papers[c["n"] - 1]["date"] == c["date"]
        assert f"[{c['n']}]" in data["summary"]
    assert [c["paper_id"] for c in data["citations"]] == [p["paper_id"] for p in papers]
    # group labels and everything else must not change with the interpreter's hash seed
    again = summarize_json(TOPIC, env={"PYTHONHASHSEED": "2"})
    assert {k: v for k, v in again.items() if k != "timings_ms"} == {
        k: v for k, v in data.items() if k != "timings_ms"
    }


def test_summarize_markdown_and_bib(readonly_bundled: Path, tmp_path: Path, summary: Summary) -> None:
    bib = tmp_path / "video-inr.bib"
    code, out, err = run_cli("summarize", TOPIC, "--bib", str(bib))
    assert code == 0, err
    body, sep, refs = out.partition("\n## References\n")
    assert sep, out
    assert body.startswith(f"Found {len(summary.papers)} papers on {TOPIC}.")
    ref_lines = [line for line in refs.splitlines() if line.strip()]
    assert ref_lines == [
        f"[{c.n}] {c.title} ({readable_date(c.date)}) — `{c.paper_id}`" for c in summary.citations
    ]
    assert f"wrote {len(summary.citations)} BibTeX entries to {bib}" in " ".join(err.split())
    result = read_file(bib)
    assert result.problems == []
    assert [p.title for p in result.papers] == [c.title for c in summary.citations]
    nerv = next(p for p in result.papers if p.title == VIDEO_INR["nerv-enhanced-implicit-neural-ead2d32f"])
    assert nerv.year == 2024


# ---- the LLM path ----------------------------------------------------------------------------

HEADER = re.compile(r"(?m)^\[(\d+)\] (.+)$")


def prompt_of(body: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in body["messages"])


def is_relevance(prompt: str) -> bool:
    return "Decide which of the numbered papers" in prompt


def relevance_titles(prompt: str) -> dict[int, str]:
    papers = prompt.split("Papers:", 1)[1]
    return {int(n): title for n, title in HEADER.findall(papers)}


def synthesis_titles(prompt: str) -> dict[int, str]:
    papers = prompt.split("Papers:", 1)[1]
    return {int(n): title for n, title, _ in re.findall(r"(?m)^\[(\d+)\] (.+) \(([^()]*)\)$", papers)}


RELEVANCE_USAGE = {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240}
SYNTHESIS_USAGE = {"prompt_tokens": 900, "completion_tokens": 120, "total_tokens": 1020}


def video_inr_responder(verdict: str = "[{n}] {v}") -> Callable[[dict[str, Any]], Reply]:
    """Says yes to exactly the VIDEO_INR papers; writes a summary citing every paper, plus an invented [99]."""

    def respond(body: dict[str, Any]) -> Reply:
        prompt = prompt_of(body)
        if is_relevance(prompt):
            lines = [
                verdict.format(n=n, v="yes" if title in VIDEO_INR.values() else "no")
                for n, title in sorted(relevance_titles(prompt).items())
            ]
            return Reply("\n".join(lines), usage=RELEVANCE_USAGE)
        numbered = synthesis_titles(prompt)
        bullets = [
            f"- {title.split(':')[0]} encodes video in a network [{n}]."
            for n, title in sorted(numbered.items())
        ]
        return Reply(
            "### Video INRs\n\n" + "\n".join(bullets) + "\n- They beat every codec ever made [99].",
            usage=SYNTHESIS_USAGE,
        )

    return respond


@pytest.fixture
def srv() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(require_key="sk-test", models=("gpt-4o-mini",)) as server:
        yield server


def model(srv: FakeOpenAI) -> ChatModel:
    return ChatModel("gpt-4o-mini", base_url=srv.base_url, api_key="sk-test", timeout=10, max_retries=0)


def test_llm_relevance_check_keeps_only_the_yes_papers(index: Index, srv: FakeOpenAI) -> None:
    srv.responder = video_inr_responder()
    result = summarize_topic(index, TOPIC, model(srv))
    relevance, synthesis = (prompt_of(b) for b in srv.chat_requests)
    assert len(srv.chat_requests) == 2
    assert is_relevance(relevance) and f"Topic: {TOPIC}" in relevance
    judged = relevance_titles(relevance)
    assert set(VIDEO_INR.values()) <= set(judged.values())
    assert len(judged) > len(VIDEO_INR)  # there were 'no' papers to drop
    # only the 'yes' papers are kept, counted, and given to the synthesis, numbered 1..n
    assert set(ids(result)) == set(VIDEO_INR)
    assert result.to_json()["count"] == 4
    assert result.summary.startswith(f"Found 4 papers on {TOPIC}.\n")
    assert "summary of the 4 papers below" in synthesis
    assert synthesis_titles(synthesis) == {i: sp.paper.title for i, sp in enumerate(result.papers, 1)}
    # the invented marker is removed and reported; the real ones map to the numbered papers
    assert [r["n"] for r in result.removed_citations] == [99]
    assert "[99]" not in result.summary
    assert "They beat every codec ever made." in result.summary
    assert [(c.n, c.paper_id) for c in result.citations] == [(i, pid) for i, pid in enumerate(ids(result), 1)]
    assert "_Removed 1 citation(s)" in result.to_markdown()
    # usage is the sum of both calls
    assert result.model == "gpt-4o-mini"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (2100, 160)
    expected_cost = estimate_cost("gpt-4o-mini", 1200, 40) + estimate_cost("gpt-4o-mini", 900, 120)  # type: ignore[operator]
    assert result.usage.cost_usd == pytest.approx(expected_cost)


@pytest.mark.parametrize("verdict", ["[{n}]: {v}", "[{n}] - {V}", "[{n}] **{v}**"])
def test_llm_relevance_verdicts_in_near_miss_forms_are_read(
    index: Index, srv: FakeOpenAI, verdict: str
) -> None:
    def respond(body: dict[str, Any]) -> Reply:
        prompt = prompt_of(body)
        if is_relevance(prompt):
            yes = [n for n, title in relevance_titles(prompt).items() if title in VIDEO_INR.values()]
            return Reply(
                "\n".join(
                    verdict.format(n=n, v="yes" if n in yes else "no", V="Yes" if n in yes else "No")
                    for n in sorted(relevance_titles(prompt))
                )
            )
        return Reply(" ".join(f"Paper [{n}]." for n in sorted(synthesis_titles(prompt))))

    srv.responder = respond
    result = summarize_topic(index, TOPIC, model(srv))
    assert set(ids(result)) == set(VIDEO_INR)


def test_llm_saying_no_to_everything_finds_no_papers(index: Index, srv: FakeOpenAI) -> None:
    srv.responder = lambda body: "\n".join(f"[{n}] no" for n in relevance_titles(prompt_of(body)))
    result = summarize_topic(index, TOPIC, model(srv))
    assert len(srv.chat_requests) == 1  # nothing to synthesize
    assert result.papers == [] and result.citations == []
    assert result.summary == f"No papers in the collection are about {TOPIC}."
    assert result.usage.prompt_tokens > 0  # the relevance call still counts


def test_llm_unparseable_relevance_reply_is_a_model_error(index: Index, srv: FakeOpenAI) -> None:
    srv.queue("Papers 1, 2 and 4 are about video; the others are not.")
    with pytest.raises(ModelError, match=r"did not answer the relevance check"):
        summarize_topic(index, TOPIC, model(srv))
    assert len(srv.chat_requests) == 1  # no summary was written from a guess


def test_summarize_cli_with_a_model_from_the_environment(
    readonly_bundled: Path, srv: FakeOpenAI, tmp_path: Path
) -> None:
    srv.responder = video_inr_responder()
    bib = tmp_path / "llm.bib"
    env = {"OPENAI_BASE_URL": srv.base_url, "OPENAI_API_KEY": "sk-test", "CITECRAFT_MODEL": "gpt-4o-mini"}
    data = summarize_json(TOPIC, "--bib", str(bib), env=env)
    assert len(srv.chat_requests) == 2
    assert all(r["model"] == "gpt-4o-mini" for r in srv.chat_requests)
    assert data["model"] == "gpt-4o-mini"
    assert {p["paper_id"] for p in data["papers"]} == set(VIDEO_INR) and data["count"] == 4
    assert [r["n"] for r in data["removed_citations"]] == [99]
    assert (data["usage"]["prompt_tokens"], data["usage"]["completion_tokens"]) == (2100, 160)
    assert isinstance(data["usage"]["cost_usd"], float) and data["usage"]["cost_usd"] > 0
    assert sorted(p.title for p in read_file(bib).papers) == sorted(VIDEO_INR.values())


def test_summarize_cli_unparseable_relevance_is_one_line_exit_4(
    readonly_bundled: Path, srv: FakeOpenAI
) -> None:
    srv.queue("I think most of these are relevant.")
    code, out, err = run_cli(
        "summarize",
        TOPIC,
        "--base-url",
        srv.base_url,
        "--model",
        "gpt-4o-mini",
        env={"OPENAI_API_KEY": "sk-test"},
    )
    assert code == 4
    assert out == ""
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        "error: model gpt-4o-mini did not answer the relevance check in the form `[n] yes` / `[n] no` "
        "(try another model, or drop --model to use the offline selection)"
    ]
