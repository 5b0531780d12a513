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

Each stage's keys are its config model's fields (curation.stage.StageConfig), the same names as
its command's flags; ``inputs`` are the ingest stage's. Unknown keys are errors that name the key
and where it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from curation.errors import UserError, describe
from curation.ingest.stage import IngestConfig
from curation.mixture.plan import MixtureSpec
from curation.registry import stages
from curation.select.balanced import BalancedSelection
from curation.select.query import QuerySelection
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


class SelectionConfig(_Strict):
    """A selection: a condition on the corpus view, then at most one policy (none: every document
    passing the condition). The same keys as `curate select`'s options."""

    where: str = "true"
    top: str | None = None  # rank by this SQL expression
    temperature: float | None = Field(None, gt=0)  # sample with p ~ exp(by / T)
    by: str | None = None
    random: bool = False
    balanced: int | None = Field(None, gt=0)  # documents, by balanced sampling over the cluster tree
    dataman: Literal["multi_domain", "org_domain", "equi_domain", "uniform", "none"] | None = None
    budget: float | None = Field(None, gt=0)
    percent: float | None = Field(None, gt=0, le=100)
    unit: Literal["docs", "chars", "tokens"] | None = None  # of the budget: tokens for dataman, else docs
    multiplier: int = Field(1, gt=0)  # balanced: most picks of one document
    strategy: Literal["random", "closest"] = "random"  # balanced: inside a level-1 cluster
    metric: str = "overall_score"  # dataman
    target_scores: list[int] = Field(default_factory=list)  # dataman
    target_domains: list[str] = Field(default_factory=list)  # dataman
    seed: int = 0

    def policy(self) -> str:
        chosen = [name for name, given in (("top", self.top is not None), ("temperature", self.temperature is not None),
                                           ("random", self.random), ("balanced", self.balanced is not None),
                                           ("dataman", self.dataman is not None)) if given]
        if len(chosen) > 1:
            raise UserError(f"choose one selection policy, not {' and '.join(chosen)}")
        return chosen[0] if chosen else "all"

    def query(self) -> QuerySelection:
        return QuerySelection(self.where, self.policy(), self.top or self.by, self.temperature or 1.0, self.budget,
                              self.percent, self.unit or "docs", self.seed)

    def balanced_options(self) -> BalancedSelection:
        return BalancedSelection(self.balanced, self.multiplier, self.strategy, self.seed, self.where)


class PhaseConfig(_Strict):
    start: float = Field(ge=0, le=1)
    end: float = Field(ge=0, le=1)
    weights: str | dict[str, float] = "natural"


class MixtureConfig(_Strict):
    """A training mixture: documents (a selection's, or those passing where), their domain, the
    weights and schedule, the token budget. The same keys as `curate mix`'s options."""

    selection: str | None = None
    where: str = "true"
    domain: str = "domain"
    weights: str | dict[str, float] = "natural"
    upsample: dict[str, float] = Field(default_factory=dict)
    upsample_fraction: float = Field(0.1, gt=0, lt=1)
    phases: list[PhaseConfig] = Field(default_factory=list)
    tokens: float | None = Field(None, gt=0)
    warn_epochs: float = Field(4.0, gt=0)
    max_epochs: float | None = Field(None, gt=0)
    format: Literal["parquet", "jsonl"] = "parquet"
    rows_per_part: int = Field(100_000, gt=0)
    seed: int = 0

    def spec(self) -> MixtureSpec:
        if self.phases and (self.upsample or self.weights != "natural"):
            raise UserError("give either phases or weights/upsample, not both")
        phases = tuple((p.start, p.end, p.weights) for p in self.phases)
        return MixtureSpec(self.selection, self.where, self.domain, self.weights, dict(self.upsample),
                           self.upsample_fraction, phases, self.tokens, self.warn_epochs, self.max_epochs,
                           self.format, self.rows_per_part, self.seed)


class PipelineConfig(_Strict):
    corpus: str
    workers: int | None = Field(None, gt=0)
    dask_address: str | None = None
    ingest: IngestConfig  # with the top-level ``inputs``
    stages: StagesConfig = StagesConfig()
    selections: dict[str, SelectionConfig] = Field(default_factory=dict)
    mixtures: dict[str, MixtureConfig] = Field(default_factory=dict)  # after the selections

    @model_validator(mode="before")
    @classmethod
    def _inputs_are_ingests(cls, raw):
        """The file lists ``inputs`` at the top, the ingest stage's settings under ``ingest``."""
        if isinstance(raw, dict) and "inputs" in raw:
            raw = dict(raw)
            raw["ingest"] = {**(raw.get("ingest") or {}), "inputs": raw.pop("inputs")}
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


def selection_config(options: dict) -> SelectionConfig:
    """A SelectionConfig from command-line options; a bad value is one readable line."""
    config = _validated(SelectionConfig, options)
    config.policy()
    return config


def mixture_config(options: dict) -> MixtureConfig:
    return _validated(MixtureConfig, options)


def _validated(model: type[BaseModel], options: dict):
    try:
        return model(**options)
    except ValidationError as error:
        raise UserError(describe(error)) from None


def _relative_to(config: PipelineConfig, base: Path) -> PipelineConfig:
    def resolve(path: str) -> str:
        return path if "://" in path or Path(path).is_absolute() else str((base / path).resolve())

    inputs = tuple(item.model_copy(update={"path": resolve(item.path)}) for item in config.ingest.inputs)
    stages = config.stages
    if stages.minhash and stages.minhash.against:
        stages = stages.model_copy(update={"minhash": stages.minhash.model_copy(update={"against": resolve(stages.minhash.against)})})
    return config.model_copy(update={"corpus": resolve(config.corpus), "stages": stages,
                                     "ingest": config.ingest.model_copy(update={"inputs": inputs})})
