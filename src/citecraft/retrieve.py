"""Hybrid retrieval: dense (Chroma) and BM25 fused, aggregated to papers, with metadata filters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from .errors import ConfigError
from .index import Index, StoredPaper


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def bm25_tokenize(texts: list[str]) -> Any:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False)


def query_terms(text: str) -> list[str]:
    import bm25s

    return bm25s.tokenize([text], stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)[
        0
    ]


@dataclass
class Filters:
    """Metadata filters. Date bounds only match papers whose full date is known."""

    since: date | None = None
    until: date | None = None
    min_authors: int | None = None
    max_authors: int | None = None

    @classmethod
    def parse(
        cls,
        since: str | None = None,
        until: str | None = None,
        min_authors: int | None = None,
        max_authors: int | None = None,
    ) -> Filters:
        def _d(value: str | None, flag: str) -> date | None:
            if not value:
                return None
            text = value.strip()
            if len(text) == 4 and text.isdigit():
                text = f"{text}-01-01" if flag == "--since" else f"{text}-12-31"
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise ConfigError(f"{flag} {value!r} is not a date", "use YYYY-MM-DD or YYYY") from None

        return cls(_d(since, "--since"), _d(until, "--until"), min_authors, max_authors)

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.since, self.until, self.min_authors, self.max_authors))

    def accepts(self, sp: StoredPaper) -> bool:
        p = sp.paper
        if self.since or self.until:
            if not p.date:
                return False
            d = date.fromisoformat(p.date)
            if (self.since and d < self.since) or (self.until and d > self.until):
                return False
        if self.min_authors is not None or self.max_authors is not None:
            n = p.author_count
            if n is None:
                return False
            if (self.min_authors is not None and n < self.min_authors) or (
                self.max_authors is not None and n > self.max_authors
            ):
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.since:
            parts.append(f"since {self.since}")
        if self.until:
            parts.append(f"until {self.until}")
        if self.min_authors is not None:
            parts.append(f"≥{self.min_authors} authors")
        if self.max_authors is not None:
            parts.append(f"≤{self.max_authors} authors")
        return ", ".join(parts)


@dataclass
class Hit:
    paper_id: str
    title: str
    date: str | None
    score: float
    snippet: str
    dense: float = 0.0  # cosine similarity of the best chunk
    bm25: float = 0.0  # raw BM25 score of the paper
    rank_dense: int | None = None
    rank_bm25: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "paper_id": self.paper_id,
            "title": self.title,
            "date": self.date,
            "score": round(self.score, 4),
            "snippet": self.snippet,
        }


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    filters: Filters = field(default_factory=Filters)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "results": [h.to_json() for h in self.hits]}


EXACT_SEARCH_LIMIT = 50_000  # chunks; a matrix product over this many 256-d vectors takes milliseconds


def _unit(vector: Any) -> Any:
    import numpy as np

    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _best_per_paper(rows: list[tuple[str, float, str]]) -> dict[str, tuple[float, str]]:
    """paper_id -> (its best chunk's similarity, that chunk's text without its title line)."""
    out: dict[str, tuple[float, str]] = {}
    for pid, sim, doc in rows:
        if pid not in out or sim > out[pid][0]:
            out[pid] = (sim, doc.split("\n", 1)[-1])
    return out


class Retriever:
    """Dense and lexical retrieval over one index, fused and aggregated to papers."""

    def __init__(self, index: Index):
        self.index = index
        self.settings = index.settings.retrieval

    def query_vector(self, query: str) -> Any:
        import numpy as np

        return _unit(np.asarray(self.index.embedder().embed([query])[0], dtype=np.float32))

    def dense_scores(
        self, query: str, allowed: list[str] | None, n: int, vector: Any = None
    ) -> dict[str, tuple[float, str]]:
        """paper_id -> (best chunk similarity, best chunk text) over the top-n chunks.

        Up to EXACT_SEARCH_LIMIT chunks the similarities are computed exactly from the stored vectors:
        Chroma's approximate index missed the true nearest chunk in about one process in five here
        (a 684-chunk collection), which made answers differ from run to run. Beyond it, Chroma's search.
        """
        import numpy as np

        collection = self.index.collection()
        count = collection.count()
        if count == 0 or allowed == []:
            return {}
        vector = self.query_vector(query) if vector is None else vector
        if count <= EXACT_SEARCH_LIMIT:
            pids, docs, matrix = self.index.chunk_matrix()
            sims = matrix @ vector
            if allowed is not None:
                keep = set(allowed)
                sims = np.where([p in keep for p in pids], sims, -np.inf)
            top = np.argsort(-sims, kind="stable")[: min(n, count)]
            rows = [(pids[i], float(sims[i]), docs[i]) for i in top if np.isfinite(sims[i])]
        else:
            where = {"paper_id": {"$in": allowed}} if allowed is not None else None
            res = collection.query(
                query_embeddings=[vector.tolist()],
                n_results=min(n, count),
                where=where,
                include=["metadatas", "distances", "documents"],
            )
            rows = [
                (str(meta["paper_id"]), 1.0 - float(dist), doc)
                for meta, dist, doc in zip(
                    res["metadatas"][0], res["distances"][0], res["documents"][0], strict=True
                )
            ]
        return _best_per_paper(rows)

    def exact_dense_scores(
        self, query: str, paper_ids: list[str], vector: Any = None
    ) -> dict[str, tuple[float, str]]:
        """paper_id -> (best chunk similarity, its text) for these papers, computed exactly from their stored
        chunk embeddings (no approximate search: the same answer in every process)."""
        import numpy as np

        if not paper_ids:
            return {}
        vector = self.query_vector(query) if vector is None else vector
        wanted = set(paper_ids)
        if self.index.collection().count() <= EXACT_SEARCH_LIMIT:
            pids, docs, matrix = self.index.chunk_matrix()
            rows_at = [i for i, p in enumerate(pids) if p in wanted]
            sims = matrix[rows_at] @ vector if rows_at else np.zeros(0)
            return _best_per_paper([(pids[i], float(s), docs[i]) for i, s in zip(rows_at, sims, strict=True)])
        got = self.index.collection().get(
            where={"paper_id": {"$in": paper_ids}}, include=["embeddings", "metadatas", "documents"]
        )
        if got["embeddings"] is None or not len(got["embeddings"]):
            return {}
        chunks = np.asarray(got["embeddings"], dtype=np.float32)
        norms = np.linalg.norm(chunks, axis=1)
        sims = chunks @ vector / np.where(norms > 0, norms, 1.0)
        return _best_per_paper(
            [
                (str(m["paper_id"]), float(s), d)
                for m, s, d in zip(got["metadatas"], sims, got["documents"], strict=True)
            ]
        )

    def bm25_scores(self, query: str) -> dict[str, float]:
        retriever, ids = self.index.bm25()
        terms = query_terms(query)
        if not terms:
            return {}
        scores = retriever.get_scores(terms)
        return {pid: float(s) for pid, s in zip(ids, scores, strict=True) if s > 0}

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        candidates: int | None = None,
        mode: str = "hybrid",
    ) -> SearchResult:
        """Top-k papers for a query; mode 'dense' or 'bm25' uses one retriever alone (for evaluation)."""
        filters = filters or Filters()
        k = k or self.settings.k
        n = max(candidates or self.settings.candidates, k * 3)
        timings: dict[str, float] = {}
        papers = self.index.papers()
        allowed = [pid for pid, sp in papers.items() if filters.accepts(sp)] if filters.active else None

        t = time.perf_counter()
        lexical = self.bm25_scores(query) if mode != "dense" else {}
        if allowed is not None:
            keep = set(allowed)
            lexical = {pid: s for pid, s in lexical.items() if pid in keep}
        timings["bm25"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        vector = self.query_vector(query) if mode != "bm25" else None
        dense = self.dense_scores(query, allowed, n, vector) if mode != "bm25" else {}
        if mode == "hybrid":
            # the nearest-neighbour search is approximate: a paper BM25 ranks high but whose chunks fall just
            # outside the dense top-n would fuse with a dense score of 0 in some processes and not in others
            top_lexical = sorted(lexical, key=lambda p: (-lexical[p], p))[:n]
            dense.update(self.exact_dense_scores(query, [p for p in top_lexical if p not in dense], vector))
        timings["dense"] = (time.perf_counter() - t) * 1000

        fused = fuse(
            dense={p: s for p, (s, _) in dense.items()},
            lexical=lexical,
            dense_weight=self.settings.dense_weight,
        )
        hits = []
        dense_rank = {p: i for i, p in enumerate(sorted(dense, key=lambda p: -dense[p][0]))}
        lex_rank = {p: i for i, p in enumerate(sorted(lexical, key=lambda p: -lexical[p]))}
        for pid, score in fused[:k]:
            sp = papers.get(pid)
            if sp is None:  # a chunk whose paper is gone (an interrupted ingest): never show it
                continue
            snippet = dense[pid][1] if pid in dense else sp.paper.abstract
            hits.append(
                Hit(
                    pid,
                    sp.paper.title,
                    sp.paper.display_date(),
                    score,
                    _shorten(snippet),
                    dense.get(pid, (0.0, ""))[0],
                    lexical.get(pid, 0.0),
                    dense_rank.get(pid),
                    lex_rank.get(pid),
                )
            )
        return SearchResult(query, hits, filters, timings)


def fuse(dense: dict[str, float], lexical: dict[str, float], dense_weight: float) -> list[tuple[str, float]]:
    """Weighted fusion of max-normalized scores.

    Each list is scaled by its own best score, so a query that quotes an abstract
    (one BM25 score far above the rest) keeps its lexical winner on top, while a
    reworded question (flat BM25 scores) is decided by the dense similarities.
    """
    out: dict[str, float] = {}
    dmax = max(dense.values(), default=0.0)
    lmax = max(lexical.values(), default=0.0)
    for pid in set(dense) | set(lexical):
        d = dense.get(pid, 0.0) / dmax if dmax > 0 else 0.0
        lx = lexical.get(pid, 0.0) / lmax if lmax > 0 else 0.0
        out[pid] = dense_weight * d + (1 - dense_weight) * lx
    return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))


def _shorten(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
