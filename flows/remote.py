"""A command's driver on the local runtime (`curate up`): the stage's flow runs in a thread of
one of the runtime's workers, where Prefect and the stages are imported already, and the command
only submits it, follows the progress it reports and prints its record. The command imports
neither Prefect nor the flows, so it finishes a small job in about two seconds.

The driver reports through Dask's event log, tagged with its run's name; the command stops it by
setting a Dask Event of that name, which the driver checks as it reports.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import time
import uuid
from collections.abc import Callable

from curation.errors import Interrupted
from curation.progress import Follower, reported_to

# How long an interrupted command waits for its driver to stop (at its next report).
STOP_WAIT_S = 5
# How often a driver asks whether its command was interrupted.
STOP_CHECK_S = 0.5
# One topic for every run: the scheduler keeps each topic's last 1,000 events for as long as it
# runs, so a topic per run would grow with the runs.
TOPIC = "curation-progress"


def on_runtime(client, drive: Callable, *args):
    """``drive(*args)`` on a worker of ``client``'s cluster, its progress followed here."""
    from distributed import Event, wait

    run = f"curation-driver-{uuid.uuid4().hex[:12]}"
    reports: queue.SimpleQueue = queue.SimpleQueue()

    def receive(event: tuple) -> None:
        if event[1]["run"] == run:
            reports.put(event[1]["report"])

    client.subscribe_topic(TOPIC, receive)
    future = client.submit(_driver, drive, *args, run=run, key=run, pure=False)
    follower = Follower()
    try:
        while not future.done():
            with contextlib.suppress(queue.Empty):
                follower.apply(reports.get(timeout=0.1))
        while not reports.empty():
            follower.apply(reports.get())
        return future.result()
    except Interrupted:
        stop = Event(run, client=client)
        stop.set()
        with contextlib.suppress(TimeoutError):
            wait(future, timeout=STOP_WAIT_S)
        stop.clear()
        raise
    finally:
        follower.close()
        client.unsubscribe_topic(TOPIC)


def _driver(drive: Callable, *args, run: str):
    """On a worker: leave the worker's thread pool (so its next task runs meanwhile), then drive,
    reporting as ``run``. Returns None when the command stopped it."""
    from distributed import Event, get_worker, secede

    secede()
    worker, stop = get_worker(), Event(run)
    checked = time.monotonic()

    def report(event: dict) -> None:
        nonlocal checked
        worker.log_event(TOPIC, {"run": run, "report": event})
        if time.monotonic() - checked > STOP_CHECK_S:
            checked = time.monotonic()
            if stop.is_set():
                raise Interrupted(signal.SIGINT)

    with reported_to(report):
        try:
            return drive(*args)
        except Interrupted:
            return None


def stage_flow(corpus_url: str, config, dask_address: str):
    from flows.stage import run_flow

    return run_flow(corpus_url, config, dask_address)


def pipeline_flow(config, dask_address: str):
    from flows.pipeline import run_pipeline

    return run_pipeline(config, dask_address)
