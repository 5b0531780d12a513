"""The embed flow: the encoder prepared once (fitted or distilled), every docs part encoded on
Dask, then the parts moved into embeddings/."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NONE

from curation.corpus import StageRecord
from curation.embed.stage import STAGE, EmbedConfig, embed_part, finish_embeddings, prepare_encoder
from curation.stages import StagePlan
from flows.parts import run_parts, run_stage_flow


@task(name="embed-part", retries=1, cache_policy=NONE)
def embed_part_task(plan: StagePlan, part: str) -> None:
    embed_part(plan, part)


@flow(name="embed", log_prints=True)
def embed_flow(corpus_url: str, config: EmbedConfig) -> StageRecord:
    return run_parts(STAGE, corpus_url, config, embed_part_task, finish_embeddings, "embed", prepare_encoder)


def run_embed(corpus_url: str, config: EmbedConfig, dask_address: str) -> StageRecord:
    return run_stage_flow(embed_flow, STAGE, corpus_url, config, dask_address)
