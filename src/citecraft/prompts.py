"""Prompts live in prompts/*.md, one per file, with their variables declared and checked.

A prompt file starts with a header naming its variables:

    ---
    variables: [question, context]
    ---
    ...text using {question} and {context}...

Shared constants ({ABSTAIN_PHRASE}, {CITATION_FORMAT}) are filled in by the loader.
A placeholder that is not declared, a declared variable the text never uses, or
a missing/unknown variable at render time is an error.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import PromptError

# One phrase for "not covered": prompts, the validator and tests all use this constant.
ABSTAIN_PHRASE = "The collection does not cover this question."
CITATION_FORMAT = "[n]"
CONSTANTS = {"ABSTAIN_PHRASE": ABSTAIN_PHRASE, "CITATION_FORMAT": CITATION_FORMAT}
_HEADER = re.compile(r"\A---\s*\nvariables:\s*\[([^\]]*)\]\s*\n---\s*\n", re.M)


def prompts_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "prompts", here.parents[1] / "prompts"):
        if candidate.is_dir():
            return candidate
    raise PromptError("the prompts directory is missing from this installation", "reinstall citecraft")


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str
    variables: frozenset[str]

    def render(self, **values: object) -> str:
        given = set(values)
        if missing := self.variables - given:
            raise PromptError(f"prompt {self.name!r} is missing variable(s): {', '.join(sorted(missing))}")
        if unknown := given - self.variables:
            raise PromptError(f"prompt {self.name!r} got unknown variable(s): {', '.join(sorted(unknown))}")
        return self.text.format(**CONSTANTS, **{k: str(v) for k, v in values.items()})


def parse_prompt(name: str, raw: str) -> Prompt:
    m = _HEADER.match(raw)
    if not m:
        raise PromptError(f"prompt {name!r} has no '---\\nvariables: [...]\\n---' header")
    declared = frozenset(v.strip() for v in m.group(1).split(",") if v.strip())
    body = raw[m.end() :]
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(body) if field is not None}
    except ValueError as exc:  # a stray brace: literal braces must be doubled
        raise PromptError(
            f"prompt {name!r} has a stray brace ({exc}); write literal braces as {{{{ and }}}}"
        ) from None
    for field in used:
        if not field.isidentifier():
            raise PromptError(f"prompt {name!r} has a malformed placeholder {{{field}}}")
    used -= set(CONSTANTS)
    if unknown := used - declared:
        raise PromptError(f"prompt {name!r} uses undeclared variable(s): {', '.join(sorted(unknown))}")
    if unused := declared - used:
        raise PromptError(f"prompt {name!r} declares variable(s) it never uses: {', '.join(sorted(unused))}")
    return Prompt(name, body, declared)


@lru_cache(maxsize=32)
def load_prompt(name: str, directory: Path | None = None) -> Prompt:
    path = (directory or prompts_dir()) / f"{name}.md"
    try:
        raw = path.read_text("utf-8")
    except FileNotFoundError:
        raise PromptError(f"prompt file {path} not found") from None
    return parse_prompt(name, raw)


def fence(text: str) -> str:
    """Neutralize anything in retrieved text that could close our data fence."""
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")
