"""Multi-turn chat: follow-ups rewritten into standalone questions, history kept on disk."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .answer import Answer, Answerer
from .errors import ConfigError
from .index import Index
from .models import ChatModel
from .prompts import load_prompt
from .retrieve import query_terms

_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "last": -1,
    "1st": 1,
    "2nd": 2,
    "3rd": 3,
    "4th": 4,
    "5th": 5,
}
# "the second", "and third", ", 4th": an ordinal that points at a listed paper (not "which paper first proposed")
_ORDINAL_RE = re.compile(
    r"(?:(?<=\bthe\s)|(?<=\band\s)|(?<=,\s))("
    + "|".join(_ORDINALS)
    + r")(?:\s+(?:one|paper|papers|work))?\b",
    re.I,
)
# a question that can only mean papers of an earlier answer: "the second one", "what about the third?"
_REFERS_BACK = re.compile(
    r"\bthe\s+(" + "|".join(_ORDINALS) + r")\s+(?:one|ones)\b"
    r"|^\W*(?:and\s+)?(?:what|how)\s+about\s+the\s+(" + "|".join(_ORDINALS) + r")\b",
    re.I,
)


def refers_back(question: str) -> bool:
    """The question points at a paper of an earlier answer by its place ("the second one")."""
    return _REFERS_BACK.search(question) is not None


_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(.+?)\s*\??\s*$", re.I)
_PRONOUN = re.compile(
    r"\b(?:it|they|them|these|those|this paper|that paper|these papers|those papers)\b", re.I
)


@dataclass
class Turn:
    question: str
    standalone: str
    answer: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "plain"  # "ordinal" when it was about earlier answers' papers rather than a topic


class ChatSession:
    """A conversation over one index; each turn is appended to a JSON file under the home directory."""

    def __init__(
        self,
        index: Index,
        model: ChatModel | None = None,
        name: str = "default",
        directory: Path | None = None,
    ):
        self.index = index
        self.model = model
        self.answerer = Answerer(index, model)
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}", name or ""):
            raise ConfigError(
                f"session name {name[:80]!r} is not a plain name",
                "use up to 64 letters, digits, '-' or '_', starting with a letter, digit or '_'",
            )
        self.path = (directory or index.settings.home / "chats") / f"{name}.json"
        self.turns: list[Turn] = []
        self.warnings: list[str] = []  # for the user: e.g. a damaged history that was set aside
        if self.path.exists():
            try:
                self.turns = _load_turns(self.path)
            except (ValueError, TypeError):
                # nothing is lost: keep the damaged file next to it, and start over
                backup = _free_path(self.path.with_name(self.path.name + ".bad"))
                self.path.replace(backup)
                self.warnings.append(
                    f"chat history {self.path} is damaged; moved it to {backup} "
                    "and started a new conversation"
                )

    def reset(self) -> None:
        self.turns = []
        self._save()

    def sources(self) -> list[dict[str, Any]]:
        return self.turns[-1].citations if self.turns else []

    def rewrite(self, question: str) -> str:
        """Resolve a follow-up against the conversation (LLM when configured, deterministic otherwise)."""
        if not self.turns:
            return question
        if self.model is not None:
            history = "\n".join(f"User: {t.question}\nAssistant: {t.answer[:600]}" for t in self.turns[-3:])
            text = self.model.complete(load_prompt("rewrite").render(history=history, question=question)).text
            return text.strip().strip('"') or question
        topical = next((t for t in reversed(self.turns) if t.kind != "ordinal"), self.turns[-1])
        return rewrite_offline(question, self.turns[-1], self.index, topical)

    def reference_problem(self, question: str) -> str | None:
        """Why a follow-up cannot be resolved ("the second one" with no earlier answer, or one citing a
        single paper), or None."""
        cited = self.turns[-1].citations if self.turns else []
        if not cited:
            if refers_back(question):
                return "There is no earlier answer with papers to refer to: ask a full question first."
            return None
        wanted = [_ORDINALS[m.group(1).lower()] for m in _ORDINAL_RE.finditer(question)]
        out_of_range = [n for n in wanted if not -len(cited) <= (n - 1 if n > 0 else n) < len(cited)]
        if out_of_range and (refers_back(question) or len(wanted) > 1):
            n = len(cited)
            return f"The last answer cited only {n} paper{'s' if n != 1 else ''} (see /sources)."
        return None

    def ask(self, question: str) -> tuple[str, Answer]:
        standalone = self.rewrite(question)
        answer = self.answerer.ask(standalone)
        cites = [c.to_json() for c in answer.citations]
        kind = "ordinal" if self.turns and _ORDINAL_RE.search(question) else "plain"
        self.turns.append(Turn(question, standalone, answer.answer, cites, kind))
        self._save()
        return standalone, answer

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([t.__dict__ for t in self.turns], ensure_ascii=False, indent=1), "utf-8")
        tmp.replace(self.path)


def _load_turns(path: Path) -> list[Turn]:
    """The saved turns; ValueError / TypeError when the file is not a history this version wrote."""
    turns = [Turn(**t) for t in json.loads(path.read_text("utf-8"))]
    for t in turns:
        if not all(isinstance(v, str) for v in (t.question, t.standalone, t.answer, t.kind)) or not (
            isinstance(t.citations, list) and all(isinstance(c, dict) and "title" in c for c in t.citations)
        ):
            raise TypeError("malformed turn")
    return turns


def _free_path(path: Path) -> Path:
    """`path`, or `path.1`, `path.2`, ... : the first that does not exist (an earlier backup is never overwritten)."""
    n = 0
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def rewrite_offline(question: str, last: Turn, index: Index, topical: Turn | None = None) -> str:
    """Deterministic follow-up rewriting.

    - "how do the second and third compare?" -> names the 2nd and 3rd cited papers;
    - "what about audio?" -> the previous question with its closest word swapped for "audio";
    - "what datasets do they use?" -> the question plus the previously cited titles.
    """
    cited = [c["title"] for c in last.citations]
    picks = []
    for m in _ORDINAL_RE.finditer(question):
        n = _ORDINALS[m.group(1).lower()]
        if cited and -len(cited) <= (n - 1 if n > 0 else n) < len(cited):
            picks.append(cited[n - 1 if n > 0 else n])
    if picks:
        span = re.compile(
            rf"\b(?:the\s+)?{_ORDINAL_RE.pattern}(?:\s*(?:,|and)\s*(?:the\s+)?{_ORDINAL_RE.pattern})*", re.I
        )
        rest = span.sub("these papers" if len(set(picks)) > 1 else "this paper", question, count=1)
        return f"{' and '.join(dict.fromkeys(picks))}: {' '.join(rest.split())}"
    about = _WHAT_ABOUT.match(question)
    if about:
        return swap_topic((topical or last).standalone, about.group(1), index)
    if _PRONOUN.search(question) and cited:
        return f"{question} ({'; '.join(cited[:3])})"
    return question


def swap_topic(previous: str, new: str, index: Index) -> str:
    """Replace the word of the previous question most similar to `new` (embeddings), else append."""
    words = re.findall(r"[A-Za-z][\w-]*", previous)
    content = [w for w in words if query_terms(w)]
    if not content:
        return f"{previous} {new}"
    embedder = index.embedder()
    vectors = embedder.embed(content + [new])
    sims = vectors[:-1] @ vectors[-1]
    best = int(sims.argmax())
    if float(sims[best]) < 0.15:  # nothing alike: ask about both
        return f"{previous.rstrip('?. ')} {new}?"
    return re.sub(rf"\b{re.escape(content[best])}\b", new, previous, count=1)
