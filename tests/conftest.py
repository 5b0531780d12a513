"""Shared fixtures: an isolated Prefect home and runtime home, one real Prefect server and Dask
LocalCluster (two worker processes) for the session, and helpers to write inputs."""

from __future__ import annotations

import atexit
import contextlib
import gzip
import os
import shutil
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
_RUNTIME = tempfile.mkdtemp(prefix="curation-tests-runtime-")
for _folder in (_HOME, _RUNTIME):
    atexit.register(shutil.rmtree, _folder, ignore_errors=True)
os.environ.update(
    {
        "PREFECT_HOME": _HOME,
        # Never the developer's `curate up` runtime: tests start what they use.
        "CURATION_RUNTIME": _RUNTIME,
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
def dask_address(tmp_path_factory):
    """The address of a real LocalCluster (2 worker processes) with a real Prefect server, which
    the flows of the session (and the commands it starts) report to."""
    from flows.runtime import runtime

    with prefect_server(tmp_path_factory.mktemp("prefect")) as (api, _):
        os.environ["PREFECT_API_URL"] = api
        with runtime(workers=2) as running:
            yield running.dask_address


def write_jsonl(path: Path, records: list, opener=open) -> Path:
    with opener(path, "wb") as handle:
        for record in records:
            handle.write(record if isinstance(record, bytes) else orjson.dumps(record))
            handle.write(b"\n")
    return path


def write_jsonl_gz(path: Path, records: list) -> Path:
    return write_jsonl(path, records, gzip.open)


def three_domains(folder: Path) -> list:
    """Real text in three domains of unequal size (docs 240, code 60, literature 300), one JSONL
    each: the input of the mixture tests, as InputSpecs."""
    import itertools

    from curation.demo import sources
    from curation.demo.build import DEFAULT_DATA_DIR
    from curation.ingest.units import InputSpec

    root = DEFAULT_DATA_DIR / "root"
    groups = {"docs": (sources.linux_docs(root), 240), "code": (sources.python_stdlib(), 60),
              "literature": (sources.fortunes(root), 300)}
    for domain, (texts, count) in groups.items():
        write_jsonl(folder / f"{domain}.jsonl", [{"id": f"{domain}-{i}", "text": t[:3000]}
                                                  for i, (_, t) in enumerate(itertools.islice(texts, count))])
    return [InputSpec(str(folder / f"{d}.jsonl"), source=d, domain=d) for d in groups]


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
    from flows.runtime import PrefectServer

    server = PrefectServer(home, free_port(), ui=False).start()
    try:
        api = server.wait()
        env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api}
        env.pop("MALLOC_TRIM_THRESHOLD_", None)
        yield api, env
    finally:
        server.stop()
