"""Writing papers as BibTeX (for --bib)."""

from __future__ import annotations

import re

from .papers import Paper

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def _escape(text: str) -> str:
    """Escape LaTeX specials once; keep braces only when they balance (else the entry would not close)."""
    text = re.sub(r"(?<!\\)([&%$#_])", r"\\\1", text)
    depth = 0
    for c in text:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            break
    return text if depth == 0 else text.replace("{", "(").replace("}", ")")


def bibtex_key(paper: Paper) -> str:
    """The key the paper came with (its BibTeX key, a JSONL id), else one made from its title and year."""
    if paper.cite_key:
        return paper.cite_key
    word = next((w for w in re.findall(r"[A-Za-z0-9]+", paper.title) if len(w) > 3), "paper")
    return f"{word.lower()}{paper.year or ''}_{paper.paper_id[-8:]}"


def to_bibtex(papers: list[Paper]) -> str:
    entries = []
    used: set[str] = set()
    for p in papers:
        key = bibtex_key(p)
        if key in used:  # two sources gave the same key to different papers
            key = f"{key}_{p.paper_id[-8:]}"
        used.add(key)
        fields = [("title", "{" + _escape(p.title) + "}"), ("abstract", _escape(p.abstract))]
        if p.authors:
            fields.append(("author", " and ".join(_escape(a) for a in p.authors)))
        if p.year:
            fields.append(("year", str(p.year)))
        if p.date:
            fields.append(("month", _MONTHS[int(p.date[5:7]) - 1]))
        if p.url:
            fields.append(("url", p.url))
        if p.organization:
            fields.append(("organization", _escape(p.organization)))
        fields.append(("note", f"citecraft id {p.paper_id}"))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        entries.append(f"@misc{{{key},\n{body}\n}}\n")
    return "\n".join(entries)
