"""Shared fixtures: an isolated Prefect home, one real Prefect server and Dask LocalCluster
(two worker processes) for the session, and helpers to write inputs."""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

_HOME = tempfile.mkdtemp(prefix="curation-tests-prefect-")
os.environ.update(
    {
        "PREFECT_HOME": _HOME,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "DASK_LOGGING__DISTRIBUTED": "warning",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    }
)
os.environ.pop("PREFECT_API_URL", None)

REPO = Path(__file__).resolve().parent.parent
CURATE = [sys.executable, "-m", "curation.cli"]


@pytest.fixture(scope="session")
def dask_address():
    """The address of a real LocalCluster (2 worker processes) with a real Prefect server."""
    from flows.runtime import runtime

    with runtime(workers=2) as address:
        yield address


def write_jsonl(path: Path, records: list, opener=open) -> Path:
    with opener(path, "wb") as handle:
        for record in records:
            handle.write(record if isinstance(record, bytes) else orjson.dumps(record))
            handle.write(b"\n")
    return path


def write_jsonl_gz(path: Path, records: list) -> Path:
    return write_jsonl(path, records, gzip.open)


def stdlib_texts(count: int, min_chars: int = 200) -> list[tuple[str, str]]:
    """Real text for tests: modules of this interpreter's standard library."""
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for file in sorted(root.glob("*.py")):
        text = file.read_text(encoding="utf-8", errors="replace")
        if len(text) >= min_chars:
            texts.append((file.stem, text))
        if len(texts) == count:
            break
    return texts


def kill_once_staged(command: list[str], staging: Path, pattern: str, count: int = 1, timeout: float = 180) -> None:
    """Start ``command`` and SIGKILL its whole process group as soon as ``count`` files match
    ``pattern`` under ``staging``: a crash in the middle of a stage's map work."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + timeout
    try:
        while len(list(staging.glob(pattern)) if staging.exists() else []) < count:
            assert process.poll() is None, process.stderr.read()
            assert time.time() < deadline, f"{command[3]} never got going"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()



def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"{what} did not happen in {timeout:.0f} s"
        time.sleep(0.5)


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[tuple[str, dict]]:
    """`prefect server start` on 127.0.0.1; yields its API URL and an environment pointing at it."""
    import urllib.request

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api}
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    server = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(f"{api}/health", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_until(healthy, "prefect server")
        yield api, env
    finally:
        server.terminate()
        server.wait(timeout=30)
