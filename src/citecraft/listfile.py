"""Hand-written list files (YAML lists or JSONL): each record parsed alone, so one bad record is
rejected with its line and the others are kept."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError


@dataclass
class Rejected:
    """A record that was left out, and why (where: "line 12")."""

    where: str
    case_id: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.where}{f' ({self.case_id})' if self.case_id else ''}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"where": self.where, "id": self.case_id, "reason": self.reason}


def read_records(path: Path, text: str) -> tuple[list[tuple[str, Any]], list[Rejected]]:
    """(where, record) pairs of a YAML list or JSONL file; a record that does not parse is rejected alone."""
    import yaml

    if path.suffix in (".jsonl", ".json"):
        rows: list[tuple[str, Any]] = []
        bad: list[Rejected] = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((f"line {n}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    bad.append(
                        Rejected(f"line {n}", None, f"not valid JSON: {exc.msg} at column {exc.colno}")
                    )
        return rows, bad
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None  # parse each top-level "- " item alone below, so one broken record spoils only itself
    else:
        if data is None:
            return [], []
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a YAML list", "each record starts with '- '")
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"-(?:\s|$)", line)]  # not a "---" marker
    if data is not None:
        # the whole file parsed: name each record by its line when the "- " lines line up with the records
        # (a flow-style list "[{...}, {...}]" has none)
        if len(starts) == len(data):
            return [(f"line {i + 1}", row) for i, row in zip(starts, data, strict=True)], []
        return [(f"record {k}", row) for k, row in enumerate(data, 1)], []
    rows, bad = [], []
    for k, i in enumerate(starts):
        chunk = "\n".join(lines[i : starts[k + 1] if k + 1 < len(starts) else len(lines)])
        where = f"line {i + 1}"
        try:
            item = yaml.safe_load(chunk)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"line {i + 1 + mark.line}" if mark is not None else where
            problem = getattr(exc, "problem", None) or "invalid YAML"
            bad.append(Rejected(where, None, f"not valid YAML ({problem} at {at})"))
            continue
        rows.append((where, item[0] if isinstance(item, list) and len(item) == 1 else item))
    if not starts:
        raise InputError(f"{path}: not valid YAML", "a YAML list of records, or JSONL")
    return rows, bad
