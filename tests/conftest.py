"""Shared fixtures: a temp home for every test, no network, one ingested bundled index."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from citecraft import offline

offline.configure()

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "daily-papers"

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else address
    if (
        self.family in (socket.AF_INET, socket.AF_INET6)
        and isinstance(host, str)
        and not (host.startswith("127.") or host in ("localhost", "::1"))
    ):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    """Any connection off loopback fails the test loudly."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own CITECRAFT_HOME and no model configured."""
    h = tmp_path / "home"
    monkeypatch.setenv("CITECRAFT_HOME", str(h))
    for var in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "CITECRAFT_MODEL",
        "CITECRAFT_EMBEDDER",
        "CITECRAFT_CHROMA_URL",
        "CITECRAFT_FAULT",
        "CITECRAFT_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture(scope="session")
def bundled_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose index holds the bundled corpus, ingested once per session."""
    from citecraft.index import Index
    from citecraft.readers import read_paths
    from citecraft.settings import Settings

    h = tmp_path_factory.mktemp("bundled") / "home"
    Index(Settings(home=h)).ingest(read_paths([DATA]).papers)
    return h


@pytest.fixture
def bundled(bundled_home: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the bundled index (tests may write to it)."""
    shutil.copytree(bundled_home, home)
    return home


@pytest.fixture
def readonly_bundled(bundled_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared bundled index itself, for tests that only read."""
    monkeypatch.setenv("CITECRAFT_HOME", str(bundled_home))
    return bundled_home


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> tuple[int, str, str]:
    """Run `citecraft` in a subprocess (a real process: exit codes, stdout and stderr as a user sees them).

    stdin is empty unless `input` is given (then it is piped in: not a terminal).
    """
    import subprocess
    import sys

    full_env = {**os.environ, **(env or {})}
    command = [sys.executable, "-m", "citecraft.cli", *args]
    if input is None:
        proc = subprocess.run(
            command, capture_output=True, text=True, env=full_env, timeout=300, stdin=subprocess.DEVNULL
        )
    else:
        proc = subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=300, input=input)
    return proc.returncode, proc.stdout, proc.stderr
