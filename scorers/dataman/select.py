"""Selecting with DataMan ratings (DataMan's Sample-with-DataMan, Peng et al. 2025): a token budget spread over strata by a strategy,
documents taken best-first by a metric inside each, short strata upsampled.

    lines = select_dataman(corpus_url, "overall5", DataManSelection(budget=1_000_000, target_scores=(5,),
                                                                    strategy="uniform"))

- ``metric``: one of the 14 criteria, or ``mix`` for the sum of all 14 (DataMan's
  "quality_criteria_mix"); ``target_scores`` keeps documents whose metric is one of them (e.g. 5);
  ``target_domains`` keeps those DataMan domains (letters or names).
- ``strategy``: ``multi_domain`` keeps each source's and, within it, each DataMan domain's token
  share (DataMan's main runs); ``org_domain`` each domain's share; ``equi_domain`` equal budgets per
  domain; ``uniform`` one global top-k (random among equal metrics, so ``overall_score == 5`` then
  ``uniform`` samples uniformly from the 5s); ``none`` keeps every candidate once.
- The budget is in ``unit``: tokens (curation.tokens: the ``tokens`` attrs, or characters / 4),
  characters or documents; ``where`` is a condition on the ``corpus`` view. Shares are those of
  the candidates after the condition and the filters.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa

from curation.corpus import Corpus
from curation.duck import identifier, quote_list, sql_file
from curation.errors import UserError
from curation.select.query import UNITS, unit_sql
from curation.select.sampling import STRATEGIES, select_in_strata, stratum_budgets
from curation.select.store import check_name, write_selection
from scorers.dataman.prompts import COLUMNS, DOMAINS

STRATUM_KEYS = {"multi_domain": ("source", "app_domain"), "org_domain": ("app_domain",),
                "equi_domain": ("app_domain",), "uniform": (), "none": ()}


@dataclass(frozen=True)
class DataManSelection:
    budget: float
    unit: str = "tokens"
    where: str = "true"
    metric: str = "overall_score"
    target_scores: tuple[int, ...] = ()
    target_domains: tuple[str, ...] = ()
    strategy: str = "multi_domain"
    seed: int = 0
    table: str = "dataman"
    domain_letters: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self):
        if self.budget <= 0:
            raise UserError(f"the budget must be positive, not {self.budget}")
        if self.unit not in UNITS:
            raise UserError(f"--unit is one of {', '.join(UNITS)}, not {self.unit!r}")
        if self.metric not in (*COLUMNS, "mix"):
            raise UserError(f"the DataMan metric is one of {', '.join(COLUMNS)} or mix, not {self.metric!r}")
        if self.strategy not in STRATEGIES:
            raise UserError(f"the DataMan strategy is one of {', '.join(STRATEGIES)}, not {self.strategy!r}")
        names = {name.lower(): letter for letter, name in DOMAINS.items()}
        letters = tuple(names.get(d.lower(), d.upper()) for d in self.target_domains)
        if unknown := [d for d, letter in zip(self.target_domains, letters, strict=True) if letter not in DOMAINS]:
            raise UserError(f"no DataMan domain {', '.join(unknown)}; domains are letters A-O or names like Medicine")
        object.__setattr__(self, "domain_letters", letters)

    def candidates_sql(self, weight: str) -> str:
        columns = COLUMNS if self.metric == "mix" else (self.metric,)
        metric = " + ".join(f"m.{identifier(c)}" for c in columns)
        filters = ""
        if self.target_scores:
            filters += f" AND ({metric}) IN ({', '.join(str(int(s)) for s in self.target_scores)})"
        if self.domain_letters:
            filters += f" AND list_contains({quote_list(list(self.domain_letters))}, m.domain)"
        return sql_file("dataman_candidates.sql", metric=metric, table=identifier(self.table), where=self.where,
                        weight=weight, filters=filters)


def select_dataman(corpus_url: str, name: str, options: DataManSelection) -> list[str]:
    """Writes selections/<name>; returns the summary lines. The caller holds the writer lock."""
    started = time.time()
    corpus = Corpus.open(corpus_url)
    check_name(name)
    if options.table not in corpus.attrs_stages():
        raise UserError(f"{corpus_url} has no attrs/{options.table}; run `curate score {corpus_url} --scorer dataman` first")
    weight, counted_with = unit_sql(corpus, options.unit)
    candidates = corpus.sql(options.candidates_sql(weight))
    if candidates.num_rows == 0:
        raise UserError("no rated document passes --where, the target scores and the target domains")
    weights = candidates["weight"].to_numpy()
    keys = STRATUM_KEYS[options.strategy]
    labels = [" / ".join(row) for row in zip(*(candidates[key].to_pylist() for key in keys), strict=True)] if keys else ["all"] * len(weights)
    stratum_names, strata = np.unique(labels, return_inverse=True)
    if options.strategy == "none":
        repeats, reports = np.ones(len(weights), dtype=np.int64), []
    else:
        budgets = stratum_budgets(strata, weights, options.budget, options.strategy)
        repeats, reports = select_in_strata(strata, candidates["metric"].to_numpy(), weights, budgets, options.seed)
    chosen = np.flatnonzero(repeats)
    metric = candidates["metric"].to_numpy()
    why = [f"dataman {options.strategy}: {options.metric} {metric[i]:g} in {stratum_names[strata[i]]}" for i in chosen]
    selection = pa.table({"id": candidates["id"].take(pa.array(chosen)), "repeats": pa.array(repeats[chosen].astype(np.int32)),
                          "why": pa.array(why)})
    upsampled = [(stratum_names[r.stratum], r.max_repeats) for r in reports if r.selected and r.available < r.budget]
    selected = int((weights * repeats).sum())
    definition = {"policy": "dataman", **asdict(options), "counted_with": counted_with, "docs_fingerprint": corpus.docs_fingerprint(),
                  "scores_stage": (corpus.stage(options.table).config if corpus.stage(options.table) else None),
                  "selected": selected, "picks": int(repeats.sum()), "unique": int(len(chosen)),
                  "strata": [asdict(r) | {"name": stratum_names[r.stratum]} for r in reports]}
    write_selection(corpus, name, selection, definition)
    lines = [f"selection {name}: {int(repeats.sum()):,} picks of {len(chosen):,} documents, {selected:,} {options.unit} "
             f"of {options.budget:,.0f} asked ({counted_with}), from {len(stratum_names)} strata ({time.time() - started:.1f} s)"]
    lines += [f"warning: stratum {stratum} had less than its budget and was upsampled (up to {times}x)" for stratum, times in upsampled]
    return lines
