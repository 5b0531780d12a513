"""The ingest stage: input files in, docs/ and rejects/ out.

    run(corpus_url, IngestConfig(inputs=[InputSpec("raw/books.jsonl")]))   # curation.stage.run:
        begin         global: resume a staging area, or start the corpus over
        ingest_one    map over the input units (curation.ingest.units)
        finish        global: assemble docs/ and rejects/, duplicate ids rejected

A rerun with the same inputs and settings is skipped; with a staging area of the same
fingerprints it resumes. A corpus that already has documents is not replaced unless the config
says ``mode="replace"`` (`curate ingest --replace`): new documents invalidate every attrs table
and stage record built on the old ones.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from curation.corpus import Corpus, StageRecord
from curation.errors import DataRejected, UserError
from curation.ingest.assemble import assemble
from curation.ingest.unit_ingest import ingest_unit, unit_result
from curation.ingest.units import IngestUnit, InputSpec, discover_units, input_fingerprint_items
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, plan


class IngestConfig(StageConfig):
    inputs: tuple[InputSpec, ...] = Field(min_length=1, description="The files, directories or URLs to read.")
    shard_size: int = Field(20_000, ge=1, description="Documents per part.")
    max_doc_bytes: int = Field(1_000_000, ge=1, description="Longer documents are rejected (too_large).")
    max_reject_fraction: float = Field(1.0, ge=0.0, le=1.0,
                                       description="Fail (exit 1) when more than this fraction of records is rejected.")
    # How to treat a corpus that has documents already; not part of the fingerprint, as it
    # changes what a run may do, not what it makes.
    mode: Literal["new", "replace"] = Field(
        "new", exclude=True, description="new: refuse a corpus that has documents; replace: start it over.")


def units(stage_plan: StagePlan) -> list[IngestUnit]:
    return discover_units(list(stage_plan.config.inputs), text_files_per_unit=stage_plan.config.shard_size)


def input_files(config: IngestConfig) -> list:
    """What identifies the inputs without reading them (a missing input fails here)."""
    return input_fingerprint_items(discover_units(list(config.inputs), text_files_per_unit=config.shard_size))


def refuse_replacing(corpus: Corpus, config: IngestConfig) -> None:
    """Other inputs into a corpus with documents replace them only when asked to."""
    done = corpus.stage("ingest")
    if done is None or config.mode == "replace":
        return
    stage_plan = plan(corpus, STAGE, config)
    if not stage_plan.done and not corpus.fs.exists(stage_plan.staging):
        raise UserError(f"{corpus.url} already has {done.rows_out:,} documents from other inputs or settings; "
                        "give --replace (YAML: ingest.mode: replace) to start it over with these")


def begin(stage_plan: StagePlan) -> None:
    """Resume this staging area, or start the corpus over: new documents invalidate everything
    derived from the old ones."""
    corpus = stage_plan.corpus
    if corpus.fs.exists(stage_plan.staging):
        return
    refuse_replacing(corpus, stage_plan.config)
    for table in ("docs", "rejects", "attrs", ".staging"):
        corpus.remove_table(table)
    corpus.forget_stages(list(corpus.records()))
    corpus.fs.makedirs(stage_plan.staging, exist_ok=True)


def ingest_one(stage_plan: StagePlan, unit: IngestUnit) -> None:
    ingest_unit(unit, stage_plan.corpus.to_uri(stage_plan.staging), stage_plan.config.shard_size,
                stage_plan.config.max_doc_bytes)


def finish(stage_plan: StagePlan) -> StageResult:
    corpus, all_units = stage_plan.corpus, units(stage_plan)
    results = [unit_result(corpus.to_uri(stage_plan.staging), unit) for unit in all_units]
    rejects = assemble(corpus, stage_plan.staging, all_units, results)
    records = sum(r.records for r in results)
    docs = records - sum(rejects.values())
    if docs != corpus.rows("docs"):
        raise RuntimeError(f"ingest accounting is off: {docs} docs expected, {corpus.rows('docs')} written")
    return StageResult(records, docs, {"files": sum(len(u.paths) for u in all_units), "rejects": dict(sorted(rejects.items()))})


def reject_limit(stage_plan: StagePlan, record: StageRecord) -> None:
    config = stage_plan.config
    rejected = record.rows_in - record.rows_out
    fraction = rejected / record.rows_in if record.rows_in else 0.0
    if fraction > config.max_reject_fraction:
        raise DataRejected(f"ingest rejected {fraction:.1%} of {record.rows_in:,} records, above max_reject_fraction "
                           f"{config.max_reject_fraction:.1%}; see `curate report rejects {stage_plan.corpus.url}`")


STAGE = Stage(
    name="ingest",
    config=IngestConfig,
    reads=(),
    writes=("docs", "rejects"),
    outside=input_files,
    check=refuse_replacing,
    accept=reject_limit,
    steps=(Step(begin), Step(ingest_one, over=units, unit="inputs"), Step(finish)),
)
