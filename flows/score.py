"""The score flow: calibrate, any scorer over every docs part on Dask, then attrs/<table>/ published."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NONE

from curation.corpus import StageRecord
from curation.stages import StagePlan
from flows.parts import run_parts, run_stage_flow
from scorers.stage import ScoreConfig, finish_scores, prepare_scores, score_part


@task(name="score-part", retries=1, cache_policy=NONE)
def score_part_task(plan: StagePlan, part: str) -> None:
    score_part(plan, part)


@flow(name="score", log_prints=True)
def score_flow(corpus_url: str, config: ScoreConfig) -> StageRecord:
    return run_parts(config.table, corpus_url, config, score_part_task, finish_scores, config.table, prepare_scores)


def run_score(corpus_url: str, config: ScoreConfig, dask_address: str) -> StageRecord:
    return run_stage_flow(score_flow, config.table, corpus_url, config, dask_address)
