"""The score stage: any scorer over the docs parts (`curate score DIR --scorer NAME [--as TABLE]`),
resumable per part, writing attrs/<TABLE>/ (id first, then the scorer's columns; TABLE defaults to
the scorer's name), row-aligned with docs. A scorer that needs calibration (a threshold by top-k
percent) sees a seeded uniform sample first; what it learns is recorded with the stage.

    run(corpus_url, ScoreConfig(scorer="heuristics", options={...}))   # curation.stage.run:
        prepare_scores  global: calibrate once
        score_part      map over the parts
        finish_scores   global: publish attrs/<table>
"""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curation.corpus import Corpus, parquet_writer_atomic, write_bytes_atomic
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part
from scorers.base import Scorer, get_scorer

BATCH = 1024


class ScoreConfig(StageConfig):
    scorer: str = Field(description="A scorer name (see `curate scorers`).")
    options: dict = Field(default_factory=dict, description="The scorer's options, e.g. {min_doc_words: 20}.")
    name: str | None = Field(None, description="The attrs table (and SQL view); the scorer's name when not given.")

    @model_validator(mode="after")
    def _scorer_takes_options(self) -> ScoreConfig:
        get_scorer(self.scorer, **self.options)  # a bad name or option fails here, before any work
        return self

    @property
    def table(self) -> str:
        return self.name or self.scorer


def _check_table(corpus: Corpus, config: ScoreConfig) -> None:
    """attrs tables are SQL views beside the corpus's own and the other stages'."""
    from curation.registry import check_instance_name

    check_instance_name(config.table, "a score table name", corpus, "score")


def _table(config: ScoreConfig) -> str:
    return config.table


def _calibration_path(plan: StagePlan) -> str:
    return f"{plan.staging}/calibration.json"


def _calibration(plan: StagePlan) -> dict:
    path = _calibration_path(plan)
    return orjson.loads(plan.corpus.fs.cat_file(path)) if plan.corpus.fs.exists(path) else {}


def _scorer(plan: StagePlan) -> Scorer:
    return get_scorer(plan.config.scorer, **plan.config.options, **_calibration(plan))


def prepare_scores(plan: StagePlan) -> None:
    """Calibrate once, on a seeded sample, before the parts are scored in parallel. After new
    documents were appended, the earlier calibration stands, so the parts scored before keep
    their scores."""
    scorer = _scorer(plan)
    if scorer.calibration_sample and not plan.corpus.fs.exists(_calibration_path(plan)):
        kept = plan.previous.details.get("calibration") if plan.kept_parts else None
        calibration = kept or scorer.calibrate(plan.sample_texts(scorer.calibration_sample, seed=0))
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


def finish_scores(plan: StagePlan) -> StageResult:
    """Publish the parts; rows out are the documents the scorer keeps (all, if it has no ``keep``)."""
    calibration = _calibration(plan)
    table = f"attrs/{plan.name}"
    plan.publish_staged_parts(table)
    rows = sum(plan.part_rows)
    if "keep" in _scorer(plan).schema.names:
        kept = sum(pc.sum(plan.corpus.read_part(table, part, ["keep"])["keep"]).as_py() or 0 for part in plan.parts)
    else:
        kept = rows
    return StageResult(rows, kept, {"calibration": calibration} if calibration else {})


STAGE = Stage(
    name="score",
    config=ScoreConfig,
    instance=_table,
    check=_check_table,
    steps=(Step(prepare_scores), Step(score_part, over=each_part, kept={"out": "attrs/{name}"}), Step(finish_scores)),
)
