"""The pipeline file: one YAML document naming the corpus, its inputs and the stages to run.

    corpus: ./demo-corpus          # relative paths are relative to this file
    workers: 2                     # Dask worker processes (default: one per core)
    dask_address: null             # tcp://host:8786 to use an existing Dask cluster
    inputs:
      - {path: raw/books.jsonl, source: books, domain: books}
    ingest: {shard_size: 20000, max_doc_bytes: 1000000, max_reject_fraction: 1.0, mode: new}
    stages:
      scores: [{scorer: heuristics}, {scorer: langid, options: {languages: [en]}}]
      quality_classifiers: [{name: quality_docs, positive: "source = 'docs'", negative: "source = 'web'", top_percent: 10}]
      exact_dedup: {scope: global, normalize: whitespace}
      minhash: {threshold: 0.8, ngram: 5, bands: 14, rows: 8, keep: first, verify: exact, against: null}
      embed: {encoder: static, max_chars: 2000}
      clusters: {k: [500, 50, 5], resample_steps: [3, 3, 3]}
      semdedup: {eps: [0.05, 0.1], keep: hard, clusters: null}
    selections:
      balanced_10k: {balanced: 10000, multiplier: 1, strategy: random}
    mixtures:
      main: {selection: balanced_10k, weights: natural, tokens: 2e9}
    ablations:                     # proxy models on each arm at equal tokens (curation.ablate)
      balanced_vs_all: {arms: {all: all, balanced: balanced_10k}, tokens: 2000000, seeds: 3}

Each stage's keys are its config model's fields (curation.stage.StageConfig), the same names as
its command's flags; ``inputs`` are the ingest stage's. Unknown keys are errors that name the key
and where it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from curation.ablate.stage import AblateConfig
from curation.errors import UserError, describe
from curation.ingest.stage import IngestConfig
from curation.mixture.plan import MixtureConfig
from curation.registry import stages
from curation.select.selection import SelectionConfig
from scorers.stage import ScoreConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QualityClassifierConfig(_Strict):
    """A fastText quality classifier trained on two sets of this corpus's documents (DCLM recipe),
    then run over every document as attrs/<name>; positive and negative are conditions on the
    corpus view, SQL queries returning text, or JSONL/Parquet files."""

    name: str
    positive: str
    negative: str
    holdout: float = Field(0.1, gt=0, lt=1)
    seed: int = 0
    threshold: float | None = Field(None, ge=0, le=1)
    top_percent: float | None = Field(None, gt=0, le=100)
    top_by: Literal["docs", "chars"] = "docs"

    def scoring_options(self) -> dict:
        options = {"threshold": self.threshold, "top_percent": self.top_percent, "top_by": self.top_by}
        return {key: value for key, value in options.items() if value is not None}


def _stages_model() -> type[BaseModel]:
    """``stages:``: a key per stage that runs once (its config), and the score stage's lists."""
    once = {stage.name: (stage.config | None, None) for stage in stages() if stage.reads and stage.instance is None}
    return create_model(
        "StagesConfig", __base__=_Strict,
        scores=(list[ScoreConfig], Field(default_factory=list)),  # scorers run right after ingest
        quality_classifiers=(list[QualityClassifierConfig], Field(default_factory=list)),  # then these
        **once,
    )


StagesConfig = _stages_model()


class PipelineConfig(_Strict):
    corpus: str
    workers: int | None = Field(None, gt=0)
    dask_address: str | None = None
    ingest: IngestConfig  # with the top-level ``inputs``
    stages: StagesConfig = StagesConfig()
    selections: dict[str, SelectionConfig] = Field(default_factory=dict)
    mixtures: dict[str, MixtureConfig] = Field(default_factory=dict)  # after the selections
    ablations: dict[str, AblateConfig] = Field(default_factory=dict)  # after the mixtures (arms may name them)

    @model_validator(mode="before")
    @classmethod
    def _inputs_are_ingests(cls, raw):
        """The file lists ``inputs`` at the top, the ingest stage's settings under ``ingest``."""
        if isinstance(raw, dict) and "inputs" in raw:
            raw = dict(raw)
            raw["ingest"] = {**(raw.get("ingest") or {}), "inputs": raw.pop("inputs")}
        return raw

    @model_validator(mode="before")
    @classmethod
    def _ablations_are_named_by_their_key(cls, raw):
        if isinstance(raw, dict) and isinstance(raw.get("ablations"), dict):
            raw = {**raw, "ablations": {name: {**settings, "name": name} if isinstance(settings, dict) else settings
                                        for name, settings in raw["ablations"].items()}}
        return raw


def load_config(path: str) -> PipelineConfig:
    file = Path(path)
    if not file.is_file():
        raise UserError(f"no such pipeline file: {path}")
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of keys (corpus, inputs, stages, ...)")
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as error:
        raise UserError(f"{path}: {describe(error)}") from None
    return _relative_to(config, file.parent)


def _relative_to(config: PipelineConfig, base: Path) -> PipelineConfig:
    def resolve(path: str) -> str:
        return path if "://" in path or Path(path).is_absolute() else str((base / path).resolve())

    inputs = tuple(item.model_copy(update={"path": resolve(item.path)}) for item in config.ingest.inputs)
    stages = config.stages
    if stages.minhash and stages.minhash.against:
        stages = stages.model_copy(update={"minhash": stages.minhash.model_copy(update={"against": resolve(stages.minhash.against)})})
    # An ablation's eval is a folder of texts (a path) or a condition (SQL): only a folder is resolved.
    ablations = {name: a.model_copy(update={"eval": resolve(a.eval)}) if a.eval and (base / a.eval).is_dir() else a
                 for name, a in config.ablations.items()}
    return config.model_copy(update={"corpus": resolve(config.corpus), "stages": stages, "ablations": ablations,
                                     "ingest": config.ingest.model_copy(update={"inputs": inputs})})
