"""The ingest stage as plain functions: plan, ingest units (in any map), finish.

    plan = plan_ingest(corpus_url, specs, options)
    results = [ingest_unit(u, plan.staging_url, ...) for u in plan.pending]   # or Dask, Prefect
    summary = finish_ingest(plan, results)

A rerun with the same inputs and options is skipped; with a staging area of the same
fingerprint it resumes; anything else starts over (documents change, so every attrs table and
stage record built on the old documents is removed).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from curation.corpus import Corpus, StageRecord
from curation.errors import DataRejected, UserError
from curation.fingerprint import fingerprint
from curation.ingest.assemble import assemble
from curation.ingest.unit_ingest import UnitResult, ingest_unit
from curation.ingest.units import IngestUnit, InputSpec, discover_units, input_fingerprint_items

STAGE = "ingest"


@dataclass(frozen=True)
class IngestOptions:
    shard_size: int = 20_000
    max_doc_bytes: int = 1_000_000
    max_reject_fraction: float = 1.0

    def __post_init__(self):
        if self.shard_size < 1:
            raise UserError("--shard-size must be at least 1")
        if self.max_doc_bytes < 1:
            raise UserError("--max-doc-bytes must be at least 1")
        if not 0.0 <= self.max_reject_fraction <= 1.0:
            raise UserError("--max-reject-fraction must be between 0 and 1")


@dataclass
class IngestSummary:
    files: int
    records: int
    docs: int
    rejects: dict[str, int] = field(default_factory=dict)
    skipped: bool = False
    wall_time_s: float = 0.0

    @property
    def rejected(self) -> int:
        return sum(self.rejects.values())

    def lines(self) -> list[str]:
        head = "ingest already done with these inputs and options (skipped)" if self.skipped else f"ingest finished in {self.wall_time_s:.1f} s"
        lines = [head, f"files {self.files:,}  records {self.records:,}  docs {self.docs:,}  rejects {self.rejected:,}"]
        lines += [f"  rejected {count:,}: {reason}" for reason, count in sorted(self.rejects.items())]
        return lines


@dataclass
class IngestPlan:
    corpus: Corpus
    units: list[IngestUnit]
    options: IngestOptions
    config: dict
    config_fingerprint: str
    input_fingerprint: str
    staging: str
    done: IngestSummary | None
    started: float = field(default_factory=time.time)

    @property
    def staging_url(self) -> str:
        return self.corpus.to_uri(self.staging)


def plan_ingest(corpus: Corpus, specs: list[InputSpec], options: IngestOptions) -> IngestPlan:
    """Decide what to do; the caller holds the corpus lock (this may clear an outdated corpus)."""
    units = discover_units(specs, text_files_per_unit=options.shard_size)
    config = {"inputs": [asdict(s) for s in specs], "options": asdict(options)}
    config_fp = fingerprint(config)
    input_fp = fingerprint(input_fingerprint_items(units))
    staging = corpus.path(".staging", f"{STAGE}-{config_fp}-{input_fp}")
    record = corpus.stage(STAGE)
    done = None
    if record is not None and record.matches(config_fp, input_fp):
        done = IngestSummary(record.details["files"], record.rows_in, record.rows_out, record.details["rejects"], skipped=True)
    elif not corpus.fs.exists(staging):
        _start_over(corpus)
        corpus.fs.makedirs(staging, exist_ok=True)
    return IngestPlan(corpus, units, options, config, config_fp, input_fp, staging, done)


def _start_over(corpus: Corpus) -> None:
    """New documents invalidate everything derived from the old ones."""
    for table in ("docs", "rejects", "attrs", ".staging"):
        corpus.remove_table(table)
    corpus.forget_stages([r["name"] for r in corpus.manifest()["stages"]])


def pending_units(plan: IngestPlan) -> list[IngestUnit]:
    return [] if plan.done else plan.units


def ingest_plan_unit(plan: IngestPlan, unit: IngestUnit) -> UnitResult:
    return ingest_unit(unit, plan.staging_url, plan.options.shard_size, plan.options.max_doc_bytes)


def finish_ingest(plan: IngestPlan, results: list[UnitResult]) -> IngestSummary:
    summary = plan.done
    if summary is None:
        results = sorted(results, key=lambda r: r.unit)
        rejects = assemble(plan.corpus, plan.staging, plan.units, results)
        records = sum(r.records for r in results)
        summary = IngestSummary(
            files=sum(len(u.paths) for u in plan.units),
            records=records,
            docs=records - sum(rejects.values()),
            rejects=dict(sorted(rejects.items())),
            wall_time_s=time.time() - plan.started,
        )
        if summary.docs != plan.corpus.rows("docs"):
            raise RuntimeError(f"ingest accounting is off: {summary.docs} docs expected, {plan.corpus.rows('docs')} written")
        plan.corpus.record_stage(
            StageRecord(
                name=STAGE,
                config=plan.config,
                config_fingerprint=plan.config_fingerprint,
                input_fingerprint=plan.input_fingerprint,
                rows_in=summary.records,
                rows_out=summary.docs,
                wall_time_s=round(summary.wall_time_s, 3),
                parts=len(plan.corpus.parts("docs")),
                details={"files": summary.files, "rejects": summary.rejects},
            )
        )
        plan.corpus.remove_table(".staging")
    fraction = summary.rejected / summary.records if summary.records else 0.0
    if fraction > plan.options.max_reject_fraction:
        raise DataRejected(
            f"ingest rejected {fraction:.1%} of {summary.records:,} records, above --max-reject-fraction "
            f"{plan.options.max_reject_fraction:.1%}; see `curate report rejects {plan.corpus.url}`"
        )
    return summary


def corpus_for_ingest(corpus_url: str, specs: list[InputSpec]) -> Corpus:
    """The corpus to ingest into, created only once the inputs are known to exist."""
    discover_units(specs)
    return Corpus.create(corpus_url)


def ingest(corpus_url: str, specs: list[InputSpec], options: IngestOptions | None = None) -> IngestSummary:
    """Ingest in this process, without Prefect or Dask (notebooks, tests of the logic)."""
    corpus = corpus_for_ingest(corpus_url, specs)
    with corpus.writer_lock("ingest"):
        plan = plan_ingest(corpus, specs, options or IngestOptions())
        results = [ingest_plan_unit(plan, unit) for unit in pending_units(plan)]
        return finish_ingest(plan, results)

