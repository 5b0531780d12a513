"""The cluster flow: hierarchical k-means fitted once on a sample, then every embeddings part
assigned to its clusters on Dask."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NONE

from curation.cluster.stage import STAGE, ClusterConfig, assign_part, finish_clusters, fit_clusters
from curation.corpus import StageRecord
from curation.stages import StagePlan
from flows.parts import run_parts, run_stage_flow


@task(name="cluster-assign-part", retries=1, cache_policy=NONE)
def assign_part_task(plan: StagePlan, part: str) -> None:
    assign_part(plan, part)


@flow(name="cluster", log_prints=True)
def cluster_flow(corpus_url: str, config: ClusterConfig) -> StageRecord:
    return run_parts(STAGE, corpus_url, config, assign_part_task, finish_clusters, "cluster", fit_clusters)


def run_cluster(corpus_url: str, config: ClusterConfig, dask_address: str) -> StageRecord:
    return run_stage_flow(cluster_flow, STAGE, corpus_url, config, dask_address)
