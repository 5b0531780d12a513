"""The pipeline file: one YAML document naming the corpus, its inputs and the stages to run.

    corpus: ./demo-corpus          # relative paths are relative to this file
    workers: 2                     # Dask worker processes (default: one per core)
    dask_address: null             # tcp://host:8786 to use an existing Dask cluster
    inputs:
      - {path: raw/books.jsonl, source: books, domain: books}
    ingest: {shard_size: 20000, max_doc_bytes: 1000000, max_reject_fraction: 1.0}
    stages:
      scores: [{scorer: heuristics}, {scorer: langid, options: {languages: [en]}}]
      quality_classifiers: [{name: quality_docs, positive: "source = 'docs'", negative: "source = 'web'", top_percent: 10}]
      exact_dedup: {scope: global, normalize: whitespace}
      minhash: {threshold: 0.8, ngram: 5, bands: 14, rows: 8, keep: first, verify: exact, against: null}
      embed: {encoder: static, max_chars: 2000}
      clusters: {k: [500, 50, 5], resample_steps: [3, 3, 3]}
      semdedup: {eps: [0.05, 0.1], keep: hard}
    selections:
      balanced_10k: {balanced: 10000, multiplier: 1, strategy: random}

Unknown keys are errors that name the key and where it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curation.cluster.stage import ClusterConfig
from curation.embed.stage import EmbedConfig
from curation.errors import UserError
from curation.exact_dedup import ExactDedupConfig
from curation.fuzzy_dedup import FuzzyDedupConfig, fuzzy_config
from curation.ingest.stage import IngestOptions
from curation.ingest.units import InputSpec
from curation.mixture.plan import MixtureSpec
from curation.select.balanced import BalancedSelection
from curation.select.query import QuerySelection
from curation.semdedup import SemDedupConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Strict):
    path: str
    source: str | None = None
    domain: str | None = None
    text_field: str = "text"
    id_field: str = "id"

    def spec(self) -> InputSpec:
        return InputSpec(self.path, self.source, self.domain, self.text_field, self.id_field)


class IngestConfig(_Strict):
    shard_size: int = Field(20_000, gt=0)
    max_doc_bytes: int = Field(1_000_000, gt=0)
    max_reject_fraction: float = Field(1.0, ge=0.0, le=1.0)

    def options(self) -> IngestOptions:
        return IngestOptions(self.shard_size, self.max_doc_bytes, self.max_reject_fraction)


class ExactDedupStageConfig(_Strict):
    scope: Literal["global", "source"] = "global"
    normalize: Literal["none", "whitespace", "lower"] = "whitespace"

    def options(self) -> ExactDedupConfig:
        return ExactDedupConfig(self.scope, self.normalize)


class MinhashStageConfig(_Strict):
    threshold: float = Field(0.8, gt=0.0, le=1.0)
    ngram: int = Field(5, gt=0)
    bands: int | None = Field(None, gt=0)
    rows: int | None = Field(None, gt=0)
    num_perm: int | None = Field(None, gt=0)
    keep: str = "first"
    verify: Literal["exact", "estimate"] = "exact"
    scope: Literal["global", "source"] = "global"
    seed: int = 1
    against: str | None = None  # an earlier corpus (path or URL) whose kept MinHash tables new documents meet

    def options(self) -> FuzzyDedupConfig:
        return fuzzy_config(**self.model_dump())


class EmbedStageConfig(_Strict):
    encoder: str = "hashing"
    max_chars: int = Field(2000, gt=0)
    dtype: Literal["float16", "float32"] = "float16"
    batch_size: int = Field(256, gt=0)
    seed: int = 0

    def options(self) -> EmbedConfig:
        return EmbedConfig(self.encoder, self.max_chars, self.dtype, self.batch_size, seed=self.seed)


class ClusterStageConfig(_Strict):
    k: list[int] | None = None
    resample_steps: list[int] | None = None
    resample_sizes: list[int] | None = None
    iterations: int = Field(20, gt=0)
    sample: int | None = Field(None, gt=0)
    spherical: bool = False
    seed: int = 0

    def options(self) -> ClusterConfig:
        def levels(value):
            return tuple(value) if value else None

        return ClusterConfig(levels(self.k), levels(self.resample_steps), levels(self.resample_sizes), self.iterations,
                             self.sample, self.spherical, self.seed)


class SemdedupStageConfig(_Strict):
    eps: list[float] = Field(default_factory=lambda: [0.05], min_length=1)
    keep: Literal["hard", "easy", "random"] = "hard"
    clusters: int | None = Field(None, ge=2)
    seed: int = 0

    def options(self) -> SemDedupConfig:
        return SemDedupConfig(tuple(self.eps), self.keep, self.clusters, self.seed)


class ScoreStageConfig(_Strict):
    """A scorer by name and its options (checked by scorers/ when the pipeline starts)."""

    scorer: str
    options: dict = Field(default_factory=dict)
    name: str | None = None  # the attrs table (and SQL view); the scorer's name when not given


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


class StagesConfig(_Strict):
    scores: list[ScoreStageConfig] = Field(default_factory=list)  # scorers run right after ingest
    quality_classifiers: list[QualityClassifierConfig] = Field(default_factory=list)  # then these
    exact_dedup: ExactDedupStageConfig | None = None
    minhash: MinhashStageConfig | None = None
    embed: EmbedStageConfig | None = None
    clusters: ClusterStageConfig | None = None
    semdedup: SemdedupStageConfig | None = None


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
    inputs: list[InputConfig] = Field(min_length=1)
    workers: int | None = Field(None, gt=0)
    dask_address: str | None = None
    ingest: IngestConfig = IngestConfig()
    stages: StagesConfig = StagesConfig()
    selections: dict[str, SelectionConfig] = Field(default_factory=dict)
    mixtures: dict[str, MixtureConfig] = Field(default_factory=dict)  # after the selections


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
        raise UserError(f"{path}: {_describe(error)}") from None
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
        raise UserError(_describe(error)) from None


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        message = f"unknown key {first['loc'][-1]!r} at {where}"
    elif first["type"] == "missing":
        message = f"missing key {where}"
    else:
        message = f"{where}: {first['msg']}"
    more = error.error_count() - 1
    return message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def _relative_to(config: PipelineConfig, base: Path) -> PipelineConfig:
    def resolve(path: str) -> str:
        return path if "://" in path or Path(path).is_absolute() else str((base / path).resolve())

    inputs = [item.model_copy(update={"path": resolve(item.path)}) for item in config.inputs]
    stages = config.stages
    if stages.minhash and stages.minhash.against:
        stages = stages.model_copy(update={"minhash": stages.minhash.model_copy(update={"against": resolve(stages.minhash.against)})})
    return config.model_copy(update={"corpus": resolve(config.corpus), "inputs": inputs, "stages": stages})
