"""Selections written in SQL: a condition on the ``corpus`` view (``--where``), then a policy, all
run inside DuckDB so that rows never pass through Python until they are chosen.

    options = QuerySelection(where="exact_dedup.keep AND minhash.keep", policy="top",
                             by="quality_docs.score", percent=10, unit="tokens")
    lines = select_by_query(corpus_url, "best", options)

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
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow.compute as pc

from curation.corpus import Corpus
from curation.duck import quote, sql_file
from curation.errors import UserError
from curation.select.store import check_name, write_selection
from curation.tokens import tokens_sql

POLICIES = ("all", "top", "temperature", "random")
UNITS = ("docs", "chars", "tokens")
UNIT_SQL = {"docs": ("1", "documents"), "chars": ("length(text)", "characters")}  # tokens: curation.tokens


def unit_sql(corpus: Corpus, unit: str) -> tuple[str, str]:
    """(the SQL expression of a document's weight in ``unit``, what it counts with)."""
    return tokens_sql(corpus) if unit == "tokens" else UNIT_SQL[unit]


@dataclass(frozen=True)
class QuerySelection:
    where: str = "true"
    policy: str = "all"
    by: str | None = None
    temperature: float = 1.0
    budget: float | None = None
    percent: float | None = None
    unit: str = "docs"
    seed: int = 0

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise UserError(f"the selection policy is one of {', '.join(POLICIES)}, not {self.policy!r}")
        if self.unit not in UNITS:
            raise UserError(f"--unit is one of {', '.join(UNITS)}, not {self.unit!r}")
        if self.policy in ("top", "temperature") and not self.by:
            raise UserError(f"the {self.policy} policy needs --by EXPR, the SQL expression to rank by")
        if self.policy == "all" and (self.budget is not None or self.percent is not None):
            raise UserError("a budget needs a policy that ranks: --top EXPR, --temperature T --by EXPR or --random")
        if self.policy != "all" and (self.budget is None) == (self.percent is None):
            raise UserError("give the budget as --budget N or as --percent P (of what passes --where)")
        if self.budget is not None and self.budget <= 0:
            raise UserError(f"the budget must be positive, not {self.budget}")
        if self.percent is not None and not 0 < self.percent <= 100:
            raise UserError(f"--percent is in (0, 100], not {self.percent}")
        if self.temperature <= 0:
            raise UserError(f"the temperature must be positive, not {self.temperature}")

    def sql(self, weight: str) -> str:
        if self.policy == "all":
            return sql_file("select_where.sql", where=self.where, weight=weight, why=quote(f"where {self.where}"))
        score = self.by if self.policy in ("top", "temperature") else "0"
        key = {"top": "score", "random": "uniform",
               "temperature": f"score / {self.temperature!r} - ln(-ln(uniform))"}[self.policy]
        why = {"top": f"'top by {self.by} = ' || round(score, 6)",
               "temperature": f"'sampled at temperature {self.temperature:g} by {self.by} = ' || round(score, 6)",
               "random": quote("uniform random sample")}[self.policy]
        budget = repr(float(self.budget)) if self.budget is not None else f"(SELECT {self.percent!r} / 100 * sum(weight) FROM candidates)"
        return sql_file("select_ranked.sql", where=self.where, score=score, weight=weight, seed=str(int(self.seed)),
                        key=key, why=why, budget=budget)


def select_by_query(corpus_url: str, name: str, options: QuerySelection) -> list[str]:
    """Writes selections/<name>; returns the summary lines. The caller holds the writer lock."""
    started = time.time()
    corpus = Corpus.open(corpus_url)
    check_name(name)
    weight, counted_with = unit_sql(corpus, options.unit)
    chosen = corpus.sql(options.sql(weight))
    if chosen.num_rows == 0:
        raise UserError(f"no document passes --where {options.where}")
    taken = float(pc.sum(chosen["weight"]).as_py())
    definition = {"policy": options.policy, **asdict(options), "counted_with": counted_with,
                  "docs_fingerprint": corpus.docs_fingerprint(), "selected": chosen.num_rows, "weight": taken}
    write_selection(corpus, name, chosen.drop_columns(["weight"]), definition)
    unit = "" if options.unit == "docs" else f", {np.round(taken):,.0f} {options.unit} ({counted_with})"
    return [f"selection {name}: {chosen.num_rows:,} documents{unit} by policy {options.policy} "
            f"({time.time() - started:.1f} s)"]
