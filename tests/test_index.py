"""The index: idempotent ingest, replaced abstracts, rebuild, refusals, the write lock, crash repair."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from citecraft.index import Index
from citecraft.papers import Paper, paper_id_for
from citecraft.readers import read_paths
from citecraft.retrieve import Retriever
from citecraft.settings import Settings
from tests.conftest import run_cli
from tests.records import GOOD, NEW_D, NEW_E, jsonl

# a new, longer abstract for the first paper: two chunks at the default 200-token budget
NEW_ABSTRACT = " ".join(
    [
        "We revisit mixtures of retrieval experts with a zymurgy-inspired fermentation schedule for routing.",
        "Each expert is a small dense retriever trained on one slice of the corpus, and a router picks two experts",
        "per query.",
        "The fermentation schedule anneals the router temperature so that experts specialise slowly, the way",
        "yeast strains take over a brewing vessel.",
        "On five question answering benchmarks the sparse mixture matches a dense retriever ten times its size.",
        "We study load balancing, expert collapse and the effect of the number of experts on recall at ten.",
        "Routing decisions are interpretable: experts align with topics such as medicine, law and sports.",
        "We also show that adding experts later, without retraining the others, keeps recall on old topics.",
        "Latency falls by a factor of four because only two experts run for each query.",
        "Ablations show that the annealed schedule matters more than the router architecture.",
        "Finally we release the code, the trained experts and the routing logs for further study.",
        "A longer discussion covers failure cases in multilingual retrieval and long documents.",
        "We hope that sparse retrieval mixtures become a standard baseline for retrieval augmented generation.",
    ]
)
CHANGED_ID = paper_id_for(GOOD[0]["title"])
NEW_HASH = Paper(GOOD[0]["title"], NEW_ABSTRACT).content_hash()

MISMATCH = (
    "error: the index at {index} was built with embedder 'wordllama', not 'minilm' "
    "(run `citecraft ingest --rebuild` to rebuild it with the new embedder)"
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3-paper index built once (in-process); tests copy it. Returns (home, the JSONL it came from)."""
    root = tmp_path_factory.mktemp("index-base")
    good = jsonl(root / "good.jsonl", *GOOD)
    home = root / "home"
    report = Index(Settings(home=home)).ingest(read_paths([good]).papers)
    assert (report.added, report.chunks, report.total) == (3, 3, 3)
    return home, good


@pytest.fixture
def indexed(base: tuple[Path, Path], home: Path) -> Path:
    shutil.copytree(base[0], home)
    return home


def manifest(home: Path) -> dict[str, Any]:
    return json.loads((home / "index" / "manifest.json").read_text())


def rows(home: Path) -> dict[str, dict[str, Any]]:
    return {r["paper_id"]: r for r in json.loads((home / "index" / "papers.json").read_text())}


def snapshot(home: Path, chroma: bool = True) -> dict[str, bytes]:
    root = home / "index"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock" and (chroma or "chroma" not in p.parts)
    }


def chroma_state(home: Path) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """(names of all collections, {chunk id: metadata} of the manifest's collection), read from Chroma itself."""
    index = Index(Settings(home=home))
    collection = index.collection()
    got = collection.get(include=["metadatas"])
    names = sorted(c.name for c in index._client.list_collections())
    return names, dict(zip(got["ids"], got["metadatas"], strict=True))


def top(home: Path, query: str, k: int = 3) -> list[str]:
    return [h.paper_id for h in Retriever(Index(Settings(home=home))).search(query, k=k).hits]


# ---- idempotence --------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_second_ingest_changes_nothing(indexed: Path, base: tuple[Path, Path]) -> None:
    before = snapshot(indexed, chroma=False)
    code, out, err = run_cli("ingest", str(base[1]))
    assert code == 0, err
    assert out == "3 records read; index unchanged: 3 papers already up to date.\n"
    after = snapshot(indexed, chroma=False)
    assert after["manifest.json"] == before["manifest.json"]
    assert after == before  # papers.json and the BM25 files too
    names, chunks = chroma_state(indexed)
    assert len(names) == 1
    assert sorted(chunks) == sorted(c for e in manifest(indexed)["papers"].values() for c in e["chunks"])


def test_duplicates_in_one_ingest_are_merged_not_doubled(
    indexed: Path, base: tuple[Path, Path], tmp_path: Path
) -> None:
    extra = jsonl(
        tmp_path / "dupes.jsonl",
        {**GOOD[1], "upvotes": 9},
        {"title": GOOD[1]["title"].upper() + "!", "abstract": "Short."},
    )
    report = Index(Settings(home=indexed)).ingest(read_paths([extra]).papers)
    assert (report.added, report.updated, report.unchanged, report.merged, report.total) == (0, 0, 3, 1, 3)
    row = rows(indexed)[paper_id_for(GOOD[1]["title"])]
    assert (row["title"], row["abstract"], row["upvotes"]) == (GOOD[1]["title"], GOOD[1]["abstract"], 9)
    assert row["sources"] == [f"{base[1]}:2", f"{extra}:1", f"{extra}:2"]
    names, chunks = chroma_state(indexed)
    assert len(chunks) == 3


# ---- a changed abstract ------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_changed_abstract_replaces_its_chunks(indexed: Path, tmp_path: Path) -> None:
    old = manifest(indexed)
    old_chunks = old["papers"][CHANGED_ID]["chunks"]
    changed = jsonl(tmp_path / "changed.jsonl", {**GOOD[0], "abstract": NEW_ABSTRACT}, GOOD[1], GOOD[2])

    code, out, err = run_cli("ingest", str(changed))
    assert code == 0, err
    assert out.startswith("3 records read; 0 added, 1 updated, 2 unchanged; 2 chunks embedded in ")

    new = manifest(indexed)
    assert new["collection"] == old["collection"]
    assert new["papers"][CHANGED_ID]["hash"] == NEW_HASH
    assert new["papers"][CHANGED_ID]["chunks"] == [f"{CHANGED_ID}:{NEW_HASH}:0", f"{CHANGED_ID}:{NEW_HASH}:1"]
    for pid in set(old["papers"]) - {CHANGED_ID}:
        assert new["papers"][pid] == old["papers"][pid]
    names, chunks = chroma_state(indexed)
    assert names == [old["collection"]]
    mine = sorted(cid for cid, meta in chunks.items() if meta["paper_id"] == CHANGED_ID)
    assert mine == new["papers"][CHANGED_ID]["chunks"]  # every chunk carries the new hash; old ones gone
    assert not set(old_chunks) & set(chunks)
    others = {cid for cid, meta in chunks.items() if meta["paper_id"] != CHANGED_ID}
    assert others == {c for pid, e in old["papers"].items() if pid != CHANGED_ID for c in e["chunks"]}
    assert len(chunks) == 4
    assert {(m["title"], m["date"]) for cid, m in chunks.items() if cid in mine} == {
        (GOOD[0]["title"], "2024-02-01")
    }
    assert rows(indexed)[CHANGED_ID]["abstract"] == NEW_ABSTRACT
    hits = Retriever(Index(Settings(home=indexed))).search("zymurgy fermentation schedule yeast", k=1).hits
    assert (
        hits[0].paper_id == CHANGED_ID and "yeast" in hits[0].snippet + rows(indexed)[CHANGED_ID]["abstract"]
    )


# ---- rebuild -----------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_rebuild_starts_over(indexed: Path, base: tuple[Path, Path]) -> None:
    old = manifest(indexed)
    code, out, err = run_cli("ingest", "--rebuild", str(base[1]))
    assert code == 0, err
    assert out.startswith("3 records read; 3 added, 0 updated, 0 unchanged; 3 chunks embedded in ")
    new = manifest(indexed)
    assert new["collection"] != old["collection"]
    assert new["generation"] != old["generation"]
    assert set(new["papers"]) == set(old["papers"]) and len(rows(indexed)) == 3
    names, chunks = chroma_state(indexed)
    assert names == [new["collection"]]  # the old collection is gone
    assert sorted(chunks) == sorted(c for e in new["papers"].values() for c in e["chunks"])
    assert top(indexed, "torsion angles protein backbones", k=1) == [paper_id_for(GOOD[1]["title"])]


def test_rebuild_does_not_report_kept_papers_as_duplicates(indexed: Path, base: tuple[Path, Path]) -> None:
    report = Index(Settings(home=indexed)).ingest(read_paths([base[1]]).papers, rebuild=True)
    assert (report.added, report.total) == (3, 3)
    assert report.merged == 0


def test_rebuild_takes_the_new_abstract(indexed: Path, tmp_path: Path) -> None:
    fixed = jsonl(tmp_path / "fixed.jsonl", {**GOOD[0], "abstract": "A corrected, shorter abstract."})
    Index(Settings(home=indexed)).ingest(read_paths([fixed]).papers, rebuild=True)
    assert rows(indexed)[CHANGED_ID]["abstract"] == "A corrected, shorter abstract."


def test_normal_ingest_takes_the_new_abstract(indexed: Path, tmp_path: Path) -> None:
    fixed = jsonl(tmp_path / "fixed.jsonl", {**GOOD[0], "abstract": "A corrected, shorter abstract."})
    report = Index(Settings(home=indexed)).ingest(read_paths([fixed]).papers)
    assert (report.updated, report.unchanged) == (1, 2)
    assert rows(indexed)[CHANGED_ID]["abstract"] == "A corrected, shorter abstract."


# ---- refusals ----------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["flag", "env"])
def test_changing_the_embedder_is_refused(how: str, indexed: Path, base: tuple[Path, Path]) -> None:
    before = snapshot(indexed)
    if how == "flag":
        code, out, err = run_cli("--embedder", "minilm", "ingest", str(base[1]))
    else:
        code, out, err = run_cli("ingest", str(base[1]), env={"CITECRAFT_EMBEDDER": "minilm"})
    assert code == 3
    assert err.splitlines() == [MISMATCH.format(index=indexed / "index")]
    assert out == ""
    assert snapshot(indexed) == before


@pytest.mark.timeout(120)
def test_changing_the_chunking_is_refused(indexed: Path, base: tuple[Path, Path]) -> None:
    before = snapshot(indexed)
    code, out, err = run_cli("ingest", str(base[1]), env={"CITECRAFT_INDEX__CHUNK_TOKENS": "100"})
    assert code == 3
    assert err.splitlines() == [
        f"error: the index at {indexed / 'index'} was chunked with 200/40 tokens, not 100/40 "
        "(run `citecraft ingest --rebuild` to rebuild it with the new chunking)"
    ]
    assert snapshot(indexed) == before


@pytest.mark.timeout(120)
def test_second_writer_fails_clearly(indexed: Path, base: tuple[Path, Path]) -> None:
    before = snapshot(indexed)
    with Index(Settings(home=indexed)).writing():
        started = time.monotonic()
        code, out, err = run_cli("ingest", str(base[1]), env={"CITECRAFT_INDEX__LOCK_TIMEOUT": "1"})
        waited = time.monotonic() - started
    assert code == 3
    assert err.splitlines() == [
        f"error: another citecraft process is writing the index at {indexed / 'index'} "
        "(waited 1s; try again when it has finished)"
    ]
    assert waited >= 1.0
    assert snapshot(indexed) == before
    # once the lock is free, the same command goes through
    code, out, err = run_cli("ingest", str(base[1]))
    assert (code, out) == (0, "3 records read; index unchanged: 3 papers already up to date.\n")


# ---- crash repair ------------------------------------------------------------------------------

FAULTS = ["after-upsert", "after-papers", "after-delete", "mid-bm25", "before-manifest"]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("fault", FAULTS)
def test_killed_ingest_is_repaired(fault: str, indexed: Path, tmp_path: Path) -> None:
    update = jsonl(
        tmp_path / "update.jsonl", {**GOOD[0], "abstract": NEW_ABSTRACT}, GOOD[1], GOOD[2], NEW_D, NEW_E
    )
    old = manifest(indexed)

    code, out, err = run_cli("ingest", str(update), env={"CITECRAFT_FAULT": fault})
    assert code == 137, (out, err)  # the ingest really died at that point
    assert manifest(indexed) == old  # the manifest is written last

    index = Index(Settings(home=indexed))
    report = index.ingest(read_paths([update]).papers)  # the next normal ingest repairs
    assert (report.added, report.updated, report.unchanged, report.chunks, report.total) == (2, 1, 2, 4, 5)

    m = manifest(indexed)
    names, chunks = chroma_state(indexed)
    assert names == [old["collection"]] == [m["collection"]]
    assert sorted(chunks) == sorted(c for e in m["papers"].values() for c in e["chunks"])
    assert all(cid.startswith(meta["paper_id"] + ":") for cid, meta in chunks.items())
    stored = rows(indexed)
    assert set(stored) == set(m["papers"])
    assert {stored[pid]["title"] for pid in stored} == {r["title"] for r in (*GOOD, NEW_D, NEW_E)}
    for pid, row in stored.items():
        assert m["papers"][pid]["hash"] == Paper.from_dict(row).content_hash()
    assert stored[CHANGED_ID]["abstract"] == NEW_ABSTRACT
    bm25_ids = json.loads((indexed / "index" / "bm25" / "ids.json").read_text())
    assert bm25_ids["generation"] == m["generation"] and set(bm25_ids["ids"]) == set(stored)

    assert top(indexed, "lichen thalli drought photosynthesis", k=1) == [paper_id_for(NEW_D["title"])]
    assert top(indexed, "glacier calving seismometers", k=1) == [paper_id_for(NEW_E["title"])]
    assert top(indexed, "zymurgy fermentation yeast", k=1) == [CHANGED_ID]

    before = snapshot(indexed, chroma=False)
    code, out, err = run_cli("ingest", str(update))
    assert (code, out) == (0, "5 records read; index unchanged: 5 papers already up to date.\n"), err
    assert snapshot(indexed, chroma=False) == before
    assert debris(indexed) == []  # nothing the killed run left behind survives the repair


def debris(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "index").iterdir() if p.name.startswith(".") and p.name != ".lock")


@pytest.mark.timeout(180)
def test_a_killed_first_ingest_leaves_no_orphan_collection(home: Path, tmp_path: Path) -> None:
    data = jsonl(tmp_path / "first.jsonl", *GOOD)
    code, out, err = run_cli("ingest", str(data), env={"CITECRAFT_FAULT": "after-upsert"})
    assert code == 137, (out, err)
    assert not (home / "index" / "manifest.json").exists()  # the collection it made is named nowhere
    code, out, err = run_cli("ingest", str(data))
    assert code == 0, err
    names, chunks = chroma_state(home)
    assert names == [manifest(home)["collection"]]
    assert sorted(chunks) == sorted(c for e in manifest(home)["papers"].values() for c in e["chunks"])
    assert debris(home) == []


def test_a_letter_after_a_hyphen_is_not_an_initial() -> None:
    from citecraft.chunking import sentence_spans

    text = (
        "Combined with Swin Transformers, it improves accuracy by 0.5% with Swin-B. The code is available online. "
        "The method was proposed by J. Smith and colleagues."
    )
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    assert sentences == [
        "Combined with Swin Transformers, it improves accuracy by 0.5% with Swin-B.",
        "The code is available online.",
        "The method was proposed by J. Smith and colleagues.",
    ]
