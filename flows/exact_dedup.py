"""The exact dedup flow: hash every docs part on Dask, resolve duplicates with DuckDB."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NONE

from curation.corpus import StageRecord
from curation.exact_dedup import STAGE, ExactDedupConfig, hash_part, resolve_duplicates
from curation.stages import StagePlan
from flows.parts import run_parts, run_stage_flow


# Stages resume from their own staging areas, so Prefect caches nothing.
@task(name="exact-dedup-hash-part", retries=1, cache_policy=NONE)
def hash_part_task(plan: StagePlan, part: str) -> str:
    return hash_part(plan, part)


@flow(name="exact-dedup", log_prints=True)
def exact_dedup_flow(corpus_url: str, config: ExactDedupConfig) -> StageRecord:
    return run_parts(STAGE, corpus_url, config, hash_part_task, resolve_duplicates, "exact dedup")


def run_exact_dedup(corpus_url: str, config: ExactDedupConfig, dask_address: str) -> StageRecord:
    return run_stage_flow(exact_dedup_flow, STAGE, corpus_url, config, dask_address)
