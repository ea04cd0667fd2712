"""The Paper model: stable ids from titles, and merging of duplicates."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_STOP = {"a", "an", "the", "of", "for", "and", "in", "on", "with", "to", "via", "by", "from"}


def normalize_title(title: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a title: same paper, same key."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return _NON_ALNUM.sub(" ", text).strip()


def paper_id_for(title: str) -> str:
    """Stable id: a short slug of the title plus a hash of its normalized form."""
    norm = normalize_title(title)
    digest = hashlib.sha1(norm.encode()).hexdigest()[:8]
    words = [w for w in norm.split() if w not in _STOP][:4]
    slug = "-".join(words)[:40].strip("-") or "paper"
    return f"{slug}-{digest}"


@dataclass
class Paper:
    """One paper; `sources` records every file position it was read from."""

    title: str
    abstract: str
    paper_id: str = ""
    date: str | None = None  # ISO date, only when the year is known
    month_day: str | None = None  # "MM-DD" when the year is unknown (never guessed)
    year: int | None = None  # known year, also when month or day are not
    authors: list[str] = field(default_factory=list)
    n_authors: int | None = None
    upvotes: int | None = None
    organization: str | None = None
    url: str | None = None
    sources: list[str] = field(default_factory=list)
    cite_key: str | None = None  # the source's own key (BibTeX key, a JSONL "id"), kept for --bib

    def __post_init__(self) -> None:
        self.title = " ".join(self.title.split())
        self.abstract = " ".join(self.abstract.split())
        if not self.paper_id:
            self.paper_id = paper_id_for(self.title)
        if self.date and self.year is None:
            self.year = int(self.date[:4])
        if self.authors and self.n_authors is None:
            self.n_authors = len(self.authors)

    @property
    def text(self) -> str:
        return f"{self.title}\n\n{self.abstract}"

    @property
    def author_count(self) -> int | None:
        return self.n_authors if self.n_authors is not None else (len(self.authors) or None)

    def content_hash(self) -> str:
        """Hash of what is indexed: a change here means the chunks must be replaced."""
        return hashlib.sha1(self.text.encode()).hexdigest()[:16]

    def display_date(self) -> str | None:
        """The date as known: ISO when full, else month-day or the year alone."""
        if self.date:
            return self.date
        if self.month_day:
            return f"{self.year}-{self.month_day}" if self.year else f"--{self.month_day}"
        return str(self.year) if self.year else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Paper:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _richness(p: Paper) -> int:
    return sum(
        x is not None and x != [] and x != ""
        for x in (p.date, p.month_day, p.year, p.authors, p.n_authors, p.upvotes, p.organization, p.url)
    )


def merge(a: Paper, b: Paper) -> Paper:
    """Merge two records of the same paper, keeping the richest value of every field."""
    base, other = (a, b) if _richness(a) >= _richness(b) else (b, a)
    merged = Paper.from_dict(base.to_dict())
    if len(other.abstract) > len(merged.abstract):
        merged.abstract = other.abstract
    for name in ("date", "month_day", "year", "n_authors", "organization", "url", "cite_key"):
        if getattr(merged, name) in (None, "") and getattr(other, name) not in (None, ""):
            setattr(merged, name, getattr(other, name))
    if len(other.authors) > len(merged.authors):
        merged.authors = list(other.authors)
    if other.upvotes is not None and (merged.upvotes is None or other.upvotes > merged.upvotes):
        merged.upvotes = other.upvotes
    if merged.date and merged.month_day is None and other.month_day:
        merged.month_day = other.month_day
    merged.sources = list(dict.fromkeys(a.sources + b.sources))
    return merged


def dedupe(papers: list[Paper]) -> list[Paper]:
    """Merge papers with the same id, preserving first-seen order."""
    out: dict[str, Paper] = {}
    for p in papers:
        out[p.paper_id] = merge(out[p.paper_id], p) if p.paper_id in out else p
    return list(out.values())


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def readable_date(date: str | None) -> str:
    """A date for people: "n.d." when unknown, "Oct 19" for a month-day without a year ("--10-19" in JSON)."""
    if not date:
        return "n.d."
    if date.startswith("--") and len(date) == 7 and date[2:4].isdigit() and 1 <= int(date[2:4]) <= 12:
        return f"{_MONTHS[int(date[2:4]) - 1]} {int(date[5:7])}"
    return date
