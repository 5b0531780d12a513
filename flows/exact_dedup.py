"""The exact dedup flow: hash every docs part on Dask, resolve duplicates with DuckDB."""

from __future__ import annotations

from prefect import flow, task, unmapped
from prefect.cache_policies import NONE
from prefect.futures import as_completed

from curation.corpus import Corpus, StageRecord
from curation.exact_dedup import STAGE, ExactDedupConfig, hash_part, resolve_duplicates
from curation.progress import progress
from curation.stages import StagePlan, plan_stage
from flows.runtime import task_runner


@task(name="exact-dedup-hash-part", retries=1, cache_policy=NONE)
def hash_part_task(plan: StagePlan, part: str) -> str:
    return hash_part(plan, part)


@flow(name="exact-dedup", log_prints=True)
def exact_dedup_flow(corpus_url: str, config: ExactDedupConfig) -> StageRecord:
    plan = plan_stage(Corpus.open(corpus_url), STAGE, config)
    if plan.done:
        return plan.record
    with progress("exact dedup", len(plan.parts), "parts") as advance:
        for future in as_completed(hash_part_task.map(unmapped(plan), plan.parts)):
            future.result()
            advance()
    resolve_duplicates(plan)
    return plan.corpus.stage(STAGE)


def run_exact_dedup(corpus_url: str, config: ExactDedupConfig,
                    dask_address: str) -> StageRecord:
    with Corpus.open(corpus_url).writer_lock(STAGE):
        return exact_dedup_flow.with_options(task_runner=task_runner(dask_address))(corpus_url, config)
