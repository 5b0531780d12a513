"""Token-budgeted selection inside strata, as DataMan's Sample-with-DataMan does it (Peng et al. 2025, arXiv:2502.19363):
each stratum gets a token budget, its documents are taken best-first by a metric (in random order
when the metric is constant, e.g. after keeping only overall_score == 5) until the budget is met,
and a stratum with too few tokens is upsampled.

    budgets = stratum_budgets(strata, tokens, budget=30e9, strategy="multi_domain")
    repeats, report = select_in_strata(strata, metric, tokens, budgets, seed=0)

``strata`` numbers each document's stratum (e.g. its (source, domain) pair); ``repeats`` says how
many times each document is picked (0 = not picked). Upsampling repeats the whole stratum evenly
(every document k or k+1 times, the extra copies going to the best) rather than drawing with
replacement as DataMan does: the same expected counts with no document repeated by chance much
more than the others. The report lists, per stratum, what it had, was due and got (DataMan: repeats are
never silent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRATEGIES = ("multi_domain", "org_domain", "equi_domain", "uniform", "none")


@dataclass(frozen=True)
class StratumReport:
    stratum: int
    documents: int
    available: float  # weight (documents, characters or tokens) in the stratum
    budget: float
    selected: float
    max_repeats: int


def stratum_budgets(strata: np.ndarray, tokens: np.ndarray, budget: float, strategy: str) -> np.ndarray:
    """Each stratum's token budget: its token share of ``budget`` (multi_domain, org_domain; the
    strata say which), equal shares (equi_domain), or all of it (uniform: one stratum)."""
    count = int(strata.max()) + 1 if len(strata) else 0
    if strategy == "uniform":
        return np.full(count, float(budget))
    if strategy in ("multi_domain", "org_domain"):
        available = np.bincount(strata, weights=tokens, minlength=count)
        return budget * available / available.sum()
    if strategy == "equi_domain":
        return np.full(count, budget / count)
    raise ValueError(f"no per-stratum budgets for strategy {strategy!r}")


def take_until(metric: np.ndarray, tokens: np.ndarray, budget: float, rng: np.random.Generator) -> np.ndarray:
    """Repeats per document: best-first (random among equal metrics) until ``budget`` tokens,
    upsampling evenly when all of them together hold fewer."""
    repeats = np.zeros(len(metric), dtype=np.int64)
    if len(metric) == 0 or budget <= 0:
        return repeats
    order = np.lexsort((rng.random(len(metric)), -metric.astype(np.float64)))
    total = int(tokens.sum())
    if total == 0:
        return repeats
    whole_passes, remainder = divmod(budget, total)
    repeats[:] = int(whole_passes)
    if remainder > 0:
        cumulative = np.cumsum(tokens[order])
        take = min(int(np.searchsorted(cumulative, remainder, side="left")) + 1, len(order))
        repeats[order[:take]] += 1
    return repeats


def select_in_strata(strata: np.ndarray, metric: np.ndarray, tokens: np.ndarray, budgets: np.ndarray,
                     seed: int) -> tuple[np.ndarray, list[StratumReport]]:
    rng = np.random.default_rng(seed)
    repeats = np.zeros(len(strata), dtype=np.int64)
    reports = []
    for stratum, budget in enumerate(budgets):
        members = np.flatnonzero(strata == stratum)
        repeats[members] = take_until(metric[members], tokens[members], budget, rng)
        reports.append(StratumReport(stratum, len(members), float(tokens[members].sum()), float(budget),
                                     float((tokens[members] * repeats[members]).sum()),
                                     int(repeats[members].max()) if len(members) else 0))
    return repeats, reports
