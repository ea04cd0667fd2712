"""JSON Lines (one object per line); a JSON array of objects is accepted too."""

from __future__ import annotations

import json

from . import Problem, ReadResult, make_paper


def read(text: str, file: str, bad_lines: set[int]) -> ReadResult:
    result = ReadResult()
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            result.problems.append(Problem(file, f"not valid JSON ({exc.msg})", exc.lineno))
            return result
        for i, record in enumerate(records, 1):
            _one(result, file, i, record)
        return result
    # split on newlines only: JSON strings may hold U+2028 and friends, which splitlines() breaks on
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if n in bad_lines:
            result.problems.append(Problem(file, "line is not valid UTF-8", n))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            result.problems.append(Problem(file, f"not valid JSON ({exc.msg})", n))
            continue
        _one(result, file, n, record)
    return result


def _one(result: ReadResult, file: str, n: int, record: object) -> None:
    if not isinstance(record, dict):
        result.problems.append(Problem(file, "expected a JSON object", n))
        return
    make_paper(file, n, record, result)
