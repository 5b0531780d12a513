"""Where flows report and where tasks run.

Without ``PREFECT_API_URL`` Prefect starts a temporary server in every process that reports
task runs, Dask worker processes included (seconds each). ``prefect_api`` starts one here and
hands its URL to the workers through the environment. ``dask_cluster`` gives the address of a
Dask cluster: the user's (``--dask-address``) or a LocalCluster with one single-threaded worker
process per core, shared by every stage of a run.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator

from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_dask import DaskTaskRunner


def configured_api() -> str | None:
    """The Prefect server the user's profile or environment names, if any."""
    return PREFECT_API_URL.value()


@contextlib.contextmanager
def prefect_api() -> Iterator[str]:
    configured = PREFECT_API_URL.value()
    if configured:
        os.environ["PREFECT_API_URL"] = configured  # a profile setting would not reach workers
        yield configured
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=int(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60")))
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        server.stop()


@contextlib.contextmanager
def dask_cluster(workers: int | None = None, dask_address: str | None = None) -> Iterator[str]:
    if dask_address:
        yield dask_address
        return
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
        client.run(_import_task_modules)
        yield cluster.scheduler_address


def _import_task_modules() -> None:
    from curation.registry import worker_modules

    for module in worker_modules():
        importlib.import_module(module)


@contextlib.contextmanager
def runtime(workers: int | None = None, dask_address: str | None = None) -> Iterator[str]:
    """Prefect API and Dask cluster for one command; yields the Dask scheduler address."""
    with prefect_api(), dask_cluster(workers, dask_address) as address:
        yield address


def task_runner(dask_address: str) -> DaskTaskRunner:
    return DaskTaskRunner(address=dask_address)
