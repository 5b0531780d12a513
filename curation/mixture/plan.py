"""What a mixture will hold and how a trainer will draw from it, before anything is written.

    spec = MixtureSpec(where="exact_dedup.keep", weights="natural", upsample={"code": 3}, tokens=2e9)
    plan = plan_mixture(corpus, spec)      # domains, phases, epochs, draw probabilities, warnings

Weights are token shares. A trainer draws documents, so each phase also gets per-document draw
probabilities q_d = (w_d / mean_tokens_d) / Z with Z = sum of w_d / mean_tokens_d: drawing by q
consumes tokens in the shares w. A phase spanning a fraction f of a budget of B tokens draws
f * B * Z documents. A domain's epochs are the tokens drawn from it over its tokens available.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from curation.corpus import Corpus
from curation.duck import identifier, sql_file
from curation.errors import UserError
from curation.mixture.schedule import Phase, check_phases, resolve_weights, upsample_at_end
from curation.select.store import check_name
from curation.tokens import tokens_sql


@dataclass(frozen=True)
class MixtureSpec:
    selection: str | None = None  # take a selection's documents (with its repeats); else all passing where
    where: str = "true"
    domain: str = "domain"  # SQL expression over the corpus view
    weights: str | dict = "natural"
    upsample: dict = field(default_factory=dict)  # domain -> factor in the final phase
    upsample_fraction: float = 0.1
    phases: tuple = ()  # explicit phases: (start, end, weights spec) each; instead of weights/upsample
    tokens: float | None = None  # the budget; default: every available token once
    warn_epochs: float = 4.0
    max_epochs: float | None = None
    format: str = "parquet"
    rows_per_part: int = 100_000
    seed: int = 0

    def documents_sql(self, tokens: str) -> str:
        join, copies = "", "1"
        if self.selection is not None:
            join = f"JOIN {identifier('selection_' + check_name(self.selection))} s USING (id)"
            copies = "s.repeats"
        return sql_file("mixture_documents.sql", domain=self.domain, tokens=tokens, join=join, copies=copies,
                        where=self.where)


@dataclass(frozen=True)
class DomainStats:
    documents: int  # counting a selection's repeats
    tokens: int
    folder: str  # data/<folder>: the domain made safe for a path


@dataclass
class MixturePlan:
    spec: MixtureSpec
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


def domain_stats(corpus: Corpus, spec: MixtureSpec, tokens: str) -> dict[str, DomainStats]:
    rows = corpus.sql(sql_file("mixture_domains.sql", documents=spec.documents_sql(tokens))).to_pylist()
    if not rows:
        raise UserError(f"no document passes --where {spec.where}" + (f" in selection {spec.selection}" if spec.selection else ""))
    if any(r["domain"] is None for r in rows):
        missing = next(r["documents"] for r in rows if r["domain"] is None)
        raise UserError(f"{missing:,} documents have no domain by {spec.domain!r}; give --domain EXPR or narrow --where")
    folders: dict[str, DomainStats] = {}
    used: set[str] = set()
    for row in rows:
        folder = re.sub(r"[^A-Za-z0-9._-]+", "_", row["domain"]).strip("._") or "domain"
        while folder.lower() in used:
            folder += "_"
        used.add(folder.lower())
        folders[row["domain"]] = DomainStats(int(row["documents"]), int(row["tokens"]), folder)
    return folders


def plan_mixture(corpus: Corpus, spec: MixtureSpec) -> MixturePlan:
    tokens, counted_with = tokens_sql(corpus)
    domains = domain_stats(corpus, spec, tokens)
    available = {d: float(s.tokens) for d, s in domains.items()}
    if spec.phases:
        phases = check_phases([Phase(float(start), float(end), resolve_weights(weights, available, f"phase {start}-{end}"))
                               for start, end, weights in spec.phases])
    else:
        base = resolve_weights(spec.weights, available)
        phases = upsample_at_end(base, spec.upsample, spec.upsample_fraction) if spec.upsample else [Phase(0.0, 1.0, base)]
    budget = float(spec.tokens) if spec.tokens is not None else sum(available.values())
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
    warnings = [f"domain {d} repeats {e:.1f} epochs (more than {spec.warn_epochs:g})"
                for d, e in epochs.items() if e > spec.warn_epochs]
    if spec.max_epochs is not None and (over := {d: e for d, e in epochs.items() if e > spec.max_epochs}):
        worst = max(over, key=over.get)
        raise UserError(f"the budget of {budget:,.0f} tokens needs {over[worst]:.1f} epochs of domain {worst} "
                        f"({domains[worst].tokens:,} tokens), more than --max-epochs {spec.max_epochs:g}")
    return MixturePlan(spec, counted_with, tokens, domains, phases, budget, probabilities, steps, consumed, epochs, warnings)
