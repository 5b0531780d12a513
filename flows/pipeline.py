"""The whole pipeline of a config file as one flow: each stage a subflow in pipeline order
(curation.registry), skipped when done; then the selections, mixtures and the report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_link_artifact, create_table_artifact

from curation.config import PipelineConfig, QualityClassifierConfig
from curation.corpus import Corpus, StageRecord
from curation.mixture.emit import emit_mixture
from curation.registry import stage_named, stages
from curation.report.html import write_report
from curation.select.selection import run_selection
from curation.stage import StageConfig, prepared
from flows.stage import subflow
from scorers.fasttext_quality import quality_model
from scorers.stage import ScoreConfig


def stage_configs(config: PipelineConfig) -> Iterator[StageConfig]:
    """Every stage the file names, in pipeline order. A quality classifier is trained when its
    turn comes (its score stage needs the model, and the model needs the documents)."""
    for stage in stages():
        if stage.name == "ingest":
            yield config.ingest
        elif stage.name == "score":
            yield from config.stages.scores
            yield from (classifier_scores(config.corpus, classifier) for classifier in config.stages.quality_classifiers)
        elif (stage_config := getattr(config.stages, stage.name, None)) is not None:
            yield stage_config


def classifier_scores(corpus_url: str, classifier: QualityClassifierConfig) -> ScoreConfig:
    model, _ = quality_model(corpus_url, classifier.positive, classifier.negative, classifier.name,
                             classifier.holdout, seed=classifier.seed)
    return ScoreConfig(scorer="quality_fasttext", options={"model": model, **classifier.scoring_options()},
                       name=classifier.name)


@flow(name="pipeline", log_prints=True, validate_parameters=False)
def pipeline_flow(config: PipelineConfig, dask_address: str) -> dict[str, StageRecord | list[str] | str]:
    results: dict[str, StageRecord | list[str] | str] = {}
    for stage_config in stage_configs(config):
        stage_flow = subflow(stage_config, dask_address)
        results[stage_flow.name] = stage_flow(config.corpus, stage_config)
    for name, selection in config.selections.items():
        results[f"selection_{name}"] = run_selection(config.corpus, name, selection)
    for name, mixture in config.mixtures.items():
        results[f"mixture_{name}"] = emit_mixture(config.corpus, name, mixture)
    results["report"] = write_report(config.corpus)
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


def run_pipeline(config: PipelineConfig, dask_address: str) -> dict[str, StageRecord | list[str] | str]:
    corpus = prepared(stage_named("ingest"), config.corpus, config.ingest)
    with corpus.writer_lock("run"):
        return pipeline_flow(config, dask_address)
