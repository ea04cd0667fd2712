"""Turning loosely named record fields (any reader's) into a Paper."""

from __future__ import annotations

import re
from datetime import date as _date

from ..papers import Paper

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_ALIASES = {
    "title": ("title", "name", "paper_title"),
    "abstract": ("abstract", "summary", "description", "abstractnote"),
    "date": ("date", "published", "publication_date", "pub_date", "submitted"),
    "year": ("year",),
    "month": ("month",),
    "authors": ("authors", "author", "creators"),
    "n_authors": ("n_authors", "num_authors", "author_count"),
    "upvotes": ("upvotes", "votes", "likes"),
    "organization": ("organization", "org", "institution"),
    "url": ("url", "link", "arxiv_url", "doi"),
    "cite_key": ("cite_key", "citekey", "citation_key", "bibtex_key", "key", "id"),
}


def _pick(fields: dict[str, object], key: str) -> object:
    lowered = {str(k).strip().lower(): v for k, v in fields.items()}
    for alias in _ALIASES[key]:
        value = lowered.get(alias)
        if value not in (None, "", []):
            return value
    return None


def parse_date(value: object) -> tuple[str | None, str | None, int | None]:
    """Return (iso_date, month_day, year) from many spellings; never guess a year."""
    if value is None:
        return None, None, None
    text = str(value).strip()
    m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if m:
        y, mo, d = map(int, m.groups())
        try:
            return _date(y, mo, d).isoformat(), f"{mo:02d}-{d:02d}", y
        except ValueError:
            return None, None, y
    m = re.match(r"^([A-Za-z]{3})[a-z]*\.? (\d{1,2})(?:, (\d{4}))?$", text)
    if m:
        month = _MONTHS.get(m.group(1).lower())
        if month:
            mo = month
            d = int(m.group(2))
            md = f"{mo:02d}-{d:02d}"
            if m.group(3):
                y = int(m.group(3))
                try:
                    return _date(y, mo, d).isoformat(), md, y
                except ValueError:
                    return None, None, y
            return None, md, None
    m = re.match(r"^(\d{4})(?:-(\d{1,2}))?$", text)
    if m:
        return None, None, int(m.group(1))
    return None, None, None


def _authors(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(a.get("name", "")) if isinstance(a, dict) else str(a) for a in value if a]
    text = str(value)
    parts = re.split(r"\s+and\s+|;" if (" and " in text or ";" in text) else r",", text)
    return [" ".join(p.split()) for p in parts if p.strip()]


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def paper_from_fields(fields: dict[str, object], source: str) -> Paper:
    """Raise ValueError naming what is missing when a record has no title or abstract, or what is wrong
    when they are not text (a number or a list where the title or abstract should be)."""
    for key in ("title", "abstract"):
        value = _pick(fields, key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"record's {key} is {type(value).__name__} {str(value)[:40]!r}, not text")
    authors = _pick(fields, "authors")
    if authors is not None and not isinstance(authors, str | list):
        raise ValueError(f"record's authors are {type(authors).__name__} {authors!r}, not a list or text")
    title = " ".join(str(_pick(fields, "title") or "").split())
    abstract = " ".join(str(_pick(fields, "abstract") or "").split())
    if not title and not abstract:
        raise ValueError("record has no title and no abstract")
    if not title:
        raise ValueError("record has no title")
    if not abstract:
        raise ValueError(f"record {title[:60]!r} has no abstract")
    iso, month_day, year = parse_date(_pick(fields, "date"))
    if year is None:
        year = _int(_pick(fields, "year"))
    authors = _authors(_pick(fields, "authors"))
    return Paper(
        title=title,
        abstract=abstract,
        date=iso,
        month_day=month_day,
        year=year,
        authors=authors,
        n_authors=_int(_pick(fields, "n_authors")) or (len(authors) or None),
        upvotes=_int(_pick(fields, "upvotes")),
        organization=(str(_pick(fields, "organization")) if _pick(fields, "organization") else None),
        url=(str(_pick(fields, "url")) if _pick(fields, "url") else None),
        sources=[source],
        cite_key=_cite_key(fields),
    )


_KEY = re.compile(r"^[\w:.+/-]{1,80}$")


def _cite_key(fields: dict[str, object]) -> str | None:
    """The record's own key: a BibTeX key, or a JSONL/CSV "cite_key", "citekey", "key" or "id" that could
    be one (no spaces, no URL)."""
    value = _pick(fields, "cite_key")
    if isinstance(value, str | int) and not isinstance(value, bool):
        key = str(value).strip()
        if _KEY.match(key) and "://" not in key:
            return key
    return None
