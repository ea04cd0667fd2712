"""The bundled default corpus (five saved daily-papers listing pages)."""

from __future__ import annotations

from pathlib import Path


def bundled_corpus_dir() -> Path:
    """Inside an installed wheel the pages sit in the package; in a checkout, in data/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "data" / "daily-papers", here.parents[1] / "data" / "daily-papers"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the bundled corpus is missing from this installation")
