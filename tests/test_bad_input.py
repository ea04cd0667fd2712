"""Bad input: one clear line naming file (and line), the rest still loads, exit codes, index untouched."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from citecraft.index import Index
from citecraft.readers import read_paths
from citecraft.retrieve import Retriever
from citecraft.settings import Settings
from tests.conftest import run_cli
from tests.records import GOOD, NEW_D, NEW_E, jsonl_text

QUERY = "retrieval experts routing"


def jl(*records: dict[str, object]) -> bytes:
    return jsonl_text(*records).encode()


@dataclass
class Case:
    name: str  # file name
    data: bytes
    exit_code: int
    problem: str  # the problem as printed, after "<path>"
    loaded: list[str]  # titles of the records that still load


CASES = [
    Case("empty.jsonl", b"", 2, ": file is empty (nothing to ingest)", []),
    Case("blank.txt", b"\n   \n\t\n", 2, ": file is empty (nothing to ingest)", []),
    Case(
        "blob.bin",
        bytes(range(256)) * 8,
        2,
        ": binary file, not a paper list (use JSONL, CSV, BibTeX, arXiv Atom XML or a saved daily-papers page)",
        [],
    ),
    Case(
        "notes.txt",
        b"Some notes I took about papers.\nThe retrieval one was good, the protein one less so.\n"
        b"Remember to read about gradient noise.\n",
        2,
        ": unknown format (expected JSONL, CSV with title and abstract columns, BibTeX, arXiv Atom XML "
        "or a saved daily-papers page; pass --format to force one)",
        [],
    ),
    Case(
        "not-json.jsonl",
        jl(NEW_D) + b'{"title": "Broken", "abstract": \n' + jl(NEW_E),
        6,
        ":2: not valid JSON (Expecting value)",
        [NEW_D["title"], NEW_E["title"]],
    ),
    Case(
        "no-abstract.jsonl",
        jl(NEW_D) + b"\n" + jl({"title": "A Lonely Title", "date": "2020-01-01"}),
        6,
        ":3: record 'A Lonely Title' has no abstract",
        [NEW_D["title"]],
    ),
    Case(
        "latin1.jsonl",
        jl(NEW_D) + '{"title": "Caf\xe9 Culture", "abstract": "Espresso."}\n'.encode("latin-1") + jl(NEW_E),
        6,
        ":2: line is not valid UTF-8",
        [NEW_D["title"], NEW_E["title"]],
    ),
]

LATIN1_BIB = (
    "@article{mueller2020,\n  title = {M\xfcller Ratchets in Asexual Populations},\n"
    "  abstract = {Deleterious mutations accumulate in asexual populations.},\n  year = 2020\n}\n"
).encode("latin-1")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, float]]]:
    """A small index built once; tests copy it. Returns its home and the search result for QUERY."""
    root = tmp_path_factory.mktemp("bad-input-base")
    good = root / "good.jsonl"
    good.write_bytes(jl(*GOOD))
    home = root / "home"
    Index(Settings(home=home)).ingest(read_paths([good]).papers)
    return home, search(home, QUERY)


@pytest.fixture
def indexed(base: tuple[Path, list[tuple[str, float]]], home: Path) -> Path:
    shutil.copytree(base[0], home)
    return home


def search(home: Path, query: str, k: int = 5) -> list[tuple[str, float]]:
    hits = Retriever(Index(Settings(home=home))).search(query, k=k).hits
    return [(h.paper_id, round(h.score, 6)) for h in hits]


def snapshot(home: Path) -> dict[str, bytes]:
    """Every file of the index (the lock file aside), by relative path."""
    root = home / "index"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


# ---- through read_paths -----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_read_paths_reports_one_problem_and_keeps_the_rest(case: Case, tmp_path: Path) -> None:
    path = tmp_path / case.name
    path.write_bytes(case.data)
    result = read_paths([path])
    assert [str(p) for p in result.problems] == [f"{path}{case.problem}"]
    assert [p.title for p in result.papers] == case.loaded


def test_read_paths_latin1_bibtex_names_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.bib"
    path.write_bytes(LATIN1_BIB)
    result = read_paths([path])
    assert result.papers == []
    (problem,) = result.problems
    assert (problem.file, problem.line) == (str(path), 2)
    assert (
        str(problem) == f"{path}:2: not valid UTF-8 text (re-save the file as UTF-8)"
    )  # the file named once


def test_read_paths_directory_with_a_bad_file(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-empty.csv").write_bytes(b"")
    (folder / "b-good.jsonl").write_bytes(jl(NEW_D))
    (folder / ".hidden.jsonl").write_bytes(b"garbage")  # dot files are skipped
    result = read_paths([folder])
    assert [p.title for p in result.papers] == [NEW_D["title"]]
    assert [str(p) for p in result.problems] == [
        f"{folder / 'a-empty.csv'}: file is empty (nothing to ingest)"
    ]


def test_read_paths_missing_file(tmp_path: Path) -> None:
    result = read_paths([tmp_path / "nope.jsonl"])
    assert [str(p) for p in result.problems] == [f"{tmp_path / 'nope.jsonl'}: no such file"]


# ---- through `citecraft ingest` ----------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli_ingest_bad_file(
    case: Case, indexed: Path, base: tuple[Path, list[tuple[str, float]]], tmp_path: Path
) -> None:
    path = tmp_path / case.name
    path.write_bytes(case.data)
    before = snapshot(indexed)
    old_manifest = json.loads(before["manifest.json"])
    old_rows = {r["paper_id"]: r for r in json.loads(before["papers.json"])}

    code, out, err = run_cli("ingest", str(path))

    assert code == case.exit_code, (out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert [line for line in lines if str(path) in line] == [f"skipped {path}{case.problem}"]
    if case.exit_code == 2:
        assert lines == [
            f"skipped {path}{case.problem}",
            "error: no papers could be read; the index was not changed",
        ]
        assert out == ""
        assert snapshot(indexed) == before  # not one byte of the index changed
        assert search(indexed, QUERY) == base[1]
        return
    assert lines == [f"skipped {path}{case.problem}"]
    n = len(case.loaded)
    assert f"{n} record{'s' if n != 1 else ''} read; {n} added, 0 updated, 3 unchanged" in out
    assert "1 record(s) or file(s) rejected (see above)." in out
    manifest = json.loads((indexed / "index" / "manifest.json").read_text())
    rows = {r["paper_id"]: r for r in json.loads((indexed / "index" / "papers.json").read_text())}
    # the papers already there are untouched; exactly the valid records were added
    assert {pid: manifest["papers"][pid] for pid in old_manifest["papers"]} == old_manifest["papers"]
    assert {pid: rows[pid] for pid in old_rows} == old_rows
    assert manifest["collection"] == old_manifest["collection"]
    assert sorted(rows[pid]["title"] for pid in set(rows) - set(old_rows)) == sorted(case.loaded)
    assert set(manifest["papers"]) == set(rows)
    assert search(indexed, "lichen drought photosynthesis", k=1)[0][0] == next(
        pid for pid, r in rows.items() if r["title"] == NEW_D["title"]
    )


@pytest.mark.timeout(120)
def test_cli_ingest_latin1_bibtex(indexed: Path, tmp_path: Path) -> None:
    path = tmp_path / "latin1.bib"
    path.write_bytes(LATIN1_BIB)
    before = snapshot(indexed)
    code, out, err = run_cli("ingest", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"skipped {path}:2: not valid UTF-8 text (re-save the file as UTF-8)",
        "error: no papers could be read; the index was not changed",
    ]
    assert snapshot(indexed) == before


@pytest.mark.timeout(120)
def test_cli_ingest_several_files_some_bad(indexed: Path, tmp_path: Path) -> None:
    empty, good = tmp_path / "empty.jsonl", tmp_path / "new.jsonl"
    empty.write_bytes(b"")
    good.write_bytes(jl(NEW_D, NEW_E))
    code, out, err = run_cli("ingest", str(empty), str(good))
    assert code == 6
    assert err.splitlines() == [f"skipped {empty}: file is empty (nothing to ingest)"]
    assert "2 records read; 2 added, 0 updated, 3 unchanged" in out
    assert len(json.loads((indexed / "index" / "papers.json").read_text())) == 5


@pytest.mark.timeout(120)
def test_cli_ingest_only_bad_files_on_empty_home(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    code, out, err = run_cli("ingest", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"skipped {path}: file is empty (nothing to ingest)",
        "error: no papers could be read; the index was not changed",
    ]
    assert not (home / "index" / "manifest.json").exists()


@pytest.mark.timeout(120)
def test_cli_ingest_title_with_square_brackets(indexed: Path, tmp_path: Path) -> None:
    """Titles are printed as text, never as rich markup."""
    path = tmp_path / "brackets.jsonl"
    path.write_bytes(jl(NEW_D, {"title": "Closing [/b] and [bold] tags"}))
    code, out, err = run_cli("ingest", str(path))
    assert "Traceback" not in err
    assert err.splitlines() == [f"skipped {path}:2: record 'Closing [/b] and [bold] tags' has no abstract"]
    assert code == 6


def test_fields_that_are_not_text_reject_the_record_alone(tmp_path: Path) -> None:
    path = tmp_path / "typed.jsonl"
    path.write_bytes(
        jl(NEW_D)
        + jl({"title": 12345, "abstract": "An abstract."})
        + jl({"title": "A title", "abstract": ["list", "abstract"]})
        + jl({"title": "Another title", "abstract": "Text.", "authors": 7})
        + jl(NEW_E)
    )
    result = read_paths([path])
    assert [p.title for p in result.papers] == [NEW_D["title"], NEW_E["title"]]
    messages = [str(p) for p in result.problems]
    assert len(messages) == 3
    assert "title is int '12345', not text" in messages[0]
    assert "abstract is list" in messages[1]
    assert "authors are int 7" in messages[2]
