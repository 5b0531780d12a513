"""`curate score DIR --scorer NAME`: any scorer as a map stage over the docs parts, resumable per
part, writing attrs/<scorer name>/ (id first, then the scorer's columns), row-aligned with docs.

    plan = plan_stage(corpus, scorer_name, ScoreConfig("heuristics", {...}))
    for part in plan.parts: score_part(plan, part)       # map, in parallel
    finish_scores(plan)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from curation.corpus import StageRecord, parquet_writer_atomic
from curation.stages import StagePlan, finish_stage, run_in_process
from scorers.base import get_scorer

BATCH = 1024


@dataclass(frozen=True)
class ScoreConfig:
    scorer: str
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        get_scorer(self.scorer, **self.options)  # a bad name or option fails here, before any work


def score_part(plan: StagePlan, part: str) -> None:
    corpus, config = plan.corpus, ScoreConfig(**plan.config)
    target = plan.staged_part(part)
    if corpus.fs.exists(target):
        return
    scorer = get_scorer(config.scorer, **config.options)
    schema = pa.schema([pa.field("id", pa.string()), *scorer.schema])
    with parquet_writer_atomic(corpus.fs, target, schema) as writer:
        for batch in corpus.iter_batches("docs", part, batch_size=BATCH):
            scores = scorer.score(batch)
            writer.write_table(pa.Table.from_arrays([batch.column("id"), *scores.columns], schema=schema))


def finish_scores(plan: StagePlan) -> StageRecord:
    """Publish the parts; rows out are the documents the scorer keeps (all, if it has no ``keep``)."""
    plan.check_staged_parts("scores")
    table = f"attrs/{plan.name}"
    plan.publish_staged_parts(table)
    rows = sum(plan.part_rows)
    if "keep" in get_scorer(plan.config["scorer"], **plan.config["options"]).schema.names:
        kept = sum(pc.sum(plan.corpus.read_part(table, part, ["keep"])["keep"]).as_py() or 0 for part in plan.parts)
    else:
        kept = rows
    return finish_stage(plan, rows, kept)


def score(corpus_url: str, config: ScoreConfig) -> StageRecord:
    """The whole stage in this process (no Prefect, no Dask)."""
    return run_in_process(corpus_url, config.scorer, config, score_part, finish_scores)
