"""The SemDeDup flow: one global step (clusters, then similarities inside each)."""

from __future__ import annotations

from prefect import flow

from curation.corpus import Corpus, StageRecord
from curation.semdedup import STAGE, SemDedupConfig, find_semantic_duplicates
from curation.stages import plan_stage
from flows.parts import run_stage_flow


@flow(name="semdedup", log_prints=True)
def semdedup_flow(corpus_url: str, config: SemDedupConfig) -> StageRecord:
    plan = plan_stage(Corpus.open(corpus_url), STAGE, config)
    return plan.record if plan.done else find_semantic_duplicates(plan)


def run_semdedup(corpus_url: str, config: SemDedupConfig, dask_address: str) -> StageRecord:
    return run_stage_flow(semdedup_flow, STAGE, corpus_url, config, dask_address)
