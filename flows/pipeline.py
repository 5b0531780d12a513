"""The whole pipeline of a config file (curation.pipeline) as one Prefect flow: each stage a
subflow, and the report's artifacts on the flow run."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_link_artifact, create_table_artifact

from curation.config import PipelineConfig
from curation.corpus import Corpus
from curation.pipeline import Results, run_steps
from curation.registry import stage_named
from curation.stage import prepared
from flows.stage import subflow, without_heartbeats


@flow(name="pipeline", log_prints=True, validate_parameters=False)
def pipeline_flow(config: PipelineConfig, dask_address: str) -> Results:
    results = run_steps(config, lambda stage_config: subflow(stage_config, dask_address)(config.corpus, stage_config))
    publish_artifacts(config.corpus, results["report"])
    return results


def publish_artifacts(corpus_url: str, report: str) -> None:
    """On the flow run in Prefect's UI: rows in and out per stage, and a link to the report."""
    records = Corpus.open(corpus_url).records().values()
    create_table_artifact(key="stages", description=f"Rows in and out per stage of {corpus_url}",
                          table=[{"name": r.name, "rows_in": r.rows_in, "rows_out": r.rows_out,
                                  "wall_time_s": r.wall_time_s} for r in records])
    link = report if "://" in report else Path(report).resolve().as_uri()
    create_link_artifact(key="report", link=link, link_text="HTML report", description=f"The report of {corpus_url}")


def run_pipeline(config: PipelineConfig, dask_address: str) -> Results:
    corpus = prepared(stage_named("ingest"), config.corpus, config.ingest)
    with corpus.writer_lock("run"), without_heartbeats():
        return pipeline_flow(config, dask_address)
