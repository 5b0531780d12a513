"""What a mixture will hold and how a trainer will draw from it, before anything is written.

    config = MixtureConfig(where="exact_dedup.keep", weights="natural", upsample={"code": 3}, tokens=2e9)
    plan = plan_mixture(corpus, config)      # domains, phases, epochs, draw probabilities, warnings

Weights are token shares. A trainer draws documents, so each phase also gets per-document draw
probabilities q_d = (w_d / mean_tokens_d) / Z with Z = sum of w_d / mean_tokens_d: drawing by q
consumes tokens in the shares w. A phase spanning a fraction f of a budget of B tokens draws
f * B * Z documents. A domain's epochs are the tokens drawn from it over its tokens available.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curation.corpus import Corpus
from curation.duck import identifier, sql_file
from curation.errors import UserError
from curation.mixture.rehydrate import copies_sql, parse_table
from curation.mixture.schedule import Phase, check_phases, parse_weights, resolve_weights, upsample_at_end
from curation.select.store import check_name
from curation.tokens import tokens_sql


class PhaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: float = Field(ge=0, le=1, description="Where the phase starts, as a fraction of training.")
    end: float = Field(ge=0, le=1, description="Where it ends.")
    weights: str | dict[str, float] = Field("natural", description="Its weights, as the mixture's weights.")

    @field_validator("weights", mode="before")
    @classmethod
    def _weights(cls, value):
        return _parsed_weights(value)


class MixtureConfig(BaseModel):
    """A training mixture: documents (a selection's, or those passing where), their domain, the
    weights and schedule, the token budget. The keys of a pipeline's ``mixtures.<name>`` and the
    options of `curate mix`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    selection: str | None = Field(None, description="Mix this selection's documents (with its repeats); "
                                                     "default: all documents.")
    where: str = Field("true", description="A condition on the corpus view.")
    domain: str = Field("domain", description="The domain of a document: a SQL expression, e.g. "
                                              "dataman.domain_name or source.")
    weights: str | dict[str, float] = Field(
        "natural", description="natural, temperature:T, domain=weight,... or @FILE (a JSON/YAML mapping, "
                               "e.g. DoReMi's output).")
    upsample: dict[str, float] = Field(
        default_factory=dict, description="Multiply these domains' weights for the last upsample_fraction of "
                                          "training (domain=factor,...).")
    upsample_fraction: float = Field(0.1, gt=0, lt=1, description="The end of training that upsample covers.")
    phases: list[PhaseConfig] = Field(
        default_factory=list, description="A list of {start, end, weights}, or a YAML/JSON file of one: any "
                                          "schedule (instead of weights and upsample).")
    rehydrate: str | dict[str, int] | None = Field(
        None, description="Repeat each document by the size of its fuzzy-duplicate cluster (FineWeb-2): fineweb2, or "
                          "size=copies,LOW-HIGH=copies,LOW+=copies (curation.mixture.rehydrate).")
    tokens: float | None = Field(None, gt=0, description="The token budget (default: every available token once).")
    warn_epochs: float = Field(4.0, gt=0, description="Warn when a domain repeats more.")
    max_epochs: float | None = Field(None, gt=0, description="Refuse a budget that repeats a domain more.")
    format: Literal["parquet", "jsonl", "megatron", "mds"] = Field(
        "parquet", description="Of the data files: parquet or jsonl (text), megatron (.bin/.idx) or mds (MosaicML "
                               "Streaming), both of the tokens stage's ids.")
    rows_per_part: int = Field(100_000, gt=0, description="Rows per data file.")
    seed: int = Field(0, description="Seed of the order of documents inside a domain.")

    @field_validator("weights", mode="before")
    @classmethod
    def _weights(cls, value):
        return _parsed_weights(value)

    @field_validator("rehydrate", mode="before")
    @classmethod
    def _rehydration_table(cls, value):
        if value is None:
            return None
        try:
            return parse_table(value)
        except UserError as error:
            raise ValueError(str(error)) from None

    @field_validator("upsample", mode="before")
    @classmethod
    def _factors(cls, value):
        factors = _parsed_weights(value)
        if not isinstance(factors, dict):
            raise ValueError(f"takes domain=factor,...; not {value!r}")
        return factors

    @field_validator("phases", mode="before")
    @classmethod
    def _phases_file(cls, value):
        """On the command line, phases come from a file."""
        if not isinstance(value, str):
            return value
        if not Path(value).is_file():
            raise ValueError(f"no phases file {value}")
        return yaml.safe_load(Path(value).read_text())  # YAML reads JSON too

    @model_validator(mode="after")
    def _one_schedule(self) -> MixtureConfig:
        if self.phases and (self.upsample or self.weights != "natural"):
            raise ValueError("give either phases or weights/upsample, not both")
        return self

    def documents_sql(self, tokens: str) -> str:
        join, copies = "", "1"
        if self.selection is not None:
            join = f"JOIN {identifier('selection_' + check_name(self.selection))} s USING (id)"
            copies = "s.repeats"
        if self.rehydrate is not None:
            copies = f"{copies} * {copies_sql(self.rehydrate)}"
        return sql_file("mixture_documents.sql", domain=self.domain, tokens=tokens, join=join, copies=copies,
                        where=self.where)


@dataclass(frozen=True)
class DomainStats:
    documents: int  # counting a selection's repeats
    tokens: int
    folder: str  # data/<folder>: the domain made safe for a path


@dataclass
class MixturePlan:
    config: MixtureConfig
    counted_with: str
    tokens_sql: str
    domains: dict[str, DomainStats]
    phases: list[Phase]
    budget: float
    probabilities: list[dict[str, float]]
    steps: list[int]
    consumed: dict[str, float]
    epochs: dict[str, float]
    warnings: list[str]


def _parsed_weights(value):
    try:
        return parse_weights(value)
    except UserError as error:
        raise ValueError(str(error)) from None


def domain_stats(corpus: Corpus, config: MixtureConfig, tokens: str) -> dict[str, DomainStats]:
    rows = corpus.sql(sql_file("mixture_domains.sql", documents=config.documents_sql(tokens))).to_pylist()
    if not rows:
        raise UserError(f"no document passes --where {config.where}" + (f" in selection {config.selection}" if config.selection else ""))
    if any(r["domain"] is None for r in rows):
        missing = next(r["documents"] for r in rows if r["domain"] is None)
        raise UserError(f"{missing:,} documents have no domain by {config.domain!r}; give --domain EXPR or narrow --where")
    folders: dict[str, DomainStats] = {}
    used: set[str] = set()
    for row in rows:
        folder = re.sub(r"[^A-Za-z0-9._-]+", "_", row["domain"]).strip("._") or "domain"
        while folder.lower() in used:
            folder += "_"
        used.add(folder.lower())
        folders[row["domain"]] = DomainStats(int(row["documents"]), int(row["tokens"]), folder)
    return folders


def plan_mixture(corpus: Corpus, config: MixtureConfig) -> MixturePlan:
    if config.rehydrate is not None and "minhash" not in corpus.attrs_stages():
        raise UserError(f"--rehydrate repeats documents by their fuzzy-duplicate cluster's size; run `curate minhash {corpus.url}` first")
    tokens, counted_with = tokens_sql(corpus)
    domains = domain_stats(corpus, config, tokens)
    available = {d: float(s.tokens) for d, s in domains.items()}
    if config.phases:
        phases = check_phases([Phase(p.start, p.end, resolve_weights(p.weights, available, f"phase {p.start}-{p.end}"))
                               for p in config.phases])
    else:
        base = resolve_weights(config.weights, available)
        phases = upsample_at_end(base, config.upsample, config.upsample_fraction) if config.upsample else [Phase(0.0, 1.0, base)]
    budget = float(config.tokens) if config.tokens is not None else sum(available.values())
    if budget <= 0:
        raise UserError(f"the token budget must be positive, not {budget}")
    mean = {d: s.tokens / s.documents for d, s in domains.items()}
    probabilities, steps = [], []
    consumed = dict.fromkeys(domains, 0.0)
    for phase in phases:
        z = sum(w / mean[d] for d, w in phase.weights.items())
        probabilities.append({d: (w / mean[d]) / z for d, w in phase.weights.items()})
        steps.append(max(1, round((phase.end - phase.start) * budget * z)))
        for d, w in phase.weights.items():
            consumed[d] += (phase.end - phase.start) * budget * w
    epochs = {d: consumed[d] / available[d] for d in domains}
    warnings = [f"domain {d} repeats {e:.1f} epochs (more than {config.warn_epochs:g})"
                for d, e in epochs.items() if e > config.warn_epochs]
    if config.max_epochs is not None and (over := {d: e for d, e in epochs.items() if e > config.max_epochs}):
        worst = max(over, key=over.get)
        raise UserError(f"the budget of {budget:,.0f} tokens needs {over[worst]:.1f} epochs of domain {worst} "
                        f"({domains[worst].tokens:,} tokens), more than --max-epochs {config.max_epochs:g}")
    return MixturePlan(config, counted_with, tokens, domains, phases, budget, probabilities, steps, consumed, epochs, warnings)
