"""What every per-part stage flow shares: plan, skip when done, prepare, map a task over the
docs parts with progress, finish; and running a stage flow on Dask under the corpus lock."""

from __future__ import annotations

from collections.abc import Callable

from prefect import Flow, Task, unmapped
from prefect.futures import as_completed

from curation.corpus import Corpus, StageRecord
from curation.progress import progress
from curation.stages import StagePlan, plan_stage
from flows.runtime import task_runner


def map_over_parts(part_task: Task, plan: StagePlan, label: str) -> None:
    """Progress counts documents (so the rate is documents per second) and parts done."""
    futures = part_task.map(unmapped(plan), plan.parts)
    rows = {id(future): count for future, count in zip(futures, plan.part_rows, strict=True)}
    with progress(label, sum(plan.part_rows), "docs", parts=len(plan.parts)) as advance:
        for future in as_completed(futures):
            future.result()
            advance(rows[id(future)])


def run_parts(stage: str, corpus_url: str, config, part_task: Task, finish: Callable[[StagePlan], object],
              label: str, prepare: Callable[[StagePlan], object] | None = None) -> StageRecord:
    """The body of a per-part stage flow: global ``prepare``, ``part_task`` on Dask over every
    part, global ``finish``; nothing when the stage is done with these fingerprints."""
    plan = plan_stage(Corpus.open(corpus_url), stage, config)
    if plan.done:
        return plan.record
    if prepare is not None:
        prepare(plan)
    map_over_parts(part_task, plan, label)
    finish(plan)
    return plan.corpus.stage(stage)


def run_stage_flow(stage_flow: Flow, stage: str, corpus_url: str, config, dask_address: str) -> StageRecord:
    with Corpus.open(corpus_url).writer_lock(stage):
        return stage_flow.with_options(task_runner=task_runner(dask_address))(corpus_url, config)
