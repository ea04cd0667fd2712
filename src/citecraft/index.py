"""The index: papers store, Chroma chunks, BM25, and a manifest — in one directory.

Layout of an index directory:
    manifest.json   embedder, dimension, chunking, collection name, paper_id -> hash
    papers.json     every Paper with its sentence spans (what answers quote)
    bm25/           bm25s index over title + abstract, one document per paper
    chroma/         Chroma's embedded store (absent with --chroma-url)
    .lock           held by the one process allowed to write

Writes are ordered so that a crash at any point leaves something the next
`ingest` repairs: new chunks are added before stale ones are deleted, files are
replaced atomically, and the manifest is written last.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import offline
from .errors import IndexError_, IndexLockedError, IndexMismatchError
from .papers import Paper, dedupe, merge
from .settings import Settings

MANIFEST_VERSION = 1
Progress = Callable[[str, int, int], None]


def _noop(stage: str, done: int, total: int) -> None:
    pass


def fault_point(name: str) -> None:
    """Crash here if CITECRAFT_FAULT names this point: lets tests kill an ingest at each step."""
    if os.environ.get("CITECRAFT_FAULT") == name:
        os._exit(137)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0  # records that were duplicates of papers already read
    repaired: int = 0
    chunks: int = 0
    total: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.repaired)


@dataclass
class StoredPaper:
    paper: Paper
    sentences: list[tuple[int, int]]

    def sentence_texts(self) -> list[str]:
        return [self.paper.abstract[s:e] for s, e in self.sentences]


class Index:
    """An index directory. Reading needs no lock; every write happens under `writing()`."""

    def __init__(self, settings: Settings, path: Path | None = None):
        self.settings = settings
        self.path = path or settings.index_dir
        self._papers: dict[str, StoredPaper] | None = None
        self._manifest: dict[str, Any] | None = None
        self._bm25: Any = None
        self._bm25_ids: list[str] | None = None
        self._derived: dict[tuple[str, str, str], Any] = {}
        self._client: Any = None

    # ---- reading -------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            try:
                self._manifest = json.loads(self.manifest_path.read_text("utf-8"))
            except FileNotFoundError:
                self._manifest = {}
            except (json.JSONDecodeError, OSError) as exc:
                raise IndexError_(
                    f"index manifest {self.manifest_path} is unreadable ({exc})",
                    "run `citecraft ingest --rebuild`",
                ) from exc
        return self._manifest

    def exists(self) -> bool:
        return bool(self.manifest().get("papers"))

    def papers(self) -> dict[str, StoredPaper]:
        if self._papers is None:
            self._papers = {}
            path = self.path / "papers.json"
            if path.exists():
                for row in json.loads(path.read_text("utf-8")):
                    spans = [tuple(s) for s in row.pop("sentences", [])]
                    paper = Paper.from_dict(row)
                    self._papers[paper.paper_id] = StoredPaper(paper, spans)  # type: ignore[arg-type]
        return self._papers

    def get(self, paper_id: str) -> StoredPaper | None:
        return self.papers().get(paper_id)

    def embedder(self):  # noqa: ANN201
        from .embedders import get_embedder

        spec = self.manifest().get("embedder_spec") or self.settings.index.embedder
        return get_embedder(spec, self.settings.llm.base_url)

    def _chroma_client(self) -> Any:
        offline.configure()
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        if self._client is None:
            chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            url = self.settings.index.chroma_url or self.manifest().get("chroma_url")
            if url:
                from urllib.parse import urlparse

                parsed = urlparse(url if "://" in url else f"http://{url}")
                try:
                    self._client = chromadb.HttpClient(
                        host=parsed.hostname or "localhost",
                        port=parsed.port or 8000,
                        ssl=parsed.scheme == "https",
                        settings=chroma_settings,
                    )
                    self._client.heartbeat()
                except Exception as exc:
                    raise IndexError_(
                        f"cannot reach the Chroma server at {url} ({exc.__class__.__name__})",
                        "start it with `chroma run --path DIR --port 8000` or drop --chroma-url",
                    ) from exc
            else:
                self._client = chromadb.PersistentClient(
                    path=str(self.path / "chroma"), settings=chroma_settings
                )
        return self._client

    @staticmethod
    def _key(kind: str, sp: StoredPaper) -> tuple[str, str, str]:
        return kind, sp.paper.paper_id, sp.paper.content_hash()

    def _cached(self, kind: str, sp: StoredPaper, make: Any) -> Any:
        """Per-process cache of something derived from a paper's text (keyed by its content hash)."""
        key = self._key(kind, sp)
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]

    def sentence_vectors(self, sp: StoredPaper) -> Any:
        """Embeddings of a paper's abstract sentences (its title when it has none)."""
        return self._cached(
            "sentences", sp, lambda: self.embedder().embed(sp.sentence_texts() or [sp.paper.title])
        )

    def paper_vectors(self, papers: list[StoredPaper]) -> Any:
        """Embeddings of whole papers (title + abstract), one row per paper; the uncached ones in one batch."""
        import numpy as np

        missing = [sp for sp in papers if self._key("paper", sp) not in self._derived]
        if missing:
            for sp, v in zip(missing, self.embedder().embed([sp.paper.text for sp in missing]), strict=True):
                self._derived[self._key("paper", sp)] = v
        return np.stack([self._derived[self._key("paper", sp)] for sp in papers])

    def chunk_matrix(self) -> tuple[list[str], list[str], Any]:
        """(paper id, text, unit-length vector) of every stored chunk, read from Chroma once per process and
        index state (the manifest's modification time and the chunk count)."""
        import numpy as np

        collection = self.collection()
        stamp = self.manifest_path.stat().st_mtime_ns if self.manifest_path.exists() else 0
        key = ("chunks", str(collection.name), f"{stamp}:{collection.count()}")
        if key not in self._derived:
            got = collection.get(include=["embeddings", "metadatas", "documents"])
            raw = np.asarray(got["embeddings"], dtype=np.float32).reshape(len(got["ids"]), -1)
            norms = np.linalg.norm(raw, axis=1, keepdims=True)
            matrix = (raw / np.where(norms > 0, norms, 1.0)).astype(np.float32)
            pids = [str(m["paper_id"]) for m in got["metadatas"]]
            self._derived = {k: v for k, v in self._derived.items() if k[0] != "chunks"}
            self._derived[key] = (pids, list(got["documents"]), matrix)
        return self._derived[key]  # type: ignore[no-any-return]

    def paper_terms(self, sp: StoredPaper) -> frozenset[str]:
        """The paper's BM25 terms (stemmed, stopwords removed)."""
        from .retrieve import query_terms

        return self._cached("terms", sp, lambda: frozenset(query_terms(sp.paper.text)))

    def collection(self, name: str | None = None, create: bool = False) -> Any:
        self._chroma_client()
        name = name or self.manifest().get("collection")
        if not name:
            raise IndexError_("the index has no collection yet", "run `citecraft ingest`")
        if create:
            return self._client.get_or_create_collection(
                name, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
        try:
            return self._client.get_collection(name, embedding_function=None)
        except Exception as exc:
            raise IndexError_(
                f"Chroma collection {name!r} is missing ({exc.__class__.__name__})",
                "run `citecraft ingest` to repair or `citecraft ingest --rebuild`",
            ) from exc

    def bm25(self) -> tuple[Any, list[str]]:
        if self._bm25 is None:
            import bm25s

            bdir = self.path / "bm25"
            try:
                ids = json.loads((bdir / "ids.json").read_text("utf-8"))
                self._bm25 = bm25s.BM25.load(str(bdir), show_progress=False, mmap=False)
            except (FileNotFoundError, ValueError) as exc:
                raise IndexError_(
                    "the BM25 index is missing or damaged", "run `citecraft ingest` to repair"
                ) from exc
            if ids.get("generation") != self.manifest().get("generation"):
                raise IndexError_(
                    "the BM25 index is out of date with the manifest (an interrupted ingest?)",
                    "run `citecraft ingest` to repair",
                )
            self._bm25_ids = ids["ids"]
        assert self._bm25_ids is not None
        return self._bm25, self._bm25_ids

    # ---- writing -------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the index's write lock; a second writer waits, then fails with a clear message."""
        from filelock import FileLock, Timeout

        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path / ".lock"))
        try:
            lock.acquire(timeout=self.settings.index.lock_timeout)
        except Timeout:
            raise IndexLockedError(
                f"another citecraft process is writing the index at {self.path}",
                f"waited {self.settings.index.lock_timeout:.0f}s; try again when it has finished",
            ) from None
        try:
            self._manifest = None  # re-read: another writer may have finished meanwhile
            self._papers = None
            self._sweep_debris()
            yield
        finally:
            lock.release()

    def _sweep_debris(self) -> None:
        """Remove temporary files and BM25 directories a killed writer left (we hold the lock: nobody uses them)."""
        for debris in self.path.glob(".*.tmp"):
            shutil.rmtree(debris, ignore_errors=True) if debris.is_dir() else debris.unlink(missing_ok=True)
        for debris in self.path.glob(".bm25.*.old"):
            shutil.rmtree(debris, ignore_errors=True)

    def _drop_orphan_collections(self) -> None:
        """Delete embedded-store collections the manifest does not name.

        A first ingest killed before its manifest was written, or a killed rebuild,
        leaves one. Only called when an ingest is about to write to Chroma anyway, so
        a run that fails earlier leaves the store untouched; a shared Chroma server is
        left alone (other indexes may keep collections there).
        """
        if self.settings.index.chroma_url or self.manifest().get("chroma_url"):
            return
        current = self.manifest().get("collection")
        client = self._chroma_client()
        for c in client.list_collections():
            name = c if isinstance(c, str) else c.name
            if name.startswith("citecraft-") and name != current:
                client.delete_collection(name)

    def wanted_config(self, embedder_name: str, dim: int) -> dict[str, Any]:
        idx = self.settings.index
        return {
            "embedder": embedder_name,
            "embedder_spec": idx.embedder,
            "dim": dim,
            "chunking": {
                "splitter": "llama-index SentenceSplitter",
                "encoding": "cl100k_base",
                "tokens": idx.chunk_tokens,
                "overlap": idx.chunk_overlap,
            },
        }

    def check_compatible(self) -> None:
        """Refuse to mix embedders or chunkings in one index."""
        m = self.manifest()
        if not m.get("collection"):
            return
        idx = self.settings.index
        if m.get("embedder_spec") != idx.embedder:
            raise IndexMismatchError(
                f"the index at {self.path} was built with embedder {m.get('embedder_spec')!r}, not {idx.embedder!r}",
                "run `citecraft ingest --rebuild` to rebuild it with the new embedder",
            )
        chunking = m.get("chunking", {})
        if (chunking.get("tokens"), chunking.get("overlap")) != (idx.chunk_tokens, idx.chunk_overlap):
            raise IndexMismatchError(
                f"the index at {self.path} was chunked with {chunking.get('tokens')}/{chunking.get('overlap')} tokens, "
                f"not {idx.chunk_tokens}/{idx.chunk_overlap}",
                "run `citecraft ingest --rebuild` to rebuild it with the new chunking",
            )
        url = self.settings.index.chroma_url
        if url and m.get("chroma_url") and url != m.get("chroma_url"):
            raise IndexMismatchError(
                f"the index at {self.path} uses the Chroma server {m['chroma_url']}, not {url}",
                "run `citecraft ingest --rebuild` to move it",
            )

    def ingest(
        self, new_papers: list[Paper], rebuild: bool = False, progress: Progress = _noop
    ) -> IngestReport:
        """Add or update papers. Unchanged papers are skipped; a killed run is repaired next time."""
        started = time.perf_counter()
        report = IngestReport()
        with self.writing():
            if rebuild:
                return self._rebuild(new_papers, progress, report, started)
            self.check_compatible()
            self._ingest(new_papers, progress, report)
        report.seconds = time.perf_counter() - started
        return report

    def _rebuild(
        self, new_papers: list[Paper], progress: Progress, report: IngestReport, started: float
    ) -> IngestReport:
        # Build the new state beside the old one; switch only when it is complete.
        old_manifest = dict(self.manifest())
        old_collection = old_manifest.get("collection")
        incoming = {p.paper_id: p for p in dedupe(new_papers)}
        keep = []
        for sp in self.papers().values():
            if sp.paper.paper_id in incoming:  # the new record's text wins, metadata is merged
                combined = merge(sp.paper, incoming[sp.paper.paper_id])
                combined.abstract = incoming[sp.paper.paper_id].abstract
                incoming[sp.paper.paper_id] = combined
            else:
                keep.append(sp.paper)
        new_papers = list(incoming.values()) if incoming else new_papers
        self._manifest = {}
        self._papers = {}
        self._ingest(keep + new_papers, progress, report, fresh=True)
        report.merged = 0  # kept papers are not duplicates of the new records
        if old_collection and old_collection != self.manifest().get("collection"):
            try:
                self._client.delete_collection(old_collection)
            except Exception:  # an orphan collection wastes space, it does not corrupt anything
                report.notes.append(f"could not delete old collection {old_collection}")
        report.seconds = time.perf_counter() - started
        return report

    def _ingest(
        self, new_papers: list[Paper], progress: Progress, report: IngestReport, fresh: bool = False
    ) -> None:
        from .chunking import chunk_paper, sentence_spans

        manifest = self.manifest()
        old_entries: dict[str, dict[str, Any]] = dict(manifest.get("papers", {}))
        stored = dict(self.papers())

        incoming = dedupe(new_papers)
        report.merged = len(new_papers) - len(incoming)
        merged_papers: dict[str, Paper] = {pid: sp.paper for pid, sp in stored.items() if pid in old_entries}
        for paper in incoming:
            prev = merged_papers.get(paper.paper_id)
            if prev is not None and prev.content_hash() != paper.content_hash():
                # the same paper with a changed abstract: the new text wins, metadata is merged
                combined = merge(prev, paper)
                combined.abstract = paper.abstract
                merged_papers[paper.paper_id] = combined
            else:
                merged_papers[paper.paper_id] = merge(prev, paper) if prev else paper

        embedder = self.embedder()
        collection_name = manifest.get("collection") if not fresh else None
        collection_name = collection_name or f"citecraft-{uuid.uuid4().hex[:12]}"
        if not fresh:  # a rebuild keeps the live collection until its replacement is complete
            self._drop_orphan_collections()
        collection = self.collection(collection_name, create=True)

        # what Chroma really holds (a killed run may have left more or less than the manifest says)
        have_ids: set[str] = set(collection.get(include=[])["ids"]) if not fresh else set()
        todo: list[Paper] = []
        for pid, paper in merged_papers.items():
            entry = old_entries.get(pid)
            if entry is None:
                report.added += 1
                todo.append(paper)
            elif entry["hash"] != paper.content_hash():
                report.updated += 1
                todo.append(paper)
            elif not set(entry["chunks"]) <= have_ids:
                report.repaired += 1
                todo.append(paper)
            else:
                report.unchanged += 1

        # embed everything first: a failing embedder must not leave half-written state
        new_entries: dict[str, dict[str, Any]] = {
            pid: e for pid, e in old_entries.items() if pid in merged_papers
        }
        spans_by_id = {pid: sp.sentences for pid, sp in stored.items()}
        chunks = []
        for i, paper in enumerate(todo):
            spans_by_id[paper.paper_id] = sentence_spans(paper.abstract)
            chunks.extend(
                chunk_paper(
                    paper,
                    spans_by_id[paper.paper_id],
                    self.settings.index.chunk_tokens,
                    self.settings.index.chunk_overlap,
                )
            )
            progress("chunking", i + 1, len(todo))
        vectors = np.zeros((0, embedder.dim), np.float32)
        batch = 64
        for i in range(0, len(chunks), batch):
            part = embedder.embed([c.text for c in chunks[i : i + batch]])
            vectors = np.vstack([vectors, part])
            progress("embedding", min(i + batch, len(chunks)), len(chunks))
        report.chunks = len(chunks)

        # 1) add the new chunks (ids carry the content hash, so old chunks stay until step 2)
        ids = [f"{c.paper_id}:{merged_papers[c.paper_id].content_hash()}:{c.index}" for c in chunks]
        metas = [self._chunk_meta(merged_papers[c.paper_id], c) for c in chunks]
        step = 500
        for i in range(0, len(chunks), step):
            collection.upsert(
                ids=ids[i : i + step],
                embeddings=vectors[i : i + step],
                documents=[c.text for c in chunks[i : i + step]],
                metadatas=metas[i : i + step],
            )
            progress("storing", min(i + step, len(chunks)), len(chunks))
        for paper in todo:
            new_entries[paper.paper_id] = {"hash": paper.content_hash(), "chunks": []}
        for chunk_id, c in zip(ids, chunks, strict=True):
            new_entries[c.paper_id]["chunks"].append(chunk_id)

        fault_point("after-upsert")
        # 2) papers store (metadata may have changed even for unchanged abstracts: merged sources)
        rows = []
        for pid, paper in merged_papers.items():
            spans = spans_by_id.get(pid) or sentence_spans(paper.abstract)
            rows.append({**paper.to_dict(), "sentences": [list(s) for s in spans]})
        text = json.dumps(rows, ensure_ascii=False)
        papers_path = self.path / "papers.json"
        if not papers_path.exists() or papers_path.read_text("utf-8") != text:
            write_atomic(papers_path, text)

        fault_point("after-papers")
        # 3) drop chunks that no paper owns any more (replaced abstracts, debris of killed runs)
        wanted = {cid for e in new_entries.values() for cid in e["chunks"]}
        stale = sorted((have_ids | set(ids)) - wanted)
        for i in range(0, len(stale), step):
            collection.delete(ids=stale[i : i + step])

        fault_point("after-delete")
        generation = manifest.get("generation")
        if todo or stale or fresh or not generation:
            generation = uuid.uuid4().hex
        if not self._bm25_current(generation):
            if generation == manifest.get("generation"):
                report.repaired += 1  # the BM25 files were lost or damaged
            self._write_bm25(list(merged_papers.values()), generation)

        fault_point("before-manifest")
        emb_name, emb_dim = embedder.name, embedder.dim
        new_manifest = {
            "version": MANIFEST_VERSION,
            **self.wanted_config(emb_name, emb_dim),
            "collection": collection_name,
            "chroma_url": self.settings.index.chroma_url,
            "generation": generation,
            "papers": new_entries,
        }
        if new_manifest != manifest:
            write_atomic(self.manifest_path, json.dumps(new_manifest, indent=1))
        self._manifest = new_manifest
        self._papers = None
        self._bm25 = None
        report.total = len(merged_papers)

    @staticmethod
    def _chunk_meta(paper: Paper, chunk: Any) -> dict[str, Any]:
        return {
            "paper_id": paper.paper_id,
            "title": paper.title,
            "date": paper.date or "",
            "date_int": int(paper.date.replace("-", "")) if paper.date else 0,
            "n_authors": paper.author_count or 0,
            "chunk": chunk.index,
            "start": chunk.start,
            "end": chunk.end,
        }

    def _bm25_current(self, generation: str | None) -> bool:
        try:
            ids = json.loads((self.path / "bm25" / "ids.json").read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return False
        return bool(generation) and ids.get("generation") == generation

    def _write_bm25(self, papers: list[Paper], generation: str) -> None:
        import logging

        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)

        from .retrieve import bm25_tokenize

        tmp = self.path / f".bm25.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        retriever = bm25s.BM25()
        retriever.index(bm25_tokenize([f"{p.title}\n{p.abstract}" for p in papers]), show_progress=False)
        retriever.save(str(tmp), show_progress=False)
        (tmp / "ids.json").write_text(
            json.dumps({"generation": generation, "ids": [p.paper_id for p in papers]})
        )
        final = self.path / "bm25"
        old = self.path / f".bm25.{os.getpid()}.old"
        if final.exists():
            os.replace(final, old)
        fault_point("mid-bm25")
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
