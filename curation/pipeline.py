"""The whole pipeline of a config file, in order: each stage in pipeline order (curation.registry),
skipped when done, then the selections, the mixtures, the ablations and the report. An executor supplies how
one stage runs (a Prefect subflow, or its tasks straight on Dask)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from curation.config import PipelineConfig, QualityClassifierConfig
from curation.corpus import StageRecord
from curation.mixture.emit import emit_mixture
from curation.registry import stages
from curation.report.html import write_report
from curation.select.selection import run_selection
from curation.stage import StageConfig
from scorers.fasttext_quality import quality_model
from scorers.stage import ScoreConfig

Results = dict[str, StageRecord | list[str] | str]


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


def run_steps(config: PipelineConfig, run_stage: Callable[[StageConfig], StageRecord]) -> Results:
    """What the pipeline made, by name: each stage's and ablation's record, each selection's and
    mixture's summary lines, and the report's path. The caller holds the corpus's writer lock."""
    results: Results = {}
    for stage_config in stage_configs(config):
        record = run_stage(stage_config)
        results[record.name] = record
    for name, selection in config.selections.items():
        results[f"selection_{name}"] = run_selection(config.corpus, name, selection)
    for name, mixture in config.mixtures.items():
        results[f"mixture_{name}"] = emit_mixture(config.corpus, name, mixture)
    for ablation in config.ablations.values():
        results[ablation.name] = run_stage(ablation)
    results["report"] = write_report(config.corpus)
    return results
