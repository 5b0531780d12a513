"""`curate up`: a Prefect server (with its UI, its database kept under the runtime's home) and a
Dask cluster, run in the background by one process, that every `curate` command then uses
instead of starting its own (flows.runtime). `curate status` says what runs; `curate down`
stops it all.

The home is $CURATION_RUNTIME (default ~/.cache/curation/runtime): runtime.json names the
process, the Prefect API and UI and the Dask scheduler while it runs; runtime.log has its output;
prefect/ holds the server's database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from curation.errors import UserError
from curation.fingerprint import fingerprint

START_TIMEOUT_S = 180


def home() -> Path:
    return Path(os.environ.get("CURATION_RUNTIME", Path.home() / ".cache" / "curation" / "runtime"))


def _state_path() -> Path:
    return home() / "runtime.json"


def code_version() -> str:
    """A fingerprint of this installation's code (every module's size and modification time): a
    runtime started before the code changed would run the old code, or fail on the new."""
    import curation
    import flows
    import scorers

    files = sorted(path for package in (curation, flows, scorers)
                   for path in Path(package.__file__).parent.rglob("*") if path.suffix in (".py", ".sql"))
    return fingerprint([[str(path), path.stat().st_size, path.stat().st_mtime_ns] for path in files])


def running() -> dict | None:
    """The running local runtime's state, or None (a state file left by a dead one is removed)."""
    try:
        state = json.loads(_state_path().read_text())
    except (OSError, ValueError):
        return None
    if not _alive(state["pid"]) or not _reachable(state["dask_address"]):
        with contextlib.suppress(OSError):
            _state_path().unlink()
        return None
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reachable(address: str) -> bool:
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, int(port))) == 0


def free_port(preferred: int) -> int:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(workers: int | None, port: int) -> dict:
    """Start the runtime in the background and return its state once it is ready; one running
    older code is stopped first."""
    if (state := running()) is not None:
        if state.get("code") == code_version():
            return state
        stop()
    home().mkdir(parents=True, exist_ok=True)
    log = home() / "runtime.log"
    command = [sys.executable, "-m", "flows.local_runtime", "--port", str(free_port(port))]
    if workers:
        command += ["--workers", str(workers)]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.time() + START_TIMEOUT_S
    while (state := running()) is None or state["pid"] != process.pid:
        if process.poll() is not None or time.time() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise UserError(f"the local runtime did not start ({tail[0]}); see {log}")
        time.sleep(0.2)
    return state


def stop() -> dict | None:
    """Stop the running runtime and everything it started; returns what was stopped."""
    state = running()
    if state is None:
        return None
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.time() + 30
    while _alive(state["pid"]) and time.time() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(state["pid"], signal.SIGKILL)  # whatever did not stop in time
    with contextlib.suppress(OSError):
        _state_path().unlink()
    return state


def serve(workers: int | None, port: int) -> None:
    """The background process: both services until SIGTERM or SIGINT."""
    from distributed import Client

    from flows.runtime import PrefectServer, local_cluster

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    server = PrefectServer(home() / "prefect", port).start()  # boots while the cluster starts
    try:
        os.environ["PREFECT_API_URL"] = server.api  # the workers report their task runs there
        with local_cluster(workers) as cluster, Client(cluster) as client:
            server.wait()
            _warm_up(client)
            state = {"pid": os.getpid(), "prefect_api": server.api, "ui": server.api.removesuffix("/api"),
                     "dask_address": cluster.scheduler_address, "workers": len(cluster.workers), "code": code_version(),
                     "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            temporary = _state_path().with_suffix(".tmp")
            temporary.write_text(json.dumps(state))
            temporary.replace(_state_path())
            print(f"local runtime up: {json.dumps(state)}", flush=True)
            stopping.wait()
    finally:
        with contextlib.suppress(OSError):
            _state_path().unlink()
        server.stop()


def _warm_up(client) -> None:
    """Before the runtime counts as up, each worker drives a flow mapping a task over the cluster
    (the Prefect UI lists them as curate-up-warm-up), so that the first command finds Prefect's
    engines imported, their API clients connected and the server's endpoints warm. Measured: a
    one-document ingest took 3.7 s of driver time as a fresh worker's first flow, 0.3 s later."""
    workers = list(client.scheduler_info()["workers"])
    client.gather([client.submit(_warm_up_flow, client.scheduler.address, len(workers), workers=[worker], pure=False)
                   for worker in workers])


def _warm_up_flow(dask_address: str, items: int) -> None:
    from distributed import secede
    from prefect import flow, task

    from flows.runtime import task_runner
    from flows.stage import without_heartbeats

    @task
    def warm_up_task(item: int) -> int:
        return item

    # A parameter, too: Prefect imports FastAPI to encode the first one.
    @flow(name="curate-up-warm-up", task_runner=task_runner(dask_address))
    def warm_up_flow(items: int) -> None:
        warm_up_task.map(range(items)).result()

    secede()  # the tasks need this worker's thread
    with without_heartbeats():
        warm_up_flow(items)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The local runtime's process (started by `curate up`).")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--port", type=int, default=4200)
    arguments = parser.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    serve(arguments.workers, arguments.port)
