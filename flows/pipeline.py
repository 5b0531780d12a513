"""The whole pipeline of a config file as one flow: each stage a subflow, skipped when done."""

from __future__ import annotations

from prefect import flow

from curation.config import PipelineConfig
from curation.corpus import StageRecord
from curation.ingest.stage import IngestSummary, corpus_for_ingest
from flows.exact_dedup import exact_dedup_flow
from flows.fuzzy_dedup import fuzzy_dedup_flow
from flows.ingest import ingest_flow
from flows.runtime import task_runner


@flow(name="pipeline", log_prints=True)
def pipeline_flow(config: PipelineConfig, dask_address: str) -> dict[str, IngestSummary | StageRecord]:
    runner = task_runner(dask_address)
    specs = [item.spec() for item in config.inputs]
    results: dict[str, IngestSummary | StageRecord] = {
        "ingest": ingest_flow.with_options(task_runner=runner)(config.corpus, specs, config.ingest.options())
    }
    for name, stage_flow in (("exact_dedup", exact_dedup_flow), ("minhash", fuzzy_dedup_flow)):
        stage_config = getattr(config.stages, name)
        if stage_config is not None:
            results[name] = stage_flow.with_options(task_runner=runner)(config.corpus, stage_config.options())
    return results


def run_pipeline(config: PipelineConfig, dask_address: str) -> dict[str, IngestSummary | StageRecord]:
    corpus = corpus_for_ingest(config.corpus, [item.spec() for item in config.inputs])
    with corpus.writer_lock("run"):
        return pipeline_flow(config, dask_address)
