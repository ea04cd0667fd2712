"""`--chroma-url`: ingest into and search through a real `chroma run` server on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.records import GOOD, NEW_E, jsonl

pytestmark = pytest.mark.slow

CHROMA = Path(sys.executable).parent / "chroma"
PAPERS = [GOOD[0], GOOD[1], NEW_E]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_heartbeat(url: str, proc: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma exited with {proc.returncode}")
        for version in ("v2", "v1"):
            try:
                with urllib.request.urlopen(f"{url}/api/{version}/heartbeat", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        time.sleep(0.2)
    raise TimeoutError(f"no Chroma heartbeat at {url} within {seconds}s")


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    if not CHROMA.exists():
        pytest.fail(f"the chroma CLI is missing at {CHROMA}")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for_heartbeat(f"http://127.0.0.1:{port}", proc)
        yield f"http://127.0.0.1:{port}", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.timeout(120)
def test_ingest_and_search_through_a_chroma_server(
    chroma_server: tuple[str, int], home: Path, tmp_path: Path
) -> None:
    url, port = chroma_server
    source = tmp_path / "papers.jsonl"
    jsonl(source, *PAPERS)

    code, out, err = run_cli("--chroma-url", url, "ingest", str(source))
    assert code == 0, err
    assert out.startswith("3 records read; 3 added, 0 updated, 0 unchanged; 3 chunks embedded in ")
    manifest = json.loads((home / "index" / "manifest.json").read_text())
    assert manifest["chroma_url"] == url
    assert not (home / "index" / "chroma").exists()  # nothing stored locally

    # the collection lives on the server, holding exactly the manifest's chunks
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.HttpClient(
        host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)
    )
    assert manifest["collection"] in [c.name for c in client.list_collections()]
    got = client.get_collection(manifest["collection"]).get(include=["metadatas"])
    assert sorted(got["ids"]) == sorted(c for e in manifest["papers"].values() for c in e["chunks"])
    assert sorted(m["title"] for m in got["metadatas"]) == sorted(p["title"] for p in PAPERS)

    # search goes through the server (the manifest remembers the URL)
    code, out, err = run_cli("search", "glacier calving seismic events", "-k", "2", "--json")
    assert code == 0, err
    results = json.loads(out)["results"]
    assert [r["title"] for r in results][0] == "Glacier Calving Seismology"
    assert results[0]["date"] == "2020-08-08" and len(results) == 2

    # a second ingest through the server changes nothing
    code, out, err = run_cli("--chroma-url", url, "ingest", str(source))
    assert code == 0, err
    assert out == "3 records read; index unchanged: 3 papers already up to date.\n"


@pytest.mark.timeout(120)
def test_chroma_server_search_keeps_stderr_clean(
    chroma_server: tuple[str, int], home: Path, tmp_path: Path
) -> None:
    url, _ = chroma_server
    source = tmp_path / "papers.jsonl"
    jsonl(source, *PAPERS[:1])
    code, out, err = run_cli("--chroma-url", url, "ingest", str(source))
    assert code == 0
    code, out, err = run_cli("search", "retrieval experts", "-k", "1", "--json")
    assert code == 0
    assert json.loads(out)["results"][0]["title"] == PAPERS[0]["title"]
    assert err == ""
