"""The stage model: a stage is declared once, as a ``Stage``, and run by any executor.

A declaration names the stage (one name for its record in corpus.json, its attrs table, SQL view,
YAML key and command), its config model, the tables it writes, the stages it reads (which orders
the pipeline and decides when its output is stale) and its steps. A step runs once in the
driver, or as one task per item of ``over(plan)`` (the docs parts, or any partitions a stage
makes). The last step returns a ``StageResult``; the executor records it.

    STAGE = Stage(name="exact_dedup", config=ExactDedupConfig, reasons=("duplicate",),
                  steps=(Step(hash_part, over=each_part), Step(shuffle_part, over=each_part),
                         Step(find_repeats, over=partitions), Step(mark_part, over=each_part),
                         Step(publish_marks)))

    run(corpus_url, ExactDedupConfig(scope="source"))     # in this process (notebooks, tests)
    run(corpus_url, config, flows.runtime.on_cluster(client))   # its tasks on a Dask cluster
    flows.stage.run_flow(corpus_url, config, address)     # a Prefect flow on Dask

Executors share ``execute``: plan, skip when done, the steps in order, record. See
docs/ARCHITECTURE.md for how to add a stage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from curation.corpus import Corpus, StageRecord, write_bytes_atomic
from curation.errors import UserError
from curation.fingerprint import fingerprint
from curation.progress import progress, work


class StageConfig(BaseModel):
    """A stage's settings: frozen, unknown keys refused, one description per field. Field names
    are the YAML keys and, with ``-`` for ``_``, the command's flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class StageResult:
    """What a stage's last step returns: documents read, documents kept, what else it measured."""

    rows_in: int
    rows_out: int
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """``run(plan)`` once in the driver, or ``run(plan, item)`` for each item of ``over(plan)``
    as separate tasks (in any order, in parallel; each must be safe to rerun)."""

    run: Callable
    over: Callable[[StagePlan], list] | None = None
    unit: str = "tasks"  # what progress counts for a mapped step (documents, for each_part)
    # What the step leaves in the staging area (kind) that the stage keeps once finished, and
    # where (a table of parts for a step over each_part, a folder otherwise). A rerun after new
    # documents were appended links them back instead of redoing them (see ``restore``).
    kept: dict[str, str] = field(default_factory=dict)
    # A mapped step that repeats (rounds of an iterative algorithm): after each pass, ``over``
    # is asked again until ``until(plan)`` is true; ``over`` gives the next round's items.
    until: Callable[[StagePlan], bool] | None = None

    @property
    def name(self) -> str:
        return self.run.__name__.strip("_").replace("_", "-")

    def run_item(self, plan: StagePlan, item) -> Finished | UserError:
        """A mapped step's task, in any executor: the step on ``item``, then its mark, so that a
        rerun after a crash skips what finished (``StagePlan.unfinished``). A user's mistake
        found by a task (a tokenizer that fails on a document) is returned, not raised: no
        executor retries it or logs a worker's traceback, and the driver raises it (``_mapped``)."""
        started = time.perf_counter()
        try:
            self.run(plan, item)
        except UserError as error:
            return error
        seconds = time.perf_counter() - started
        write_bytes_atomic(plan.corpus.fs, plan.finished_mark(self, item), b"")
        release_memory()
        return Finished(item, seconds)


@dataclass(frozen=True)
class Finished:
    """A mapped step's task that finished: its item and how long the step took on it (one task
    runs on one core, so documents over these seconds are documents per second per core)."""

    item: object
    seconds: float


def release_memory() -> None:
    """Hand what a task freed back to the system. Arrow's pool and glibc keep freed memory for
    reuse, so a worker's size grew with the tasks it had run rather than with the largest
    (fuzzy dedup of 1M documents in one process: 119 MB before the first task, 587 MB after the
    last, no task over 330 MB above where it started)."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if ctypes.util.find_library("c") else None


def one_thread_per_task() -> None:
    """For a mapped step's task that tokenizes: the parts are the parallelism, one worker a core,
    and the tokenizers library's own threads on top oversubscribe the cores (the tokens stage,
    1 GB on 2 cores: 300 s with them, 253 s without). The library reads the setting at every
    call; a value the user set is kept."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def each_part(plan: StagePlan) -> list[str]:
    return plan.parts


def one_task(plan: StagePlan) -> list[str]:
    """The ``over`` of work too large for the driver that does not split (a model fit): one
    task, on a worker like any other."""
    return ["all"]


@dataclass(frozen=True)
class Stage:
    name: str
    config: type[StageConfig]
    steps: tuple[Step, ...]
    writes: tuple[str, ...] = ("attrs/{name}",)  # tables and folders, relative to the corpus
    reads: tuple[str, ...] = ("ingest",)  # stages it needs (their outputs decide its inputs)
    reads_if_present: tuple[str, ...] = ()  # stages whose output it uses when they ran
    reasons: tuple[str, ...] = ()  # the rules it drops documents by (attrs ``reason`` values)
    # Fingerprints of what it reads outside its corpus (an older corpus, input files).
    outside: Callable[[StageConfig], list] | None = None
    # Checks that need the corpus, run before any runtime starts (a missing input, a bad name).
    check: Callable[[Corpus, StageConfig], None] | None = None
    # The score stage runs once per scorer table: its instance's name comes from its config.
    instance: Callable[[StageConfig], str] | None = None
    # Judges a finished run, a skipped rerun's too (ingest: too many rejects fail the command).
    accept: Callable[[StagePlan, StageRecord], None] | None = None
    # A stage whose run may add to its output instead of replacing it (ingest --append) adjusts
    # its plan: what its output becomes, or that it is done.
    extend: Callable[[StagePlan], StagePlan] | None = None

    def instance_name(self, config: StageConfig) -> str:
        return self.instance(config) if self.instance else self.name

    def tables(self, instance: str) -> tuple[str, ...]:
        return tuple(table.format(name=instance) for table in self.writes)


@dataclass
class StagePlan:
    corpus: Corpus
    stage: Stage
    name: str
    config: StageConfig
    config_fingerprint: str
    input_fingerprint: str
    inputs: dict[str, str]
    parts: list[str]
    part_rows: list[int]
    record: StageRecord | None
    previous: StageRecord | None = None  # the stage's last record, current or not
    part_inputs: dict[str, str] = field(default_factory=dict)  # docs part -> its fingerprint
    # Parts whose outputs a previous run with this config made from the same documents.
    kept_parts: list[str] = field(default_factory=list)
    # Files the stage writes unchanged (linked back, or ingest's earlier parts): their recorded
    # checksums stand, instead of reading them again.
    unchanged: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.time)
    # Each step over the docs parts: (documents, seconds) of its tasks, in the order they finished.
    part_tasks: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)  # each step's wall time

    @property
    def done(self) -> bool:
        return self.record is not None

    @property
    def staging(self) -> str:
        """The run's own staging area. Settings left out of the config's fingerprint (partition
        sizes) still shape what is staged, so a rerun with other ones starts afresh."""
        unrecorded = {name: getattr(self.config, name) for name, spec in type(self.config).model_fields.items()
                      if spec.exclude}
        layout = f"-{fingerprint(unrecorded)}" if unrecorded else ""
        return self.corpus.path(".staging", f"{self.name}-{self.config_fingerprint}-{self.input_fingerprint}{layout}")

    def finished_mark(self, step: Step, item) -> str:
        return f"{self.staging}/finished/{step.name}/{fingerprint(item)}"

    def unfinished(self, step: Step, items: list) -> list:
        """The items of a mapped step that no task finished in this staging area."""
        folder, fs = f"{self.staging}/finished/{step.name}", self.corpus.fs
        finished = {path.rsplit("/", 1)[-1] for path in fs.ls(folder, detail=False)} if fs.isdir(folder) else set()
        return [item for item in items if fingerprint(item) not in finished]

    def staged_part(self, part: str, kind: str = "out") -> str:
        """Where a step writes ``part`` of an intermediate table ``kind``; "out" is the table
        the stage publishes."""
        return f"{self.staging}/{kind}/{part}.parquet"

    def part_offsets(self) -> dict[str, int]:
        """Global document numbers: a part's first document is the count of documents before it."""
        starts = np.concatenate([[0], np.cumsum(self.part_rows[:-1], dtype=np.int64)]) if self.parts else []
        return {part: int(start) for part, start in zip(self.parts, starts, strict=True)}

    def sample_rows(self, size: int, seed: int) -> Iterator[tuple[str, np.ndarray]]:
        return sample_rows(self.parts, self.part_rows, size, seed)

    def sample_texts(self, size: int, seed: int, max_chars: int | None = None) -> list[str]:
        """The texts of ``sample_rows(size, seed)`` (cut to ``max_chars``), read part by part."""
        texts = sample_documents(self.corpus, size, seed, ["text"], self.parts, self.part_rows)["text"]
        return [text[:max_chars] for text in texts.to_pylist()]

    def check_staged_parts(self, what: str, kind: str = "out") -> None:
        """Before a global step: every part's map output is there (a bug otherwise)."""
        missing = [p for p in self.parts if not self.corpus.fs.exists(self.staged_part(p, kind))]
        if missing:
            raise RuntimeError(f"{self.name}: {what} missing for parts {', '.join(missing)}")

    def publish_staged_parts(self, table: str) -> None:
        """Replace ``table`` with the staged "out" parts, whole (``Corpus.publish``)."""
        self.check_staged_parts(table)
        self.corpus.publish(f"{self.staging}/out", table)


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


def plan(corpus: Corpus, stage: Stage, config: StageConfig) -> StagePlan:
    """What the stage would read now, whether a finished run already made its output from it,
    and which docs parts a previous run with this config already did (new documents appended)."""
    name = stage.instance_name(config)
    manifest = corpus.manifest()
    records = corpus.records(manifest)
    inputs = {dependency: corpus.output_fingerprint(dependency, records) for dependency in stage.reads}
    inputs |= {dependency: records[dependency].output_fingerprint
               for dependency in stage.reads_if_present if dependency in records}
    if stage.outside is not None:
        inputs["outside"] = fingerprint(stage.outside(config))
    config_fp = fingerprint(config.model_dump(mode="json"))
    input_fp = fingerprint(inputs)
    previous = records.get(name)
    record = previous if previous is not None and previous.matches(config_fp, input_fp) else None
    parts = corpus.parts("docs")
    part_rows = [corpus.part_rows("docs", part) for part in parts]
    stage_plan = StagePlan(corpus, stage, name, config, config_fp, input_fp, inputs, parts, part_rows, record, previous)
    if stage.reads:
        stage_plan.part_inputs = _part_inputs(manifest.get("checksums", {}), stage_plan.part_offsets())
        stage_plan.kept_parts = _kept_parts(stage_plan)
    return stage.extend(stage_plan) if stage.extend is not None else stage_plan


def _part_inputs(checksums: dict, offsets: dict[str, int]) -> dict[str, str]:
    """A docs part's fingerprint: its content and where its documents are numbered from."""
    return {part: f"{checksums[f'docs/{part}.parquet']['xxh64']}@{start}" for part, start in offsets.items()
            if f"docs/{part}.parquet" in checksums}


def _kept_parts(stage_plan: StagePlan) -> list[str]:
    """The parts a previous run did with this config and these other inputs, when only the
    documents changed (new parts were appended): their kept outputs can be linked back."""
    previous = stage_plan.previous
    if stage_plan.done or previous is None or previous.config_fingerprint != stage_plan.config_fingerprint:
        return []
    others = {dependency: fp for dependency, fp in stage_plan.inputs.items() if dependency != "ingest"}
    if others != {dependency: fp for dependency, fp in previous.inputs.items() if dependency != "ingest"}:
        return []
    return [part for part, fp in stage_plan.part_inputs.items() if previous.part_inputs.get(part) == fp]


# An executor's map: run ``step`` for every item, in any order, yielding each item once done.
MapStep = Callable[[Step, StagePlan, list], Iterator]


def execute(stage_plan: StagePlan, map_step: MapStep) -> StageRecord:
    """The one driver of every executor: nothing when done; else each step in order (a mapped
    step through ``map_step``, with progress), then the last step's result recorded."""
    if stage_plan.done:
        return _accepted(stage_plan, replace(stage_plan.record, skipped=True))
    result = None
    for step in stage_plan.stage.steps:
        work().start(stage_plan.name, step.name)
        started = time.perf_counter()
        restored = restore(step, stage_plan)
        if step.over is None:
            result = step.run(stage_plan)
        else:
            _mapped(step, stage_plan, [item for item in step.over(stage_plan) if item not in restored], map_step,
                    len(restored))
            while step.until is not None and not step.until(stage_plan):
                _mapped(step, stage_plan, step.over(stage_plan), map_step, 0)
        stage_plan.step_seconds[step.name] = round(time.perf_counter() - started, 3)
    work().start()
    if not isinstance(result, StageResult):
        raise TypeError(f"stage {stage_plan.name}: its last step must return a StageResult, not {type(result).__name__}")
    return _accepted(stage_plan, record(stage_plan, result))


def restore(step: Step, stage_plan: StagePlan) -> set[str]:
    """Link what a previous run kept of ``step`` back into the staging area, for the parts it
    did from the same documents (``StagePlan.kept_parts``); returns the parts that need no run.
    Links, not copies, where the filesystem has them: kept files are never written in place."""
    if not stage_plan.kept_parts or not step.kept:
        return set()
    corpus = stage_plan.corpus
    kept = {kind: table.format(name=stage_plan.name) for kind, table in step.kept.items()}
    if step.over is None:
        for kind, folder in kept.items():
            if corpus.fs.isdir(corpus.path(folder)) and not corpus.fs.exists(f"{stage_plan.staging}/{kind}"):
                corpus.link_folder(corpus.path(folder), f"{stage_plan.staging}/{kind}")
        return set()
    restored = set()
    for part in stage_plan.kept_parts:
        links = {stage_plan.staged_part(part, kind): corpus.part_path(table, part) for kind, table in kept.items()}
        if all(corpus.fs.exists(staged) or corpus.fs.exists(source) for staged, source in links.items()):
            for staged, source in links.items():
                if not corpus.fs.exists(staged):
                    corpus.link_file(source, staged)
            stage_plan.unchanged.update(f"{table}/{part}.parquet" for table in kept.values())
            restored.add(part)
    return restored


def _mapped(step: Step, stage_plan: StagePlan, items: list, map_step: MapStep, restored: int) -> None:
    """The items no task finished yet, through ``map_step``. Over the docs parts, progress
    counts documents (the rate is documents per second)."""
    todo = stage_plan.unfinished(step, items)
    done = restored + len(items) - len(todo)
    work().update(done=done, total=done + len(todo), unit="parts" if step.over is each_part else step.unit)
    if step.over is each_part:
        weights = dict(zip(stage_plan.parts, stage_plan.part_rows, strict=True))
        bar = progress(stage_plan.name, sum(weights[item] for item in todo), "docs", parts=len(todo))
    else:
        weights = {}
        bar = progress(stage_plan.name, len(todo), step.unit)
    with bar as advance:
        for finished in map_step(step, stage_plan, todo):
            if isinstance(finished, UserError):
                raise finished
            if weights:
                stage_plan.part_tasks.setdefault(step.name, []).append((weights[finished.item], finished.seconds))
            advance(weights.get(finished.item, 1) if weights else 1)
            work().advance()


def _accepted(stage_plan: StagePlan, entry: StageRecord) -> StageRecord:
    if stage_plan.stage.accept is not None:
        stage_plan.stage.accept(stage_plan, entry)
    return entry


def record(stage_plan: StagePlan, result: StageResult) -> StageRecord:
    """Record the stage once all its outputs exist, and drop its staging area."""
    corpus = stage_plan.corpus
    entry = StageRecord(
        name=stage_plan.name,
        stage=stage_plan.stage.name,
        config=stage_plan.config.model_dump(mode="json"),
        config_fingerprint=stage_plan.config_fingerprint,
        input_fingerprint=stage_plan.input_fingerprint,
        inputs=stage_plan.inputs,
        rows_in=result.rows_in,
        rows_out=result.rows_out,
        wall_time_s=round(time.time() - stage_plan.started, 3),
        parts=len(corpus.parts("docs")),
        details=result.details,
        part_inputs=stage_plan.part_inputs,
        step_seconds=stage_plan.step_seconds,
        **throughput(stage_plan.part_tasks),
    )
    corpus.record_stage(entry, stage_plan.stage.tables(stage_plan.name), stage_plan.unchanged)
    if corpus.fs.exists(stage_plan.staging):
        corpus.fs.rm(stage_plan.staging, recursive=True)
    if not corpus.fs.ls(corpus.path(".staging"), detail=False):
        corpus.remove_table(".staging")
    return entry


def throughput(part_tasks: dict[str, list[tuple[int, float]]]) -> dict:
    """The record's rates: documents per second per core over all its steps over the docs parts
    (a document's cost in the stage), and each step's, whole and over the first and the last
    half of its tasks by finish order, so that a rate falling as the run goes on shows. Parts a
    rerun linked back, and stages without such steps, have none."""
    def rate(tasks: list[tuple[int, float]]) -> float | None:
        seconds = sum(s for _, s in tasks)
        return round(sum(d for d, _ in tasks) / seconds, 1) if tasks and seconds > 0 else None

    steps = [{"step": name, "tasks": len(tasks), "docs": sum(d for d, _ in tasks),
              "task_s": round(sum(s for _, s in tasks), 3), "docs_per_core_s": rate(tasks),
              "first_half": rate(tasks[: len(tasks) // 2]), "last_half": rate(tasks[len(tasks) // 2 :])}
             for name, tasks in part_tasks.items()]
    per_document = sum(1 / step["docs_per_core_s"] for step in steps if step["docs_per_core_s"])
    return {"docs_per_core_s": round(1 / per_document, 1) if per_document else None, "part_steps": steps}


def in_this_process(step: Step, stage_plan: StagePlan, items: list) -> Iterator:
    for item in items:
        yield step.run_item(stage_plan, item)


def open_for(stage: Stage, corpus_url: str) -> Corpus:
    """The corpus a stage runs on; ingest makes it (once its inputs are known to exist)."""
    return Corpus.create(corpus_url) if not stage.reads else Corpus.open(corpus_url)


def run(corpus_url: str, config: StageConfig, map_step: MapStep = in_this_process) -> StageRecord:
    """Run the stage of ``config`` under the corpus lock, its mapped steps by ``map_step``: in
    this process by default (notebooks, tests; no Prefect, no Dask)."""
    from curation.registry import stage_of

    stage = stage_of(config)
    corpus = prepared(stage, corpus_url, config)
    with corpus.writer_lock(stage.instance_name(config)):
        return execute(plan(corpus, stage, config), map_step)


def _output_of(name: str) -> str:
    from curation.registry import stage_named

    table = stage_named(name).tables(name)[0]
    return "documents" if table == "docs" else table


def prepared(stage: Stage, corpus_url: str, config: StageConfig) -> Corpus:
    """The corpus, after the checks that must fail before any work (or any runtime) starts."""
    if stage.outside is not None and not stage.reads:
        stage.outside(config)  # ingest: missing inputs fail before a corpus is made
    corpus = open_for(stage, corpus_url)
    records = corpus.records()
    for dependency in stage.reads:
        if dependency not in records:
            command = "ingest FILES --corpus" if dependency == "ingest" else dependency
            raise UserError(f"{corpus.url} has no {_output_of(dependency)} yet; run `curate {command} {corpus.url}` first")
    if stage.check is not None:
        stage.check(corpus, config)
    return corpus
