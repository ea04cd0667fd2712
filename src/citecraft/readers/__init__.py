"""Readers turn files into Papers; the format is detected from content.

Every reader returns a `ReadResult`: the papers it could read and one `Problem`
per rejected record, so one bad record never spoils the rest of a file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..papers import Paper

FORMATS = ("daily", "jsonl", "csv", "bibtex", "atom")


@dataclass
class Problem:
    """A rejected record or file: where it is and why."""

    file: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass
class ReadResult:
    papers: list[Paper] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        self.papers.extend(other.papers)
        self.problems.extend(other.problems)


def make_paper(file: str, line: int | None, fields: Mapping[str, object], result: ReadResult) -> Paper | None:
    """Build a Paper from loose fields, or record why the record is rejected."""
    from .fields import paper_from_fields

    try:
        paper = paper_from_fields(dict(fields), source=f"{file}:{line}" if line else file)
    except ValueError as exc:
        result.problems.append(Problem(file, str(exc), line))
        return None
    result.papers.append(paper)
    return paper


def decode(path: Path, data: bytes) -> tuple[str, set[int]]:
    """Decode UTF-8 text; return the text and the (1-based) lines holding invalid bytes."""
    try:
        return data.decode("utf-8-sig"), set()
    except UnicodeDecodeError:
        pass
    bad: set[int] = set()
    lines = data.split(b"\n")
    for i, raw in enumerate(lines, 1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.add(i)
    return data.decode("utf-8-sig", errors="replace"), bad


def detect_format(text: str, path: Path) -> str | None:
    """Guess the format from the first meaningful characters (the suffix only breaks ties)."""
    head = text.lstrip()[:4000]
    if not head:
        return None
    if head.startswith("{") or (head.startswith("[") and head[1:].lstrip().startswith(("{", "]"))):
        return "jsonl"
    if head.startswith("<"):
        return "atom" if "<feed" in head or "<entry" in head else None
    if head.startswith("@") or ("@" in head and path.suffix.lower() == ".bib"):
        return "bibtex"
    first = head.splitlines()[0].lower()
    if ("," in first or "\t" in first or ";" in first) and "title" in first and "abstract" in first:
        return "csv"
    from .daily import looks_like_daily

    if looks_like_daily(text):
        return "daily"
    return None


def _reader(fmt: str) -> Callable[[str, str, set[int]], ReadResult]:
    from . import atom, bibtex, daily, jsonl, tabular

    return {
        "daily": daily.read,
        "jsonl": jsonl.read,
        "csv": tabular.read,
        "bibtex": bibtex.read,
        "atom": atom.read,
    }[fmt]


def read_file(path: Path, fmt: str | None = None) -> ReadResult:
    """Read one file. Raises InputError when nothing in it can be read at all."""
    name = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror})") from None
    if not data.strip():
        raise InputError(f"{name}: file is empty", "nothing to ingest")
    if b"\x00" in data[:8192]:
        raise InputError(
            f"{name}: binary file, not a paper list",
            "use JSONL, CSV, BibTeX, arXiv Atom XML or a saved daily-papers page",
        )
    text, bad_lines = decode(path, data)
    if fmt is None:
        fmt = detect_format(text, path)
        if fmt is None:
            raise InputError(
                f"{name}: unknown format",
                "expected JSONL, CSV with title and abstract columns, BibTeX, arXiv Atom XML "
                "or a saved daily-papers page; pass --format to force one",
            )
    elif fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", f"choose one of {', '.join(FORMATS)}")
    if bad_lines and fmt not in ("jsonl", "csv"):
        first = min(bad_lines)
        raise InputError(f"{name}:{first}: not valid UTF-8 text", "re-save the file as UTF-8", name, first)
    result = _reader(fmt)(text, name, bad_lines)
    if not result.papers and not result.problems:
        result.problems.append(Problem(name, f"no papers found (read as {fmt})"))
    return result


def read_paths(paths: list[Path], fmt: str | None = None) -> ReadResult:
    """Read many files (directories are walked); a bad file is a problem, not a stop."""
    result = ReadResult()
    for path in paths:
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            if path.is_dir()
            else [path]
        )
        for file in files:
            try:
                result.extend(read_file(file, fmt))
            except InputError as exc:
                prefix = f"{file}:{exc.line}: " if exc.line else f"{file}: "
                result.problems.append(Problem(str(file), str(exc).removeprefix(prefix), exc.line))
    return result
