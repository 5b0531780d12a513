"""One entry point for every selection policy, for the command line and the pipeline: the SQL
policies and balanced sampling live in the core, DataMan's strategies in scorers/ (this module may
reach both). Each returns the lines that summarise it."""

from __future__ import annotations

from curation.config import SelectionConfig
from curation.errors import UserError
from curation.select.balanced import select_balanced
from curation.select.query import select_by_query


def run_selection(corpus_url: str, name: str, selection: SelectionConfig) -> list[str]:
    """The caller holds the corpus's writer lock."""
    policy = selection.policy()
    if policy == "balanced":
        return select_balanced(corpus_url, name, selection.balanced_options()).lines()
    if policy == "dataman":
        from scorers.dataman.select import DataManSelection, select_dataman

        if selection.budget is None:
            raise UserError("a DataMan selection needs --budget N (in --unit, tokens by default)")
        options = DataManSelection(selection.budget, selection.unit or "tokens", selection.where, selection.metric, tuple(selection.target_scores),
                                   tuple(selection.target_domains), selection.dataman, selection.seed)
        return select_dataman(corpus_url, name, options)
    return select_by_query(corpus_url, name, selection.query())
