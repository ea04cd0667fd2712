"""Saved daily-papers listing pages (three layouts, see the product spec, section 3).

A page is a run of text lines (title, abstract, title, abstract, ...) with
optional metadata after each abstract: `• N authors` or an organization line,
then `·`, then a date such as `Jan 23, 2024`, `Apr 17` or `Jul 10 14` (a trailing
upvote count). Page chrome (`new`, `Subscribe`, the header date, ...) is dropped;
the first title may be glued to `Subscribe`.
"""

from __future__ import annotations

import re

from ..papers import Paper
from . import Problem, ReadResult
from .fields import parse_date

CHROME = {
    "new",
    "subscribe",
    "daily papers",
    "byak and the research community",
    "get trending papers in your email inbox!",
    "get trending papers in your email inbox once a day!",
}
_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
DATE_RE = re.compile(rf"^({_MON} \d{{1,2}}(?:, \d{{4}})?)(?: (\d+))?$")
AUTHORS_RE = re.compile(r"^•\s*(\d+)\s+authors?$")
SEPARATOR = "·"
MAX_TITLE = 400
MIN_ABSTRACT = 40


def looks_like_daily(text: str) -> bool:
    lines = [line.strip() for line in text.splitlines()]
    chrome = sum(line.lower() in CHROME or line.startswith("Subscribe") for line in lines)
    meta = sum(bool(AUTHORS_RE.match(line)) or line == SEPARATOR for line in lines)
    return chrome >= 2 or meta >= 2


def read(text: str, file: str, bad_lines: set[int]) -> ReadResult:
    result = ReadResult()
    # (line number, text) of every meaningful line, chrome removed
    items: list[tuple[int, str]] = []
    seen_text = False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.lower() in CHROME:
            continue
        if line.startswith("Subscribe") and len(line) > len("Subscribe"):
            line = line[len("Subscribe") :].strip()
        if not seen_text and DATE_RE.match(line):
            continue  # the page's own header date
        if not (AUTHORS_RE.match(line) or line == SEPARATOR or DATE_RE.match(line)):
            seen_text = True
        items.append((n, line))

    current: Paper | None = None  # the last entry, receiving the metadata that follows it
    title: tuple[int, str] | None = None
    for i, (n, line) in enumerate(items):
        prev = items[i - 1][1] if i > 0 else None
        nxt = items[i + 1][1] if i + 1 < len(items) else None
        if m := AUTHORS_RE.match(line):
            if current is not None:
                current.n_authors = int(m.group(1))
        elif line == SEPARATOR:
            pass
        elif (m := DATE_RE.match(line)) and prev == SEPARATOR:
            if current is not None:
                current.date, current.month_day, current.year = parse_date(m.group(1))
                if m.group(2):
                    current.upvotes = int(m.group(2))
        elif nxt == SEPARATOR and current is not None and title is None:
            current.organization = line
        elif title is None:
            title = (n, line)
        else:
            current = _entry(result, file, title, (n, line))
            title = None
    if title is not None:
        result.problems.append(Problem(file, f"title {title[1][:60]!r} has no abstract", title[0]))
    return result


def _entry(result: ReadResult, file: str, title: tuple[int, str], abstract: tuple[int, str]) -> Paper | None:
    (tn, t), (_, a) = title, abstract
    if len(t) > MAX_TITLE or len(a) < MIN_ABSTRACT:
        result.problems.append(
            Problem(file, f"expected a title then an abstract, got {t[:40]!r} / {a[:40]!r}", tn)
        )
        return None
    paper = Paper(title=t, abstract=a, sources=[f"{file}:{tn}"])
    result.papers.append(paper)
    return paper
