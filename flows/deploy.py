"""Scheduled runs of a pipeline on a Prefect server (PREFECT_API_URL).

    curate deploy pipeline.yaml --cron "0 3 * * *" --name nightly    # register the schedule
    curate serve                                                     # run what is due, until stopped

A run is the flow ``scheduled-pipeline``: the whole pipeline (on the config's Dask cluster, or a
LocalCluster), which ends, as every pipeline run does, with the HTML report and two Prefect
artifacts: a table of rows in and out per stage and a link to the report.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import EntrypointType

from curation.config import load_config
from curation.errors import UserError
from flows.pipeline import run_pipeline
from flows.runtime import dask_cluster

FLOW_NAME = "scheduled-pipeline"


def check_cron(cron: str) -> None:
    try:
        CronSchedule(cron=cron)
    except ValueError:
        raise UserError(f"--cron {cron!r} is not a cron expression (e.g. \"0 3 * * *\")") from None


@flow(name=FLOW_NAME, log_prints=True)
def scheduled_pipeline(pipeline: str) -> str:
    config = load_config(pipeline)
    with dask_cluster(config.workers, config.dask_address) as address:
        return run_pipeline(config, address)["report"]


def _deployment(name: str, pipeline: str, **schedule):
    return scheduled_pipeline.to_deployment(name=name, parameters={"pipeline": pipeline},
                                            entrypoint_type=EntrypointType.MODULE_PATH, **schedule)


def deploy(pipeline: str, cron: str, name: str) -> str:
    """Register (or update) the deployment; returns its id."""
    return str(_deployment(name, str(Path(pipeline).resolve()), cron=cron).apply())


def serve(names: tuple[str, ...] = ()) -> None:
    """Run the registered deployments of scheduled-pipeline (all, or those named) until stopped."""
    from prefect import serve as serve_deployments

    with get_client(sync_client=True) as client:
        registered = client.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])))
    chosen = [d for d in registered if not names or d.name in names]
    if not chosen:
        from curation.errors import UserError

        raise UserError(f"no deployment {'named ' + ', '.join(names) if names else 'of ' + FLOW_NAME} on the Prefect "
                        "server; register one with `curate deploy`")
    serve_deployments(*[_deployment(d.name, d.parameters["pipeline"], schedules=[s.schedule for s in d.schedules])
                        for d in chosen])
