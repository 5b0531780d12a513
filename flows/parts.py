"""What every per-part stage flow shares: mapping a task over the docs parts with progress,
and running a stage flow on Dask under the corpus lock."""

from __future__ import annotations

from prefect import Flow, Task, unmapped
from prefect.futures import as_completed

from curation.corpus import Corpus, StageRecord
from curation.progress import progress
from curation.stages import StagePlan
from flows.runtime import task_runner


def map_over_parts(part_task: Task, plan: StagePlan, label: str) -> None:
    with progress(label, len(plan.parts), "parts") as advance:
        for future in as_completed(part_task.map(unmapped(plan), plan.parts)):
            future.result()
            advance()


def run_stage_flow(stage_flow: Flow, stage: str, corpus_url: str, config, dask_address: str) -> StageRecord:
    with Corpus.open(corpus_url).writer_lock(stage):
        return stage_flow.with_options(task_runner=task_runner(dask_address))(corpus_url, config)
