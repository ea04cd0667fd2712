"""BibTeX entries with an `abstract` field (@string and @comment are skipped)."""

from __future__ import annotations

import re

from . import Problem, ReadResult, make_paper

_ENTRY = re.compile(r"@(\w+)\s*[{(]")
_LATEX = [
    (re.compile(r"\\[a-zA-Z]+\{([^{}]*)\}"), r"\1"),
    (re.compile(r"[{}]"), ""),
    (re.compile(r"\\([&%$#_])"), r"\1"),
]


_ACCENTS = {
    '"': "\u0308",
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    "~": "\u0303",
    "c": "\u0327",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
}
_ACCENT_RE = re.compile(r"\{?\\([\"'`^~=.]|[cuvH](?=[{ ]))\s*\{?([A-Za-z])\}?\}?")


def _clean(value: str) -> str:
    import unicodedata

    value = _ACCENT_RE.sub(lambda m: unicodedata.normalize("NFC", m.group(2) + _ACCENTS[m.group(1)]), value)
    for pattern, repl in _LATEX:
        value = pattern.sub(repl, value)
    return " ".join(value.replace("~", " ").split())


def _value(body: str, i: int) -> tuple[str, int]:
    """Read a braced, quoted or bare value starting at body[i]; return it and the next index."""
    if body[i] == "{":
        depth, j = 0, i
        while j < len(body):
            depth += {"{": 1, "}": -1}.get(body[j], 0)
            if depth == 0:
                return body[i + 1 : j], j + 1
            j += 1
        raise ValueError("unbalanced braces")
    if body[i] == '"':
        j = i + 1
        while j < len(body) and not (body[j] == '"' and body[j - 1] != "\\"):
            j += 1
        if j >= len(body):
            raise ValueError("unterminated quoted value")
        return body[i + 1 : j], j + 1
    m = re.match(r"[^,}\s]+", body[i:])
    return (m.group(0) if m else ""), i + (m.end() if m else 0)


def parse_fields(body: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    i = 0
    while i < len(body):
        m = re.compile(r"\s*,?\s*([\w:.-]+)\s*=\s*").match(body, i)
        if not m:
            break
        i = m.end()
        if i >= len(body):
            break
        value, i = _value(body, i)
        # string concatenation: "a" # "b"
        while (c := re.compile(r"\s*#\s*").match(body, i)) is not None:
            more, i = _value(body, c.end())
            value += more
        fields[m.group(1).lower()] = _clean(value)
    return fields


def _entry_end(text: str, start: int) -> int:
    """Index of the delimiter closing the entry opened at text[start] ('{' or '(')."""
    opener = text[start]
    closer = "}" if opener == "{" else ")"
    depth = 0
    for j in range(start, len(text)):
        c = text[j]
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
        if depth == 0:
            return j
    return -1


def read(text: str, file: str, bad_lines: set[int]) -> ReadResult:
    result = ReadResult()
    for m in _ENTRY.finditer(text):
        kind = m.group(1).lower()
        line = text.count("\n", 0, m.start()) + 1
        if kind in ("string", "comment", "preamble"):
            continue
        open_at = m.end() - 1
        end = _entry_end(text, open_at)
        if end < 0:
            result.problems.append(Problem(file, f"@{kind} entry is not closed", line))
            continue
        body = text[open_at + 1 : end]
        key, _, rest = body.partition(",")
        try:
            fields = parse_fields(rest)
        except ValueError as exc:
            result.problems.append(Problem(file, f"entry {key.strip()!r}: {exc}", line))
            continue
        if "date" not in fields and "year" in fields:
            fields["date"] = fields["year"] + (
                f"-{_month(fields['month'])}" if _month(fields.get("month", "")) else ""
            )
        record: dict[str, object] = {**fields, "cite_key": key.strip()}
        if "author" in fields:  # BibTeX separates people with "and"; "Lee, Kim" is one person
            record["author"] = [a.strip() for a in re.split(r"\s+and\s+", fields["author"]) if a.strip()]
        make_paper(file, line, record, result)
    return result


_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def _month(value: str) -> str:
    v = value.strip().lower()[:3]
    if v in _MONTHS:
        return f"{_MONTHS.index(v) + 1:02d}"
    return f"{int(v):02d}" if v.isdigit() and 1 <= int(v) <= 12 else ""
