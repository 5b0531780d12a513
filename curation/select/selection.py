"""What a selection is: a condition on the corpus view, then at most one policy (none: every
document passing the condition). One model for a pipeline's ``selections.<name>`` and the
options of `curate select`; ``run_selection`` dispatches to the policy's module.

Policies: ``top``, ``temperature`` and ``random`` rank in SQL (curation.select.query), ``balanced``
samples the cluster tree (curation.select.balanced), ``dataman`` spreads a token budget over
DataMan's strata (curation.select.dataman).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curation.clusters.balanced import STRATEGIES as BALANCED_STRATEGIES
from curation.select.sampling import STRATEGIES as DATAMAN_STRATEGIES
from scorers.dataman.prompts import COLUMNS, DOMAINS

RANKED = ("top", "temperature", "random")  # the policies that take a budget in SQL


class SelectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    where: str = Field("true", description='A condition on the corpus view, e.g. "exact_dedup.keep AND '
                                           'quality_docs.score > 0.5".')
    top: str | None = Field(None, description="Policy: best-first by this SQL expression, up to the budget.")
    temperature: float | None = Field(None, gt=0, description="Policy: sample without replacement with "
                                                              "p ~ exp(by / T), up to the budget (needs by).")
    by: str | None = Field(None, description="With temperature: the SQL expression sampled by.")
    random: bool = Field(False, description="Policy: a uniform random sample, up to the budget.")
    balanced: int | None = Field(None, gt=0, description="Policy: N documents by hierarchical balanced sampling "
                                                         "over the cluster tree.")
    dataman: Literal[DATAMAN_STRATEGIES] | None = Field(
        None, description="Policy: DataMan's selection strategy over attrs/dataman, up to the budget.")
    budget: float | None = Field(None, gt=0, description="How much to select, in unit.")
    percent: float | None = Field(None, gt=0, le=100, description="Or: this percent of the unit that passes where.")
    unit: Literal["docs", "chars", "tokens"] | None = Field(
        None, description="Of the budget (default docs; tokens with dataman). Tokens: attrs/tokens, or characters / 4.")
    multiplier: int = Field(1, gt=0, description="With balanced: how many times one document may be picked.")
    strategy: Literal[BALANCED_STRATEGIES] = Field(
        "random", description="With balanced: inside a level-1 cluster, random members or those closest to its centroid.")
    metric: str = Field("overall_score", description="With dataman: the criterion ranked by, or mix (the sum of all 14).")
    target_scores: list[int] = Field(default_factory=list, description="With dataman: keep only these metric values, "
                                                                       "e.g. 5 or 4,5.")
    target_domains: list[str] = Field(default_factory=list, description="With dataman: keep only these domains, "
                                                                        "e.g. Medicine,Law or A,C.")
    seed: int = Field(0, description="Seed of the sample and of the order among ties.")

    @property
    def policy(self) -> str:
        chosen = [name for name, given in (("top", self.top is not None), ("temperature", self.temperature is not None),
                                           ("random", self.random), ("balanced", self.balanced is not None),
                                           ("dataman", self.dataman is not None)) if given]
        if len(chosen) > 1:
            raise ValueError(f"choose one selection policy, not {' and '.join(chosen)}")
        return chosen[0] if chosen else "all"

    @property
    def ranked_by(self) -> str | None:
        return self.top or self.by

    @property
    def budget_unit(self) -> str:
        return self.unit or ("tokens" if self.policy == "dataman" else "docs")

    @property
    def domain_letters(self) -> tuple[str, ...]:
        """target_domains as DataMan's letters (names are matched without case)."""
        names = {name.lower(): letter for letter, name in DOMAINS.items()}
        return tuple(names.get(domain.lower(), domain.upper()) for domain in self.target_domains)

    @model_validator(mode="after")
    def _policy_settings(self) -> SelectionConfig:
        policy = self.policy
        given_budget = self.budget is not None or self.percent is not None
        if policy == "all" and given_budget:
            raise ValueError("a budget needs a policy that ranks: top, temperature with by, or random")
        if policy == "temperature" and not self.by:
            raise ValueError("the temperature policy needs by, the SQL expression to sample by")
        if policy in RANKED and (self.budget is None) == (self.percent is None):
            raise ValueError("give the budget as budget N or as percent P (of what passes where)")
        if policy == "dataman":
            self._check_dataman()
        return self

    def _check_dataman(self) -> None:
        if self.budget is None:
            raise ValueError("a DataMan selection needs budget N (in unit, tokens by default)")
        if self.metric not in (*COLUMNS, "mix"):
            raise ValueError(f"the DataMan metric is one of {', '.join(COLUMNS)} or mix, not {self.metric!r}")
        unknown = [d for d, letter in zip(self.target_domains, self.domain_letters, strict=True) if letter not in DOMAINS]
        if unknown:
            raise ValueError(f"no DataMan domain {', '.join(unknown)}; domains are letters A-O or names like Medicine")


def run_selection(corpus_url: str, name: str, config: SelectionConfig) -> list[str]:
    """Write selections/<name> by the config's policy; returns the summary lines. The caller
    holds the corpus's writer lock."""
    if config.policy == "balanced":
        from curation.select.balanced import select_balanced

        return select_balanced(corpus_url, name, config).lines()
    if config.policy == "dataman":
        from curation.select.dataman import select_dataman

        return select_dataman(corpus_url, name, config)
    from curation.select.query import select_by_query

    return select_by_query(corpus_url, name, config)
