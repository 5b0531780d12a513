"""Any stage as a Prefect flow on Dask, built from its declaration (curation.stage): the flow
is named after the stage, and each mapped step is a task per item, named after the step."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import prefect.settings
from prefect import Flow, flow, task, unmapped
from prefect.cache_policies import NONE
from prefect.futures import as_completed
from prefect.settings import temporary_settings

from curation.corpus import Corpus, StageRecord
from curation.errors import UserError
from curation.registry import stage_of
from curation.stage import StageConfig, StagePlan, Step, execute, plan, prepared
from flows.runtime import task_runner


class _ReportedByTheCommand(logging.Filter):
    """A user's mistake ends the command with one line; Prefect's flow engine would also log it
    with a traceback (the flow run's state still says why it failed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], UserError))


logging.getLogger("prefect.flow_runs").addFilter(_ReportedByTheCommand())
# At exit Prefect drains its queue of events to the server and, on a loaded machine, says so with
# "Still processing items" under the bare logger name EventsWorker: nothing the user acts on.
logging.getLogger("EventsWorker").setLevel(logging.ERROR)


# Stages resume from their own staging areas, so Prefect caches nothing.
@task(retries=1, cache_policy=NONE)
def step_task(step: Step, stage_plan: StagePlan, item) -> object:
    return step.run_item(stage_plan, item)


def on_dask(step: Step, stage_plan: StagePlan, items: list) -> Iterator:
    named = step_task.with_options(name=f"{stage_plan.name}-{step.name}")
    for future in as_completed(named.map(unmapped(step), unmapped(stage_plan), items)):
        yield future.result()


# Configs are pydantic models already validated; Prefect would coerce them to the annotation.
@flow(log_prints=True, validate_parameters=False)
def stage_flow(corpus_url: str, config: StageConfig) -> StageRecord:
    stage = stage_of(config)
    return execute(plan(Corpus.open(corpus_url), stage, config), on_dask)


def subflow(config: StageConfig, dask_address: str) -> Flow:
    """The stage's flow, named as the stage is in corpus.json, its tasks on ``dask_address``."""
    return stage_flow.with_options(name=stage_of(config).instance_name(config), task_runner=task_runner(dask_address))


def run_flow(corpus_url: str, config: StageConfig, dask_address: str) -> StageRecord:
    """Run one stage's flow under the corpus lock, after the checks that need no runtime."""
    stage = stage_of(config)
    corpus = prepared(stage, corpus_url, config)
    with corpus.writer_lock(stage.instance_name(config)), without_heartbeats():
        return subflow(config, dask_address)(corpus_url, config)


@contextlib.contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs here send no heartbeats unless PREFECT_FLOWS_HEARTBEAT_FREQUENCY asks for them.
    Prefect sends one every 180 s by default, for automations that detect crashed runs (none
    unless the user makes one), and ends every flow by joining the heartbeat thread, which sleeps
    in one-second steps: up to a second per flow, most of a small stage's time."""
    if os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        yield
        return
    with temporary_settings(updates={prefect.settings.PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
