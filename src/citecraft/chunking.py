"""Sentence spans and token-budgeted chunks of a paper (llama-index SentenceSplitter + tiktoken)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .papers import Paper

ENCODING = "cl100k_base"
ABBREVIATION = re.compile(
    r"(?:\b(?:e\.g|i\.e|et al|vs|cf|Fig|Eq|Sec|approx|resp|etc)\.|(?<![\w-])[A-Z]\.)\s*$"
)  # "J. Smith", not "Swin-B."


@dataclass(frozen=True)
class Chunk:
    paper_id: str
    index: int
    text: str  # title + the chunk's part of the abstract, as embedded and shown
    start: int  # character offsets into the abstract
    end: int


@lru_cache(maxsize=1)
def _sentence_tokenizer():  # noqa: ANN202
    from . import offline

    offline.configure()
    from llama_index.core.node_parser.text.utils import split_by_sentence_tokenizer

    return split_by_sentence_tokenizer()


@lru_cache(maxsize=1)
def token_counter():  # noqa: ANN202
    from . import offline

    offline.configure()
    import tiktoken

    return tiktoken.get_encoding(ENCODING).encode


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (Punkt, with abbreviation repairs)."""
    pieces = _sentence_tokenizer()(text)
    spans: list[tuple[int, int]] = []
    pos = 0
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        start = text.find(piece, pos)
        if start < 0:
            continue
        end = start + len(piece)
        if spans and (ABBREVIATION.search(text[spans[-1][0] : spans[-1][1]]) or end - start < 12):
            spans[-1] = (spans[-1][0], end)  # "e.g." or a stray fragment: not a sentence end
        else:
            spans.append((start, end))
        pos = end
    return spans or [(0, len(text))]


def chunk_paper(paper: Paper, spans: list[tuple[int, int]], tokens: int, overlap: int) -> list[Chunk]:
    """Split the abstract on sentence boundaries within a token budget; every chunk carries the title."""
    from . import offline

    offline.configure()
    from llama_index.core.node_parser import SentenceSplitter

    splitter = _splitter(tokens, overlap)
    assert isinstance(splitter, SentenceSplitter)
    chunks: list[Chunk] = []
    pos = 0
    for i, part in enumerate(splitter.split_text(paper.abstract)):
        start = paper.abstract.find(part[:50], max(0, pos - len(part)))
        start = start if start >= 0 else pos
        end = min(len(paper.abstract), start + len(part))
        chunks.append(Chunk(paper.paper_id, i, f"{paper.title}\n{part}", start, end))
        pos = end
    return chunks


@lru_cache(maxsize=4)
def _splitter(tokens: int, overlap: int) -> object:
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(chunk_size=tokens, chunk_overlap=overlap, tokenizer=token_counter())
