"""The ingest stage: input files in, docs/ and rejects/ out.

    run(corpus_url, IngestConfig(inputs=[InputSpec("raw/books.jsonl")]))   # curation.stage.run:
        begin         global: resume a staging area, or start the corpus over
        ingest_one    map over the input units (curation.ingest.units)
        finish        global: assemble docs/ and rejects/, duplicate ids rejected

A rerun with the same inputs and settings is skipped; with a staging area of the same
fingerprints it resumes. Into a corpus that already has documents, other inputs go only as the
config says: ``mode="append"`` (`curate ingest --append`) adds them as new parts after the
others (an id the corpus has already is rejected as a duplicate), and the later stages then redo
only what the new parts change; ``mode="replace"`` (`--replace`) starts the corpus over.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import orjson
from pydantic import Field

from curation.corpus import Corpus, StageRecord, write_bytes_atomic
from curation.errors import DataRejected, UserError
from curation.fingerprint import fingerprint
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
    mode: Literal["new", "append", "replace"] = Field(
        "new", exclude=True, description="new: refuse a corpus that has documents; append: add these "
                                         "inputs as new parts; replace: start it over.")


def units(stage_plan: StagePlan) -> list[IngestUnit]:
    return discover_units(list(stage_plan.config.inputs), text_files_per_unit=stage_plan.config.shard_size)


def input_files(config: IngestConfig) -> list:
    """What identifies the inputs without reading them (a missing input fails here)."""
    return input_fingerprint_items(discover_units(list(config.inputs), text_files_per_unit=config.shard_size))


def batches(record: StageRecord) -> list[dict]:
    """What each ingest into the corpus added (the first, then each append)."""
    return record.details.get("batches") or [{"fingerprint": _batch(record.config_fingerprint, record.inputs)}]


def _batch(config_fingerprint: str, inputs: dict) -> str:
    """One ingest's identity: its settings and its inputs (the corpus's output chains them)."""
    return fingerprint({"config": config_fingerprint, "inputs": inputs})


def appending(stage_plan: StagePlan) -> StagePlan:
    """Inputs ingested into this corpus before are done, whatever the mode (but replace). An
    append's output chains the corpus's previous output with its inputs, so every later stage
    sees new documents."""
    config, previous = stage_plan.config, stage_plan.previous
    if stage_plan.done or previous is None or config.mode == "replace":
        return stage_plan
    if _batch(stage_plan.config_fingerprint, stage_plan.inputs) in [batch["fingerprint"] for batch in batches(previous)]:
        return replace(stage_plan, record=previous)
    if config.mode != "append":
        return stage_plan
    return replace(stage_plan, input_fingerprint=fingerprint([previous.output_fingerprint, stage_plan.input_fingerprint]))


def refuse_replacing(corpus: Corpus, config: IngestConfig) -> None:
    """Other inputs into a corpus with documents are added or replace them only when asked to."""
    done = corpus.stage("ingest")
    if done is None or config.mode != "new":
        return
    stage_plan = plan(corpus, STAGE, config)
    if not stage_plan.done and not corpus.fs.exists(stage_plan.staging):
        raise UserError(f"{corpus.url} already has {done.rows_out:,} documents from other inputs or settings; "
                        "give --append to add these (YAML: ingest.mode: append) or --replace to start it over")


def begin(stage_plan: StagePlan) -> None:
    """Resume this staging area; else note where an append's parts start, or start the corpus
    over: new documents invalidate everything derived from the old ones."""
    corpus = stage_plan.corpus
    if corpus.fs.exists(_first_parts_path(stage_plan)):
        return
    refuse_replacing(corpus, stage_plan.config)
    if not _adds(stage_plan):
        for table in ("docs", "rejects", "attrs", ".staging"):
            corpus.remove_table(table)
        corpus.forget_stages(list(corpus.records()))
    first = {table: len(corpus.parts(table)) for table in ("docs", "rejects")}
    write_bytes_atomic(corpus.fs, _first_parts_path(stage_plan), orjson.dumps(first))


def _adds(stage_plan: StagePlan) -> bool:
    return stage_plan.config.mode == "append" and stage_plan.previous is not None


def _first_parts_path(stage_plan: StagePlan) -> str:
    return f"{stage_plan.staging}/first_parts.json"


def ingest_one(stage_plan: StagePlan, unit: IngestUnit) -> None:
    ingest_unit(unit, stage_plan.corpus.to_uri(stage_plan.staging), stage_plan.config.shard_size,
                stage_plan.config.max_doc_bytes)


def finish(stage_plan: StagePlan) -> StageResult:
    corpus, all_units = stage_plan.corpus, units(stage_plan)
    first = orjson.loads(corpus.fs.cat_file(_first_parts_path(stage_plan)))
    earlier = corpus.parts("docs")[: first["docs"]]
    results = [unit_result(corpus.to_uri(stage_plan.staging), unit) for unit in all_units]
    rejects = assemble(corpus, stage_plan.staging, all_units, results, first, earlier)
    records = sum(r.records for r in results)
    docs = records - sum(rejects.values())
    batch = {"fingerprint": _batch(stage_plan.config_fingerprint, stage_plan.inputs), "inputs": [spec.path for spec in stage_plan.config.inputs],
             "records": records, "docs": docs, "rejects": dict(sorted(rejects.items()))}
    result = StageResult(records, docs, {"files": sum(len(u.paths) for u in all_units), "rejects": batch["rejects"],
                                         "batches": [batch]})
    if _adds(stage_plan):
        stage_plan.unchanged.update(f"{table}/{part}.parquet" for table in ("docs", "rejects")
                                    for part in corpus.parts(table)[: first[table]])
        result = _added(stage_plan.previous, result)
    if result.rows_out != corpus.rows("docs"):
        raise RuntimeError(f"ingest accounting is off: {result.rows_out} docs expected, {corpus.rows('docs')} written")
    return result


def _added(previous: StageRecord, result: StageResult) -> StageResult:
    """The corpus's totals after an append: the previous record's and this batch's."""
    rejects = dict(previous.details.get("rejects", {}))
    for reason, count in result.details["rejects"].items():
        rejects[reason] = rejects.get(reason, 0) + count
    return StageResult(previous.rows_in + result.rows_in, previous.rows_out + result.rows_out, {
        "files": previous.details.get("files", 0) + result.details["files"],
        "rejects": dict(sorted(rejects.items())),
        "batches": batches(previous) + result.details["batches"],
    })


def reject_limit(stage_plan: StagePlan, record: StageRecord) -> None:
    """Each ingest (an append too) is judged by its own records."""
    config = stage_plan.config
    this = _batch(stage_plan.config_fingerprint, stage_plan.inputs)
    batch = next((b for b in batches(record) if b["fingerprint"] == this), None)
    records, docs = (batch["records"], batch["docs"]) if batch and "records" in batch else (record.rows_in, record.rows_out)
    fraction = (records - docs) / records if records else 0.0
    if fraction > config.max_reject_fraction:
        raise DataRejected(f"ingest rejected {fraction:.1%} of {records:,} records, above max_reject_fraction "
                           f"{config.max_reject_fraction:.1%}; see `curate report rejects {stage_plan.corpus.url}`")


STAGE = Stage(
    name="ingest",
    config=IngestConfig,
    reads=(),
    writes=("docs", "rejects"),
    outside=input_files,
    check=refuse_replacing,
    accept=reject_limit,
    extend=appending,
    steps=(Step(begin), Step(ingest_one, over=units, unit="inputs"), Step(finish)),
)
