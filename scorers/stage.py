"""`curate score DIR --scorer NAME [--as TABLE]`: any scorer as a map stage over the docs parts,
resumable per part, writing attrs/<TABLE>/ (id first, then the scorer's columns; TABLE defaults to
the scorer's name), row-aligned with docs. A scorer that needs calibration (a threshold by top-k
percent) sees a seeded uniform sample first; what it learns is recorded with the stage.

    plan = plan_stage(corpus, config.table, ScoreConfig("heuristics", {...}))
    prepare_scores(plan)
    for part in plan.parts: score_part(plan, part)       # map, in parallel
    finish_scores(plan)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from curation.corpus import StageRecord, parquet_writer_atomic, write_bytes_atomic
from curation.errors import UserError
from curation.select.store import check_name
from curation.stages import StagePlan, finish_stage, run_in_process
from scorers.base import Scorer, get_scorer

BATCH = 1024
# attrs tables are SQL views beside these; a scorer's table may not take their names.
RESERVED = {"docs", "corpus", "rejects", "stages", "exact_dedup", "minhash", "embed", "clusters", "semdedup"}


@dataclass(frozen=True)
class ScoreConfig:
    scorer: str
    options: dict = field(default_factory=dict)
    name: str | None = None  # the attrs table; the scorer's name when not given

    def __post_init__(self):
        get_scorer(self.scorer, **self.options)  # a bad name or option fails here, before any work
        if self.name is not None:
            check_table_name(self.name)

    @property
    def table(self) -> str:
        return self.name or self.scorer


def check_table_name(name: str) -> str:
    if check_name(name, "a score table name") in RESERVED:
        raise UserError(f"{name!r} is taken by the corpus's own views; name the scores otherwise")
    return name


def _calibration_path(plan: StagePlan) -> str:
    return f"{plan.staging}/calibration.json"


def _calibration(plan: StagePlan) -> dict:
    path = _calibration_path(plan)
    return orjson.loads(plan.corpus.fs.cat_file(path)) if plan.corpus.fs.exists(path) else {}


def _scorer(plan: StagePlan) -> Scorer:
    config = ScoreConfig(**plan.config)
    return get_scorer(config.scorer, **config.options, **_calibration(plan))


def prepare_scores(plan: StagePlan) -> None:
    """Calibrate once, on a seeded sample, before the parts are scored in parallel."""
    scorer = _scorer(plan)
    if scorer.calibration_sample and not plan.corpus.fs.exists(_calibration_path(plan)):
        calibration = scorer.calibrate(plan.sample_texts(scorer.calibration_sample, seed=0))
        write_bytes_atomic(plan.corpus.fs, _calibration_path(plan), orjson.dumps(calibration))


def score_part(plan: StagePlan, part: str) -> None:
    corpus = plan.corpus
    target = plan.staged_part(part)
    if corpus.fs.exists(target):
        return
    scorer = _scorer(plan)
    schema = pa.schema([pa.field("id", pa.string()), *scorer.schema])
    with parquet_writer_atomic(corpus.fs, target, schema) as writer:
        for batch in corpus.iter_batches("docs", part, batch_size=BATCH):
            scores = scorer.score(batch)
            writer.write_table(pa.Table.from_arrays([batch.column("id"), *scores.columns], schema=schema))


def finish_scores(plan: StagePlan) -> StageRecord:
    """Publish the parts; rows out are the documents the scorer keeps (all, if it has no ``keep``)."""
    plan.check_staged_parts("scores")
    calibration = _calibration(plan)
    table = f"attrs/{plan.name}"
    plan.publish_staged_parts(table)
    rows = sum(plan.part_rows)
    if "keep" in _scorer(plan).schema.names:
        kept = sum(pc.sum(plan.corpus.read_part(table, part, ["keep"])["keep"]).as_py() or 0 for part in plan.parts)
    else:
        kept = rows
    return finish_stage(plan, rows, kept, {"calibration": calibration} if calibration else None)


def score(corpus_url: str, config: ScoreConfig) -> StageRecord:
    """The whole stage in this process (no Prefect, no Dask)."""
    return run_in_process(corpus_url, config.table, config, score_part, finish_scores, prepare_scores)
