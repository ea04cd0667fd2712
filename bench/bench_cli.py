"""Time whole `citecraft` processes: ingest of the bundled corpus, cold searches, answers and summaries.

Each run is a fresh process (imports included), the way a user meets it.
Prints min / median / max over several runs. Targets on 2 cores: ingest <= 5 s,
cold search <= 1.5 s (with the default WordLlama embedder).

    python bench/bench_cli.py [--runs 5] [--embedder minilm]

`--embedder` times another embedder (sets CITECRAFT_EMBEDDER for every process);
minilm needs the [minilm] extra (CPU PyTorch) in the environment running this script.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = [sys.executable, "-m", "citecraft.cli"]
QUERIES = [
    "video compression with implicit neural representations",
    "which papers decode images from fMRI brain activity",
    "sparse autoencoders for interpretability",
]
QUESTIONS = [
    "Which datasets does NeRV++ evaluate on?",
    "How do transcoders help find circuits in language models?",
    "Which papers compress video with implicit neural representations, and how do they differ?",
]
TOPICS = ["spiking neural networks", "federated learning", "neural audio and speech codecs"]


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(BIN + args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def line(name: str, times: list[float]) -> str:
    return (
        f"{name:<28} min {min(times):6.2f}s  median {statistics.median(times):6.2f}s  "
        f"max {max(times):6.2f}s  (n={len(times)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--embedder", default="wordllama", help="wordllama (default) or minilm")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="citecraft-bench-"))
    env = {**os.environ, "CITECRAFT_HOME": str(root / "home"), "CITECRAFT_EMBEDDER": args.embedder}
    env.pop("OPENAI_API_KEY", None)
    try:
        ingest_cold = []
        for _ in range(args.runs):
            shutil.rmtree(root / "home", ignore_errors=True)
            ingest_cold.append(timed(["ingest"], env))
        ingest_again = [timed(["ingest"], env) for _ in range(args.runs)]
        search = [timed(["search", QUERIES[i % len(QUERIES)], "-k", "10"], env) for i in range(args.runs * 2)]
        search_json = [timed(["search", QUERIES[i % len(QUERIES)], "--json"], env) for i in range(args.runs)]
        ask = [timed(["ask", QUESTIONS[i % len(QUESTIONS)]], env) for i in range(args.runs)]
        summarize = [timed(["summarize", TOPICS[i % len(TOPICS)]], env) for i in range(args.runs)]
        print(f"citecraft whole-process timings (bundled corpus, 381 papers, embedder {args.embedder})")
        print(line("ingest (empty index)", ingest_cold))
        print(line("ingest (unchanged)", ingest_again))
        print(line("search (cold process)", search))
        print(line("search --json (cold)", search_json))
        print(line("ask, offline (cold)", ask))
        print(line("summarize, offline (cold)", summarize))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
