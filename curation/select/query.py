"""Selections written in SQL: a condition on the ``corpus`` view (``--where``), then a policy, all
run inside DuckDB so that rows never pass through Python until they are chosen.

    config = SelectionConfig(where="exact_dedup.keep AND minhash.keep", top="quality_docs.score",
                             percent=10, unit="tokens")
    lines = select_by_query(corpus_url, "best", config)

Policies:
- ``all``: every document passing the condition (a threshold is a condition: ``quality.score > 0.02``);
- ``top``: best-first by the SQL expression ``by`` until the budget;
- ``temperature``: a sample without replacement with probability proportional to exp(by / T)
  (Gumbel-top-k: key = by / T + Gumbel noise), until the budget; high T is uniform, low T is top;
- ``random``: a uniform sample until the budget.

The budget is ``budget`` units or ``percent`` of the units that pass the condition; units are
documents, characters or tokens (curation.tokens). Ties and noise come from md5(id, seed), so the
same seed gives the same selection on any machine.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow.compute as pc

from curation.corpus import Corpus
from curation.duck import quote, sql_file
from curation.errors import UserError
from curation.select.selection import SelectionConfig
from curation.select.store import check_name, write_selection
from curation.tokens import tokens_sql

UNIT_SQL = {"docs": ("1", "documents"), "chars": ("length(text)", "characters")}  # tokens: curation.tokens


def unit_sql(corpus: Corpus, unit: str) -> tuple[str, str]:
    """(the SQL expression of a document's weight in ``unit``, what it counts with)."""
    return tokens_sql(corpus) if unit == "tokens" else UNIT_SQL[unit]


def ranked_sql(config: SelectionConfig, weight: str) -> str:
    """The query choosing the documents, with ``weight`` each counts for in the budget."""
    policy, by = config.policy, config.ranked_by
    if policy == "all":
        return sql_file("select_where.sql", where=config.where, weight=weight, why=quote(f"where {config.where}"))
    temperature = config.temperature or 1.0
    score = by if policy in ("top", "temperature") else "0"
    key = {"top": "score", "random": "uniform", "temperature": f"score / {temperature!r} - ln(-ln(uniform))"}[policy]
    why = {"top": f"'top by {by} = ' || round(score, 6)",
           "temperature": f"'sampled at temperature {temperature:g} by {by} = ' || round(score, 6)",
           "random": quote("uniform random sample")}[policy]
    budget = (repr(float(config.budget)) if config.budget is not None
              else f"(SELECT {config.percent!r} / 100 * sum(weight) FROM candidates)")
    return sql_file("select_ranked.sql", where=config.where, score=score, weight=weight, seed=str(int(config.seed)),
                    key=key, why=why, budget=budget)


def definition(config: SelectionConfig) -> dict:
    """The settings a SQL selection records in selection.json."""
    return {"policy": config.policy, "where": config.where, "by": config.ranked_by,
            "temperature": config.temperature or 1.0, "budget": config.budget, "percent": config.percent,
            "unit": config.budget_unit, "seed": config.seed}


def select_by_query(corpus_url: str, name: str, config: SelectionConfig) -> list[str]:
    """Writes selections/<name>; returns the summary lines. The caller holds the writer lock."""
    started = time.time()
    corpus = Corpus.open(corpus_url)
    check_name(name)
    weight, counted_with = unit_sql(corpus, config.budget_unit)
    chosen = corpus.sql(ranked_sql(config, weight))
    if chosen.num_rows == 0:
        raise UserError(f"no document passes --where {config.where}")
    taken = float(pc.sum(chosen["weight"]).as_py())
    record = definition(config) | {"counted_with": counted_with, "docs_fingerprint": corpus.docs_fingerprint(),
                                   "selected": chosen.num_rows, "weight": taken}
    write_selection(corpus, name, chosen.drop_columns(["weight"]), record)
    unit = "" if config.budget_unit == "docs" else f", {np.round(taken):,.0f} {config.budget_unit} ({counted_with})"
    return [f"selection {name}: {chosen.num_rows:,} documents{unit} by policy {config.policy} "
            f"({time.time() - started:.1f} s)"]
