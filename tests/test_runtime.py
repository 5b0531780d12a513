"""Where commands run: the local runtime of `curate up` (a real Prefect server and Dask cluster
in the background) that later commands use and report to, `curate down` leaving no process
behind, a cold command that starts only a Dask cluster of its own, and a signal that stops a
command with one line, no process left and a rerun that resumes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import CURATE, stdlib_texts, write_jsonl

from curation import Corpus
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run


def _curate(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CURATE, *args], env=env, capture_output=True, text=True, timeout=300)


def _cold_env(tmp_path) -> dict:
    env = {**os.environ, "CURATION_RUNTIME": str(tmp_path / "runtime"), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    return env


@pytest.fixture(scope="module")
def local_runtime(tmp_path_factory):
    """`curate up` with two workers, shared by this module's tests; `curate down` at the end
    must leave none of its processes."""
    env = _cold_env(tmp_path_factory.mktemp("local-runtime"))
    assert "no local runtime" in _curate(env, "status").stdout
    up = _curate(env, "up", "--workers", "2", "--port", "4219")
    assert up.returncode == 0, up.stderr
    assert "Prefect UI at http://127.0.0.1:" in up.stdout
    try:
        yield env
    finally:
        state = _state(env)
        started = psutil.Process(state["pid"])
        processes = [started, *started.children(recursive=True)]  # the server, the workers
        assert len(processes) >= 4
        down = _curate(env, "down")
        assert down.returncode == 0 and f"stopped (pid {state['pid']})" in down.stdout
        assert not _left(processes)
        assert "no local runtime" in _curate(env, "status").stdout


def _left(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes still running a few seconds on (a worker may be exiting as its parent returns)."""
    _, alive = psutil.wait_procs(processes, timeout=5)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _state(env: dict) -> dict:
    return json.loads((Path(env["CURATION_RUNTIME"]) / "runtime.json").read_text())


def test_commands_use_the_local_runtime_and_import_no_prefect(local_runtime, tmp_path):
    env, state = local_runtime, _state(local_runtime)
    assert f"pid {state['pid']}" in _curate(env, "status").stdout
    write_jsonl(tmp_path / "one.jsonl", [{"id": "a", "text": "one document"}])
    ingest = _curate(env, "ingest", str(tmp_path / "one.jsonl"), "--corpus", str(tmp_path / "c"))
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stderr.strip() == f"using the local runtime (curate up): 2 workers, Prefect UI at {state['ui']}"
    assert Corpus.open(str(tmp_path / "c")).rows("docs") == 1
    runs = httpx.post(f"{state['prefect_api']}/flow_runs/filter", json={}, timeout=10).json()
    assert runs and all(run["state_type"] == "COMPLETED" for run in runs)
    flows = httpx.post(f"{state['prefect_api']}/flows/filter", json={}, timeout=10).json()
    assert "ingest" in [flow["name"] for flow in flows]  # the stage's flow, in the UI

    # The driver runs on the runtime: the command imports no Prefect, and draws the progress
    # the driver reports.
    write_jsonl(tmp_path / "more.jsonl", [{"id": f"m{i}", "text": f"more text {i}"} for i in range(50)])
    command = [sys.executable, "-X", "importtime", "-m", "curation.cli", "ingest", str(tmp_path / "more.jsonl"),
               "--corpus", str(tmp_path / "c"), "--append"]
    appended = subprocess.run(command, env={**env, "CURATION_PROGRESS": "1"}, capture_output=True, text=True, timeout=300)
    assert appended.returncode == 0, appended.stderr
    imported = [line.rsplit("|", 1)[1].strip() for line in appended.stderr.splitlines() if line.startswith("import time:")]
    assert "curation.cli" in imported and "distributed" in imported
    assert not [module for module in imported if module.split(".")[0] in ("prefect", "prefect_dask", "flows.stage")]
    bar = [line for line in appended.stderr.splitlines() if line.startswith("ingest ")]
    assert bar and "1/1 inputs" in bar[-1]
    assert Corpus.open(str(tmp_path / "c")).rows("docs") == 51


def test_a_cold_command_runs_on_a_cluster_of_its_own_without_a_prefect_server(tmp_path):
    env = _cold_env(tmp_path)
    write_jsonl(tmp_path / "one.jsonl", [{"id": "a", "text": "one document"}])
    process = subprocess.Popen([*CURATE, "ingest", str(tmp_path / "one.jsonl"), "--corpus", str(tmp_path / "c")],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = set()
    while process.poll() is None:
        try:
            seen |= {" ".join(p.cmdline()) for p in psutil.Process(process.pid).children(recursive=True)}
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = process.communicate()
    assert process.returncode == 0, err
    assert err == "" and "ingest: 1 in, 1 out" in out
    assert not [command for command in seen if "prefect" in command]  # Dask workers only
    assert Corpus.open(str(tmp_path / "c")).rows("docs") == 1


def _user_env(env: dict) -> dict:
    """What a user sees: Prefect's and Dask's own logging as they set it."""
    return {name: value for name, value in env.items() if name not in ("PREFECT_LOGGING_LEVEL", "DASK_LOGGING__DISTRIBUTED")}


def _scoring(env: dict, tmp_path) -> tuple[subprocess.Popen, Path]:
    """`curate score --scorer heuristics` over 40 parts, returned once its first part is staged."""
    texts = [text[:1500] for _, text in stdlib_texts(200)]
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": texts[i % len(texts)] + f" {i}"} for i in range(12_000)])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=300))
    command = [*CURATE, "score", str(tmp_path / "c"), "--scorer", "heuristics"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staged = tmp_path / "c" / ".staging"
    deadline = time.time() + 120
    while not list(staged.glob("heuristics-*/out/part-*.parquet")):
        assert process.poll() is None and time.time() < deadline, process.stderr.read()
        time.sleep(0.02)
    return process, sorted(staged.glob("heuristics-*/out/part-*.parquet"))[0]


def _rerun_resumes(env: dict, tmp_path, first: Path, inode: int) -> None:
    rerun = _curate(env, "score", str(tmp_path / "c"), "--scorer", "heuristics")
    assert rerun.returncode == 0, rerun.stderr  # the lock was let go
    corpus = Corpus.open(str(tmp_path / "c"))
    assert corpus.rows("attrs/heuristics") == 12_000
    assert os.stat(corpus.part_path("attrs/heuristics", first.stem)).st_ino == inode  # that part not redone


INTERRUPTED = r"interrupted: heuristics, \d+ of 40 parts done; rerun to resume"


# SIGTERM here, SIGINT on the local runtime (the next test): both paths handle both alike.
@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_a_signal_stops_a_stage_with_one_line_and_leaves_no_process(tmp_path, signum):
    env = _user_env(_cold_env(tmp_path))
    process, first = _scoring(env, tmp_path)
    inode = first.stat().st_ino
    children = psutil.Process(process.pid).children(recursive=True)
    assert children  # its Dask workers
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signum
    assert re.fullmatch(INTERRUPTED + "\n", err), err
    assert not _left(children)
    _rerun_resumes(env, tmp_path, first, inode)


def test_a_signal_stops_a_driver_on_the_local_runtime_and_the_runtime_stays_up(local_runtime, tmp_path):
    env = _user_env(local_runtime)
    workers = psutil.Process(_state(env)["pid"]).children(recursive=True)
    process, first = _scoring(env, tmp_path)
    inode = first.stat().st_ino
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    using, interrupted = err.splitlines()
    assert using.startswith("using the local runtime (curate up)")
    assert re.fullmatch(INTERRUPTED, interrupted), err
    assert all(worker.is_running() for worker in workers)  # the runtime's, not the command's
    _rerun_resumes(env, tmp_path, first, inode)


def test_a_runtime_running_older_code_is_refused_and_up_restarts_it(local_runtime, tmp_path):
    env, state = local_runtime, _state(local_runtime)
    path = Path(env["CURATION_RUNTIME"]) / "runtime.json"
    path.write_text(json.dumps({**state, "code": "before-an-upgrade"}))
    write_jsonl(tmp_path / "one.jsonl", [{"id": "a", "text": "one document"}])
    refused = _curate(env, "ingest", str(tmp_path / "one.jsonl"), "--corpus", str(tmp_path / "c"))
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("`curate up` restarts it")
    up = _curate(env, "up", "--workers", "2", "--port", "4219")
    assert up.returncode == 0 and "already" not in up.stdout, up.stderr
    assert not psutil.pid_exists(state["pid"]) and _state(env)["pid"] != state["pid"]
    assert _curate(env, "ingest", str(tmp_path / "one.jsonl"), "--corpus", str(tmp_path / "c")).returncode == 0
