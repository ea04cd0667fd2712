"""CSV (or TSV / semicolon-separated) with at least title and abstract columns."""

from __future__ import annotations

import csv
import io

from . import Problem, ReadResult, make_paper


def read(text: str, file: str, bad_lines: set[int]) -> ReadResult:
    result = ReadResult()
    first = text.lstrip().splitlines()[0]
    delimiter = max(",\t;", key=first.count)
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    if "title" not in columns or not columns & {"abstract", "summary"}:
        result.problems.append(Problem(file, "CSV needs 'title' and 'abstract' columns", 1))
        return result
    start = 2
    for row in reader:
        line = start
        start = reader.line_num + 1
        if any(n in bad_lines for n in range(line, reader.line_num + 1)):
            result.problems.append(Problem(file, "row is not valid UTF-8", line))
            continue
        if None in row:  # more cells than columns
            result.problems.append(Problem(file, "row has more cells than the header", line))
            continue
        make_paper(file, line, {k: v for k, v in row.items() if k}, result)
    return result
