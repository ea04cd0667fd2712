"""arXiv API responses (Atom XML) saved to a file."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from . import Problem, ReadResult, make_paper

NS = {"a": "http://www.w3.org/2005/Atom"}


def read(text: str, file: str, bad_lines: set[int]) -> ReadResult:
    result = ReadResult()
    try:
        root = ET.fromstring(text.encode())
    except ET.ParseError as exc:
        result.problems.append(Problem(file, f"not well-formed XML ({exc})", exc.position[0]))
        return result
    entries = root.findall("a:entry", NS) if root.tag.endswith("feed") else [root]
    for i, entry in enumerate(entries, 1):

        def get(tag: str, e: ET.Element = entry) -> str | None:
            node = e.find(f"a:{tag}", NS)
            return node.text if node is not None and node.text else None

        fields: dict[str, object] = {
            "title": get("title"),
            "abstract": get("summary"),
            "date": (get("published") or "")[:10] or None,
            "authors": [n.text for n in entry.findall("a:author/a:name", NS) if n.text],
            "url": get("id"),
        }
        before = len(result.problems)
        make_paper(file, None, fields, result)
        for p in result.problems[before:]:
            p.message = f"entry {i}: {p.message}"
    return result
