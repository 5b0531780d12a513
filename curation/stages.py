"""What every stage after ingest shares: deciding whether to run, a staging area, recording.

A stage is identified by its config fingerprint and its input fingerprint (the documents). If
corpus.json holds a record with both, the stage is done. Otherwise its map work goes to a
staging area named after both fingerprints, so a killed run resumes the parts it finished and a
changed config starts clean.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa

from curation.corpus import Corpus, StageRecord
from curation.fingerprint import fingerprint


@dataclass
class StagePlan:
    corpus: Corpus
    name: str
    config: dict
    config_fingerprint: str
    input_fingerprint: str
    parts: list[str]
    part_rows: list[int]
    record: StageRecord | None
    started: float = field(default_factory=time.time)

    def part_offsets(self) -> dict[str, int]:
        """Global document numbers: a part's first document is the count of documents before it."""
        starts = [0]
        for rows in self.part_rows[:-1]:
            starts.append(starts[-1] + rows)
        return dict(zip(self.parts, starts, strict=True))

    @property
    def done(self) -> bool:
        return self.record is not None

    @property
    def staging(self) -> str:
        return self.corpus.path(".staging", f"{self.name}-{self.config_fingerprint}-{self.input_fingerprint}")

    def staged_part(self, part: str) -> str:
        return f"{self.staging}/{part}.parquet"

    def sample_rows(self, size: int, seed: int) -> Iterator[tuple[str, np.ndarray]]:
        return sample_rows(self.parts, self.part_rows, size, seed)

    def sample_texts(self, size: int, seed: int, max_chars: int | None = None) -> list[str]:
        """The texts of ``sample_rows(size, seed)`` (cut to ``max_chars``), read part by part."""
        texts = sample_documents(self.corpus, size, seed, ["text"], self.parts, self.part_rows)["text"]
        return [text[:max_chars] for text in texts.to_pylist()]

    def check_staged_parts(self, what: str) -> None:
        """Before a global step: every part's map output is there (a bug otherwise)."""
        missing = [p for p in self.parts if not self.corpus.fs.exists(self.staged_part(p))]
        if missing:
            raise RuntimeError(f"{self.name}: {what} missing for parts {', '.join(missing)}")

    def publish_staged_parts(self, table: str) -> None:
        """Replace ``table`` with the staged parts, renamed into place."""
        self.corpus.remove_table(table)
        for part in self.parts:
            self.corpus.move_part(self.staged_part(part), table, part)


def sample_rows(parts: list[str], part_rows: list[int], size: int, seed: int) -> Iterator[tuple[str, np.ndarray]]:
    """A seeded uniform sample of ``size`` documents (all, if fewer), as (part, row numbers inside
    it) for each part holding any, so that callers read only those parts' rows."""
    total = sum(part_rows)
    chosen = np.sort(np.random.default_rng(seed).choice(total, min(total, size), replace=False))
    start = 0
    for part, rows in zip(parts, part_rows, strict=True):
        local = chosen[(chosen >= start) & (chosen < start + rows)] - start
        if len(local):
            yield part, local
        start += rows


def sample_documents(corpus: Corpus, size: int, seed: int, columns: list[str],
                     parts: list[str] | None = None, part_rows: list[int] | None = None) -> pa.Table:
    """``columns`` of a seeded uniform sample of the corpus's documents, one part in memory at a time."""
    parts = parts if parts is not None else corpus.parts("docs")
    part_rows = part_rows if part_rows is not None else [corpus.part_rows("docs", part) for part in parts]
    tables = [corpus.read_part("docs", part, columns).take(pa.array(local))
              for part, local in sample_rows(parts, part_rows, size, seed)]
    return pa.concat_tables(tables)


def plan_stage(corpus: Corpus, name: str, config) -> StagePlan:
    """A stage may read more than the corpus's documents (embeddings, another stage's output, an
    older corpus to dedup against); its config's ``extra_inputs(corpus)`` fingerprints those, so
    the stage reruns when they change."""
    outside = config.extra_inputs(corpus) if hasattr(config, "extra_inputs") else []
    config = asdict(config) if hasattr(config, "__dataclass_fields__") else dict(config)
    config_fp = fingerprint(config)
    input_fp = fingerprint([corpus.docs_fingerprint(), *outside]) if outside else corpus.docs_fingerprint()
    record = corpus.stage(name)
    if record is not None and not record.matches(config_fp, input_fp):
        record = None
    parts = corpus.parts("docs")
    part_rows = [corpus.part_rows("docs", part) for part in parts]
    return StagePlan(corpus, name, config, config_fp, input_fp, parts, part_rows, record)


def finish_stage(plan: StagePlan, rows_in: int, rows_out: int, details: dict | None = None) -> StageRecord:
    """Record the stage once all its parts exist, and drop its staging area."""
    record = StageRecord(
        name=plan.name,
        config=plan.config,
        config_fingerprint=plan.config_fingerprint,
        input_fingerprint=plan.input_fingerprint,
        rows_in=rows_in,
        rows_out=rows_out,
        wall_time_s=round(time.time() - plan.started, 3),
        parts=len(plan.parts),
        details=details or {},
    )
    plan.corpus.record_stage(record)
    if plan.corpus.fs.exists(plan.staging):
        plan.corpus.fs.rm(plan.staging, recursive=True)
    return record


def run_in_process(corpus_url: str, name: str, config, map_part: Callable[[StagePlan, str], object] | None,
                   finish: Callable[[StagePlan], object], prepare: Callable[[StagePlan], object] | None = None) -> StageRecord:
    """A per-part stage in this process, without Prefect or Dask (notebooks, tests of the logic):
    ``prepare`` once, ``map_part`` over the parts (if the stage has a map step), ``finish`` once."""
    corpus = Corpus.open(corpus_url)
    with corpus.writer_lock(name):
        plan = plan_stage(corpus, name, config)
        if plan.done:
            return plan.record
        if prepare is not None:
            prepare(plan)
        for part in plan.parts if map_part else []:
            map_part(plan, part)
        finish(plan)
        return corpus.stage(name)
