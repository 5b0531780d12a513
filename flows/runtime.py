"""Where stages run and whether they report to Prefect.

A command uses, in this order:
1. the local runtime of `curate up` (flows.local_runtime): its Prefect server, with the UI, and its
   Dask cluster, both already running; the stage's driver runs there too (flows.remote), so the
   command imports no Prefect and finishes a small job in about two seconds;
2. otherwise a Dask cluster of its own (``--dask-address``: the user's), reporting to the
   Prefect server ``PREFECT_API_URL`` names when one is configured;
3. with no server configured, its tasks go straight to Dask. A temporary Prefect server per
   command (what Prefect would start) costs about 9 s and keeps nothing anyone can look at, so
   none is started; corpus.json records every stage run either way.

``dask_cluster`` is a LocalCluster of one single-threaded worker process per core, shared by
every stage of a command.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from curation.corpus import StageRecord
from curation.errors import UserError
from curation.stage import MapStep, StageConfig, StagePlan, Step


def configured_api() -> str | None:
    """The Prefect server the environment or the active Prefect profile names, if any. Read
    without importing Prefect (a second and a half, in every cold command): the profile is the
    one $PREFECT_PROFILE or the ``active`` key of $PREFECT_HOME/profiles.toml names, as Prefect's
    settings documentation describes."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    profiles = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")) / "profiles.toml"
    try:
        document = tomllib.loads(profiles.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or document.get("active", "ephemeral")
    return document.get("profiles", {}).get(active, {}).get("PREFECT_API_URL") or None


@dataclass(frozen=True)
class Runtime:
    dask_address: str
    prefect_api: str | None  # where flows report; None: tasks go straight to Dask
    client: object = None  # this command's distributed.Client, unless its flows run here
    remote: bool = False  # the drivers run on the cluster (the local runtime's)

    def run_stage(self, corpus_url: str, config: StageConfig) -> StageRecord:
        if self.remote:
            from flows.remote import on_runtime, stage_flow

            return on_runtime(self.client, stage_flow, corpus_url, config, self.dask_address)
        if self.prefect_api:
            from flows.stage import run_flow

            return run_flow(corpus_url, config, self.dask_address)
        from curation.stage import run

        return run(corpus_url, config, on_cluster(self.client))

    def run_pipeline(self, config):
        if self.remote:
            from flows.remote import on_runtime, pipeline_flow

            return on_runtime(self.client, pipeline_flow, config, self.dask_address)
        if self.prefect_api:
            from flows.pipeline import run_pipeline

            return run_pipeline(config, self.dask_address)
        from curation.pipeline import run_steps
        from curation.registry import stage_named, stage_of
        from curation.stage import execute, plan, prepared

        corpus = prepared(stage_named("ingest"), config.corpus, config.ingest)
        with corpus.writer_lock("run"):
            return run_steps(config, lambda stage_config: execute(
                plan(corpus, stage_of(stage_config), stage_config), on_cluster(self.client)))


def on_cluster(client) -> MapStep:
    """A map step that runs each item as a Dask task (one retry, as a Prefect task has)."""
    from distributed import as_completed

    def map_step(step: Step, stage_plan: StagePlan, items: list) -> Iterator:
        token = uuid.uuid4().hex[:8]
        keys = [f"{stage_plan.name}-{step.name}-{token}-{i}" for i in range(len(items))]
        futures = client.map(_run_item, items, step=step, stage_plan=stage_plan, key=keys, retries=1, pure=False)
        for future in as_completed(futures):
            yield future.result()

    return map_step


def _run_item(item, step: Step, stage_plan: StagePlan):
    return step.run_item(stage_plan, item)


@contextlib.contextmanager
def runtime(workers: int | None = None, dask_address: str | None = None,
            say=lambda line: print(line, file=sys.stderr)) -> Iterator[Runtime]:
    """The runtime of one command; ``say`` gets one line when the local runtime is used."""
    from distributed import Client

    from flows.local_runtime import code_version, running

    up = None if dask_address else running()
    if up is not None:
        if up.get("code") != code_version():
            raise UserError("the local runtime runs the code installed before curation changed; "
                            "`curate up` restarts it")
        say(f"using the local runtime (curate up): {up['workers']} workers, Prefect UI at {up['ui']}")
        with Client(up["dask_address"]) as client:
            yield Runtime(up["dask_address"], up["prefect_api"], client, remote=True)
        return
    api = configured_api()
    with dask_cluster(workers, dask_address, prefect=api is not None) as address:
        if api:
            with _prefect_at(api):
                yield Runtime(address, api)
        else:
            with Client(address) as client:
                yield Runtime(address, None, client)


@contextlib.contextmanager
def _prefect_at(api: str) -> Iterator[None]:
    """Flows here and tasks on the workers report to ``api`` (the environment reaches workers;
    a profile setting would not)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = api
    try:
        with temporary_settings(updates={PREFECT_API_URL: api}):
            yield
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


@contextlib.contextmanager
def dask_cluster(workers: int | None = None, dask_address: str | None = None, prefect: bool = True) -> Iterator[str]:
    if dask_address:
        yield dask_address
        return
    with local_cluster(workers, prefect) as cluster:
        yield cluster.scheduler_address


@contextlib.contextmanager
def local_cluster(workers: int | None = None, prefect: bool = True):
    """A LocalCluster whose workers have imported the task code (with Prefect's, for ``prefect``)."""
    import dask
    from distributed import Client, LocalCluster

    # Dask sets MALLOC_TRIM_THRESHOLD_ in its workers, which also turns off glibc's adaptive mmap
    # threshold: every large numpy temporary then costs fresh page faults, and our vectorised
    # stages (MinHash, hashing) ran at half speed (measured: 22.5 s of task time against 12.7 s).
    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items() if k != "MALLOC_TRIM_THRESHOLD_"}
    n_workers = workers or os.cpu_count() or 1
    # Each worker process is one task at a time: torch (the neural encoders) should use its share
    # of the cores, not all of them in every worker.
    environ["CURATION_TORCH_THREADS"] = str(max(1, (os.cpu_count() or 1) // n_workers))
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
        # The scheduler's HTTP endpoint on a free port: its default, 8787, is taken whenever
        # another cluster runs, and Dask then warns about it.
        scheduler_kwargs={"dashboard_address": ":0"},
    ) as cluster, Client(cluster) as client:
        # Import the task code on every worker now, in parallel, rather than inside the first
        # task of the first stage.
        client.run(_import_task_modules, prefect)
        try:
            yield cluster
        finally:
            # A worker whose heartbeat meets the scheduler closing first logs an ERROR with a
            # traceback: the closing itself, news to no one, and it broke a signal's one line.
            client.run(_quiet_distributed_logs, on_error="ignore")


def _quiet_distributed_logs() -> None:
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def _import_task_modules(prefect: bool) -> None:
    from curation.registry import worker_modules

    for module in worker_modules(prefect):
        importlib.import_module(module)


class PrefectServer:
    """`prefect server start` on 127.0.0.1:``port``, its database under ``home`` (migrated once,
    then kept). ``start`` returns at once, so a cluster can start meanwhile; ``wait`` returns the
    API URL once the server answers."""

    def __init__(self, home: Path, port: int, ui: bool = True):
        self.home, self.port, self.ui = home, port, ui
        self.api = f"http://127.0.0.1:{port}/api"
        self.process: subprocess.Popen | None = None

    def start(self) -> PrefectServer:
        env = {**os.environ, "PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.api,
               "PREFECT_UI_ENABLED": str(self.ui).lower(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("MALLOC_TRIM_THRESHOLD_", None)
        prefect = str(Path(sys.executable).parent / "prefect")
        self.process = subprocess.Popen([prefect, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def wait(self, timeout: float = 120) -> str:
        import httpx

        deadline = time.time() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return self.api
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the Prefect server on port {self.port} did not start (exit code {self.process.poll()})")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def task_runner(dask_address: str):
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=dask_address)
