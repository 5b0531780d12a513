"""Scale-out: the same pipeline on an existing Dask cluster (a `dask scheduler` and two `dask
worker` processes on 127.0.0.1, reporting to a `prefect server` started here) gives the same
corpus, selections and mixture as a run on the built-in LocalCluster."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from conftest import CURATE, free_port, prefect_server, wait_until, write_jsonl

from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR

BIN = Path(sys.executable).parent
PIPELINE = """
corpus: {corpus}
inputs:
  - {{path: docs.jsonl, source: linux-doc, domain: docs}}
  - {{path: fortunes.jsonl, source: fortunes, domain: literature}}
ingest: {{shard_size: 100}}
stages:
  scores: [{{scorer: heuristics}}, {{scorer: langid}}]
  exact_dedup: {{scope: global}}
  minhash: {{threshold: 0.8}}
  embed: {{encoder: hashing}}
  clusters: {{k: [6, 2]}}
selections:
  kept: {{where: "exact_dedup.keep AND minhash.keep", random: true, percent: 60}}
mixtures:
  mix: {{selection: kept, upsample: {{literature: 2}}, upsample_fraction: 0.2}}
"""


@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory):
    """A Prefect server and a Dask scheduler with two single-threaded workers, all on 127.0.0.1."""
    with prefect_server(tmp_path_factory.mktemp("prefect")) as (_, env):
        scheduler = f"tcp://127.0.0.1:{free_port()}"
        processes = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                                       scheduler.rsplit(":", 1)[1], "--no-dashboard"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        for _ in range(2):
            processes.append(subprocess.Popen([str(BIN / "dask"), "worker", scheduler, "--nthreads", "1",
                                               "--no-dashboard"], env=env, cwd=str(Path(__file__).parent.parent),
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def two_workers() -> bool:
            from distributed import Client

            try:
                with Client(scheduler, timeout=5) as client:
                    return len(client.scheduler_info()["workers"]) == 2
            except OSError:
                return False

        try:
            wait_until(two_workers, "two dask workers")
            yield scheduler, env, processes[1:]
        finally:
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


def _tables(corpus: Path) -> dict[str, object]:
    tables = {}
    for path in sorted(corpus.rglob("*.parquet")):
        relative = str(path.relative_to(corpus))
        if not relative.startswith((".staging", "models")):
            tables[relative] = pq.read_table(path)
    return tables


def _inputs(tmp_path: Path, count: int) -> None:
    root = DEFAULT_DATA_DIR / "root"
    write_jsonl(tmp_path / "docs.jsonl", [{"id": f"d{i}", "text": t[:3000]} for i, (_, t) in enumerate(itertools.islice(sources.linux_docs(root), count))])
    write_jsonl(tmp_path / "fortunes.jsonl", [{"id": f"f{i}", "text": t} for i, (_, t) in enumerate(itertools.islice(sources.fortunes(root), count))])


def _run(tmp_path: Path, label: str, options: list[str], env: dict) -> subprocess.Popen:
    pipeline = tmp_path / f"{label}.yaml"
    pipeline.write_text(PIPELINE.format(corpus=label))
    return subprocess.Popen([*CURATE, "-q", "run", str(pipeline), *options], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finished(process: subprocess.Popen) -> None:
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]


def test_an_external_dask_cluster_gives_the_local_result(tmp_path, external_cluster):
    scheduler, env, _ = external_cluster
    _inputs(tmp_path, 200)
    runs = {}
    for label, options in (("local", ["--workers", "2"]), ("external", ["--dask-address", scheduler])):
        _finished(_run(tmp_path, label, options, env))
        runs[label] = tmp_path / label
    from distributed import Client

    with Client(scheduler) as client:  # the external workers ran the score tasks themselves
        assert list(client.run(lambda: "scorers.heuristics" in sys.modules).values()) == [True, True]
    local, external = _tables(runs["local"]), _tables(runs["external"])
    assert local.keys() == external.keys() and any(k.startswith("mixtures/mix/data/") for k in local)
    for name in local:
        assert local[name].equals(external[name]), name
    manifests = [orjson.loads((runs[label] / "mixtures" / "mix" / "manifest.json").read_bytes()) for label in runs]
    for manifest in manifests:
        manifest["lineage"].pop("corpus")
    assert manifests[0] == manifests[1]


def test_a_worker_killed_mid_stage_loses_nothing(tmp_path, external_cluster):
    """SIGKILL one worker process in the middle of fuzzy dedup (two of its tasks done): Dask reruns
    its tasks elsewhere (its nanny restarts it) and the run ends with the uninterrupted result.
    Fuzzy dedup, because its dozen steps give the test seconds to act in; the heuristics stage,
    compiled, now scores these parts in less time than one look at the staging area."""
    import psutil

    scheduler, env, workers = external_cluster
    _inputs(tmp_path, 300)
    _finished(_run(tmp_path, "local", ["--workers", "2"], env))
    run = _run(tmp_path, "external", ["--dask-address", scheduler], env)
    staging = tmp_path / "external" / ".staging"
    wait_until(lambda: len(list(staging.glob("minhash-*/finished/*/*"))) >= 2 or run.poll() is not None,
               "fuzzy dedup")
    assert run.poll() is None, "the run ended before a worker could be killed"
    victim = psutil.Process(workers[0].pid).children(recursive=True)[0]  # the worker under its nanny
    victim.kill()
    _finished(run)
    local, external = _tables(tmp_path / "local"), _tables(tmp_path / "external")
    assert local.keys() == external.keys()
    for name in local:
        assert local[name].equals(external[name]), name
