"""`curate select NAME DIR --balanced N`: hierarchical balanced sampling over the cluster tree
of the cluster stage (curation.clusters.balanced), written as a selection."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curation.clusters.balanced import balanced_sample
from curation.clusters.stage import load_hierarchy
from curation.corpus import Corpus
from curation.duck import sql_file
from curation.errors import UserError
from curation.select.selection import SelectionConfig
from curation.select.store import check_name, write_selection


@dataclass
class SelectionSummary:
    name: str
    requested: int
    selected: int
    unique: int
    clusters: int
    wall_time_s: float

    def lines(self) -> list[str]:
        lines = [f"selection {self.name}: {self.selected:,} picks of {self.unique:,} documents "
                 f"from {self.clusters:,} level-1 clusters ({self.wall_time_s:.1f} s)"]
        if self.selected < self.requested:
            lines.append(f"warning: {self.requested:,} were asked for, but the multiplier allows only {self.selected:,}")
        return lines


def select_balanced(corpus_url: str, name: str, config: SelectionConfig) -> SelectionSummary:
    """The caller holds the corpus's writer lock."""
    started = time.time()
    corpus = Corpus.open(corpus_url)
    check_name(name)
    if not corpus.is_current("clusters"):
        missing = "embed" if corpus.stage("embed") is None else "clusters"
        raise UserError(f"{corpus_url} has no clusters of its current embeddings; run `curate {missing} {corpus_url}` first")
    hierarchy = load_hierarchy(corpus)
    levels = len(hierarchy.centroids_)
    table = corpus.sql(sql_file("select_balanced_candidates.sql", where=config.where))
    if table.num_rows == 0:
        raise UserError(f"no clustered document passes --where {config.where}")
    labels = table["level_1"].to_numpy().astype(np.int64)
    picks = balanced_sample(labels, table["distance"].to_numpy(), hierarchy.parents_, config.balanced,
                            config.multiplier, config.strategy, config.seed)
    rows, repeats = np.unique(picks, return_counts=True)
    why = [f"balanced over {levels} levels: level-1 cluster {c}" for c in labels[rows].tolist()]
    selection = pa.table({"id": table["id"].take(pa.array(rows)), "repeats": pa.array(repeats.astype(np.int32)),
                          "why": pa.array(why)})
    definition = {"policy": "balanced", "target": config.balanced, "multiplier": config.multiplier,
                  "strategy": config.strategy, "seed": config.seed, "where": config.where, "levels": [len(c) for c in hierarchy.centroids_],
                  "clusters_stage": corpus.stage("clusters").config, "docs_fingerprint": corpus.docs_fingerprint(),
                  "selected": int(len(picks)), "unique": int(len(rows))}
    write_selection(corpus, name, selection, definition)
    return SelectionSummary(name, config.balanced, int(len(picks)), int(len(rows)),
                            int(len(np.unique(labels[rows]))), round(time.time() - started, 3))
