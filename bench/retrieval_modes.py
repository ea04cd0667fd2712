"""Retrieval recall@5 / recall@20 per kind for BM25 alone, dense alone and the fused default.

Reproduces the retrieval table in the README on the index in $CITECRAFT_HOME (ingest first):

    python bench/retrieval_modes.py [evals/dataset.yaml]
"""

from __future__ import annotations

import sys
from pathlib import Path

from citecraft import offline
from citecraft.evaluate import KINDS, default_dataset, load_dataset, retrieval_recall
from citecraft.index import Index
from citecraft.settings import Settings


def main() -> None:
    offline.configure()
    dataset = Path(sys.argv[1]) if len(sys.argv) > 1 else default_dataset()
    cases = load_dataset(dataset)
    index = Index(Settings())
    by_mode = {
        mode: retrieval_recall(index, cases, ks=(5, 20), mode=mode) for mode in ("bm25", "dense", "hybrid")
    }
    print(f"{'kind':<14}{'bm25':>14}{'dense':>14}{'fused':>14}   (recall@5 / recall@20, {dataset.name})")
    for kind in KINDS:
        if kind not in by_mode["hybrid"]:
            continue
        cells = [f"{r[kind]['recall@5']:.2f} / {r[kind]['recall@20']:.2f}" for r in by_mode.values()]
        print(f"{kind:<14}" + "".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
