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
import time

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


def test_up_status_down_and_the_commands_between_use_it(tmp_path):
    env = _cold_env(tmp_path)
    write_jsonl(tmp_path / "one.jsonl", [{"id": "a", "text": "one document"}])
    assert "no local runtime" in _curate(env, "status").stdout
    up = _curate(env, "up", "--workers", "1", "--port", "4219")
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "runtime" / "runtime.json").read_text())
    started = psutil.Process(state["pid"])
    processes = [started, *started.children(recursive=True)]  # the server, the workers
    try:
        assert len(processes) >= 3 and "Prefect UI at http://127.0.0.1:" in up.stdout
        assert f"pid {state['pid']}" in _curate(env, "status").stdout
        ingest = _curate(env, "ingest", str(tmp_path / "one.jsonl"), "--corpus", str(tmp_path / "c"))
        assert ingest.returncode == 0, ingest.stderr
        assert ingest.stderr.strip() == f"using the local runtime (curate up): 1 workers, Prefect UI at {state['ui']}"
        assert Corpus.open(str(tmp_path / "c")).rows("docs") == 1
        runs = httpx.post(f"{state['prefect_api']}/flow_runs/filter", json={}, timeout=10).json()
        assert runs and all(run["state_type"] == "COMPLETED" for run in runs)
        flows = httpx.post(f"{state['prefect_api']}/flows/filter", json={}, timeout=10).json()
        assert "ingest" in [flow["name"] for flow in flows]  # the stage's flow, in the UI
    finally:
        down = _curate(env, "down")
    assert down.returncode == 0 and f"stopped (pid {state['pid']})" in down.stdout
    assert not [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert "no local runtime" in _curate(env, "status").stdout


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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_stage_with_one_line_and_leaves_no_process(tmp_path, signum):
    env = _cold_env(tmp_path)
    for name in ("PREFECT_LOGGING_LEVEL", "DASK_LOGGING__DISTRIBUTED"):
        env.pop(name, None)  # what a user sees
    texts = [text[:1500] for _, text in stdlib_texts(200)]
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": texts[i % len(texts)] + f" {i}"} for i in range(24_000)])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=600))
    command = [*CURATE, "score", str(tmp_path / "c"), "--scorer", "heuristics"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staged = tmp_path / "c" / ".staging"
    deadline = time.time() + 120
    while not list(staged.glob("heuristics-*/out/part-*.parquet")):
        assert process.poll() is None and time.time() < deadline, process.stderr.read()
        time.sleep(0.02)
    first = sorted(staged.glob("heuristics-*/out/part-*.parquet"))[0]
    inode = first.stat().st_ino
    children = psutil.Process(process.pid).children(recursive=True)
    assert children  # its Dask workers
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signum
    assert re.fullmatch(r"interrupted: heuristics, \d+ of 40 parts done; rerun to resume\n", err), err
    assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    rerun = _curate(env, "score", str(tmp_path / "c"), "--scorer", "heuristics")
    assert rerun.returncode == 0, rerun.stderr
    corpus = Corpus.open(str(tmp_path / "c"))
    assert corpus.rows("attrs/heuristics") == 24_000
    assert os.stat(corpus.part_path("attrs/heuristics", first.stem)).st_ino == inode  # resumed: that part not redone
