"""Selecting with DataMan ratings (DataMan's Sample-with-DataMan, Peng et al. 2025): a token budget spread over strata by a strategy,
documents taken best-first by a metric inside each, short strata upsampled.

    config = SelectionConfig(dataman="uniform", budget=1_000_000, target_scores=[5])
    lines = select_dataman(corpus_url, "overall5", config)

- ``metric``: one of the 14 criteria, or ``mix`` for the sum of all 14 (DataMan's
  "quality_criteria_mix"); ``target_scores`` keeps documents whose metric is one of them (e.g. 5);
  ``target_domains`` keeps those DataMan domains (letters or names).
- the strategy (``dataman``): ``multi_domain`` keeps each source's and, within it, each DataMan domain's token
  share (DataMan's main runs); ``org_domain`` each domain's share; ``equi_domain`` equal budgets per
  domain; ``uniform`` one global top-k (random among equal metrics, so ``overall_score == 5`` then
  ``uniform`` samples uniformly from the 5s); ``none`` keeps every candidate once.
- The budget is in ``unit``: tokens (curation.tokens: the ``tokens`` attrs, or characters / 4),
  characters or documents; ``where`` is a condition on the ``corpus`` view. Shares are those of
  the candidates after the condition and the filters.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
import pyarrow as pa

from curation.corpus import Corpus
from curation.duck import identifier, quote_list, sql_file
from curation.errors import UserError
from curation.select.query import unit_sql
from curation.select.sampling import select_in_strata, stratum_budgets
from curation.select.selection import SelectionConfig
from curation.select.store import check_name, write_selection
from scorers.dataman.prompts import COLUMNS

TABLE = "dataman"  # the score stage's table of DataMan ratings
STRATUM_KEYS = {"multi_domain": ("source", "app_domain"), "org_domain": ("app_domain",),
                "equi_domain": ("app_domain",), "uniform": (), "none": ()}


def candidates_sql(config: SelectionConfig, weight: str) -> str:
    columns = COLUMNS if config.metric == "mix" else (config.metric,)
    metric = " + ".join(f"m.{identifier(c)}" for c in columns)
    filters = ""
    if config.target_scores:
        filters += f" AND ({metric}) IN ({', '.join(str(int(s)) for s in config.target_scores)})"
    if config.domain_letters:
        filters += f" AND list_contains({quote_list(list(config.domain_letters))}, m.domain)"
    return sql_file("dataman_candidates.sql", metric=metric, table=identifier(TABLE), where=config.where,
                    weight=weight, filters=filters)


def definition(config: SelectionConfig) -> dict:
    """The settings a DataMan selection records in selection.json."""
    return {"policy": "dataman", "budget": config.budget, "unit": config.budget_unit, "where": config.where,
            "metric": config.metric, "target_scores": config.target_scores, "target_domains": config.target_domains,
            "strategy": config.dataman, "seed": config.seed, "table": TABLE, "domain_letters": config.domain_letters}


def select_dataman(corpus_url: str, name: str, config: SelectionConfig) -> list[str]:
    """Writes selections/<name>; returns the summary lines. The caller holds the writer lock."""
    started = time.time()
    corpus = Corpus.open(corpus_url)
    check_name(name)
    if TABLE not in corpus.attrs_stages():
        raise UserError(f"{corpus_url} has no attrs/{TABLE}; run `curate score {corpus_url} --scorer dataman` first")
    weight, counted_with = unit_sql(corpus, config.budget_unit)
    candidates = corpus.sql(candidates_sql(config, weight))
    if candidates.num_rows == 0:
        raise UserError("no rated document passes --where, the target scores and the target domains")
    weights = candidates["weight"].to_numpy()
    keys = STRATUM_KEYS[config.dataman]
    labels = [" / ".join(row) for row in zip(*(candidates[key].to_pylist() for key in keys), strict=True)] if keys else ["all"] * len(weights)
    stratum_names, strata = np.unique(labels, return_inverse=True)
    if config.dataman == "none":
        repeats, reports = np.ones(len(weights), dtype=np.int64), []
    else:
        budgets = stratum_budgets(strata, weights, config.budget, config.dataman)
        repeats, reports = select_in_strata(strata, candidates["metric"].to_numpy(), weights, budgets, config.seed)
    chosen = np.flatnonzero(repeats)
    metric = candidates["metric"].to_numpy()
    why = [f"dataman {config.dataman}: {config.metric} {metric[i]:g} in {stratum_names[strata[i]]}" for i in chosen]
    selection = pa.table({"id": candidates["id"].take(pa.array(chosen)), "repeats": pa.array(repeats[chosen].astype(np.int32)),
                          "why": pa.array(why)})
    upsampled = [(stratum_names[r.stratum], r.max_repeats) for r in reports if r.selected and r.available < r.budget]
    selected = int((weights * repeats).sum())
    record = definition(config) | {
        "counted_with": counted_with, "docs_fingerprint": corpus.docs_fingerprint(),
        "scores_stage": (corpus.stage(TABLE).config if corpus.stage(TABLE) else None),
        "selected": selected, "picks": int(repeats.sum()), "unique": int(len(chosen)),
        "strata": [asdict(r) | {"name": stratum_names[r.stratum]} for r in reports]}
    write_selection(corpus, name, selection, record)
    lines = [f"selection {name}: {int(repeats.sum()):,} picks of {len(chosen):,} documents, {selected:,} {config.budget_unit} "
             f"of {config.budget:,.0f} asked ({counted_with}), from {len(stratum_names)} strata ({time.time() - started:.1f} s)"]
    lines += [f"warning: stratum {stratum} had less than its budget and was upsampled (up to {times}x)" for stratum, times in upsampled]
    return lines
