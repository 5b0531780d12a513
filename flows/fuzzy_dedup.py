"""The fuzzy dedup flow: signatures and bands of every docs part on Dask, then the global
candidates, verification and clusters."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NONE

from curation.corpus import StageRecord
from curation.fuzzy_dedup import STAGE, FuzzyDedupConfig, find_duplicates, signature_part
from curation.stages import StagePlan
from flows.parts import run_parts, run_stage_flow


@task(name="minhash-signatures", retries=1, cache_policy=NONE)
def signature_part_task(plan: StagePlan, part: str) -> None:
    signature_part(plan, part)


@flow(name="fuzzy-dedup", log_prints=True)
def fuzzy_dedup_flow(corpus_url: str, config: FuzzyDedupConfig) -> StageRecord:
    return run_parts(STAGE, corpus_url, config, signature_part_task, find_duplicates, "minhash")


def run_fuzzy_dedup(corpus_url: str, config: FuzzyDedupConfig, dask_address: str) -> StageRecord:
    return run_stage_flow(fuzzy_dedup_flow, STAGE, corpus_url, config, dask_address)
