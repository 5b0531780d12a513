"""The whole pipeline of a config file as one flow: each stage a subflow, skipped when done."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_link_artifact, create_table_artifact

from curation.config import PipelineConfig
from curation.corpus import Corpus, StageRecord
from curation.ingest.stage import IngestSummary, corpus_for_ingest
from curation.mixture.emit import emit_mixture
from curation.report.html import write_report
from flows.cluster import cluster_flow
from flows.embed import embed_flow
from flows.exact_dedup import exact_dedup_flow
from flows.fuzzy_dedup import fuzzy_dedup_flow
from flows.ingest import ingest_flow
from flows.runtime import task_runner
from flows.score import score_flow
from flows.select import run_selection
from flows.semdedup import semdedup_flow
from scorers.fasttext_quality import quality_model
from scorers.stage import ScoreConfig


@flow(name="pipeline", log_prints=True)
def pipeline_flow(config: PipelineConfig, dask_address: str) -> dict[str, IngestSummary | StageRecord | list[str] | str]:
    runner = task_runner(dask_address)
    specs = [item.spec() for item in config.inputs]
    results: dict[str, IngestSummary | StageRecord | list[str] | str] = {
        "ingest": ingest_flow.with_options(task_runner=runner)(config.corpus, specs, config.ingest.options())
    }
    for stage in config.stages.scores:
        score_config = ScoreConfig(stage.scorer, stage.options, stage.name)
        results[score_config.table] = score_flow.with_options(task_runner=runner)(config.corpus, score_config)
    for classifier in config.stages.quality_classifiers:
        model, _ = quality_model(config.corpus, classifier.positive, classifier.negative, classifier.name,
                                 classifier.holdout, seed=classifier.seed)
        score_config = ScoreConfig("quality_fasttext", {"model": model, **classifier.scoring_options()}, classifier.name)
        results[classifier.name] = score_flow.with_options(task_runner=runner)(config.corpus, score_config)
    stage_flows = (("exact_dedup", exact_dedup_flow), ("minhash", fuzzy_dedup_flow), ("embed", embed_flow),
                   ("clusters", cluster_flow), ("semdedup", semdedup_flow))
    for name, stage_flow in stage_flows:
        stage_config = getattr(config.stages, name)
        if stage_config is not None:
            results[name] = stage_flow.with_options(task_runner=runner)(config.corpus, stage_config.options())
    for name, selection in config.selections.items():
        results[f"selection_{name}"] = run_selection(config.corpus, name, selection)
    for name, mixture in config.mixtures.items():
        results[f"mixture_{name}"] = emit_mixture(config.corpus, name, mixture.spec())
    results["report"] = write_report(config.corpus)
    publish_artifacts(config.corpus, results["report"])
    return results


def publish_artifacts(corpus_url: str, report: str) -> None:
    """On the flow run in Prefect's UI: rows in and out per stage, and a link to the report."""
    stages = Corpus.open(corpus_url).manifest()["stages"]
    create_table_artifact(key="stages", description=f"Rows in and out per stage of {corpus_url}",
                          table=[{k: s[k] for k in ("name", "rows_in", "rows_out", "wall_time_s")} for s in stages])
    link = report if "://" in report else Path(report).resolve().as_uri()
    create_link_artifact(key="report", link=link, link_text="HTML report", description=f"The report of {corpus_url}")


def run_pipeline(config: PipelineConfig, dask_address: str) -> dict[str, IngestSummary | StageRecord | list[str] | str]:
    corpus = corpus_for_ingest(config.corpus, [item.spec() for item in config.inputs])
    with corpus.writer_lock("run"):
        return pipeline_flow(config, dask_address)
