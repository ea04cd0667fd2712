"""Small hand-written paper records shared by the ingest, bad-input and Chroma-server tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GOOD: list[dict[str, Any]] = [
    {
        "title": "Sparse Mixtures of Retrieval Experts",
        "date": "2024-02-01",
        "authors": ["A. Ng", "B. Li"],
        "abstract": "We route each query to a small set of retrieval experts. Sparse routing matches dense "
        "retrieval quality at a fraction of the cost on five question answering benchmarks.",
    },
    {
        "title": "Torsion Diffusion for Protein Backbones",
        "date": "2023-05-04",
        "authors": ["C. Wu"],
        "abstract": "We generate protein backbones by denoising torsion angles with a diffusion model. The "
        "designed structures fold in silico and match native secondary structure statistics.",
    },
    {
        "title": "Gradient Noise for Deep Transformers",
        "date": "2022-11-20",
        "n_authors": 7,
        "abstract": "Adding annealed Gaussian noise to gradients makes very deep transformers trainable "
        "without warmup. Perplexity improves on language modelling at every depth we tried.",
    },
]
NEW_D: dict[str, Any] = {
    "title": "Lichen Symbiosis Under Drought",
    "date": "2021-03-03",
    "abstract": "Lichens survive drought because the fungal partner shelters the alga. We measure "
    "photosynthesis of rehydrated lichen thalli across forty desert sites.",
}
NEW_E: dict[str, Any] = {
    "title": "Glacier Calving Seismology",
    "date": "2020-08-08",
    "abstract": "Calving glaciers emit seismic signals. We locate calving events from regional "
    "seismometers and estimate the ice volume lost in each event.",
}


def jsonl_text(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def jsonl(path: Path, *records: dict[str, Any]) -> Path:
    path.write_text(jsonl_text(*records), encoding="utf-8")
    return path
