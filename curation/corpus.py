"""The corpus store: one directory (local path or fsspec URL), laid out as docs/ARCHITECTURE.md describes.

    corpus.json                      manifest: format version and one record per finished stage
    docs/part-00000.parquet          documents, immutable after ingest
    rejects/part-00000.parquet       input that could not become a document, with the reason
    attrs/<stage>/part-00000.parquet what a stage learned, row-aligned with docs/part-00000

Every part is written under a temporary name and renamed into place, so a reader never sees
half a part; a folder (a selection, a mixture, a model) is published whole by ``publish_folder``.
Only names matching ``part-*.parquet`` are parts.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import fsspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from curation import catalog, checksums, filesystems
from curation.errors import UserError
from curation.lock import WriterLock
from curation.schemas import DICTIONARY_COLUMNS, DOCS_SCHEMA, MANIFEST, REJECTS_SCHEMA

__all__ = ["DOCS_SCHEMA", "MANIFEST", "REJECTS_SCHEMA", "Corpus", "StageRecord"]

# 2: stage records hold what they read (inputs, part_inputs) and dedup attrs a reason column.
FORMAT_VERSION = 2
PART_PATTERN = re.compile(r"^part-(\d{5})\.parquet$")
ASIDE = ".old-"  # a published folder's previous version while the new one is renamed in
# Where folders are published whole (see ``publish_folder``): tables, attrs, selections, mixtures,
# models, ablations.
PUBLISHED = ("", "attrs", "selections", "mixtures", "models", "ablations")


def part_name(index: int) -> str:
    return f"part-{index:05d}"


@dataclass
class StageRecord:
    """What corpus.json remembers of one finished stage."""

    name: str
    config: dict
    config_fingerprint: str
    input_fingerprint: str
    rows_in: int
    rows_out: int
    wall_time_s: float
    parts: int
    finished_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    details: dict = field(default_factory=dict)
    stage: str = ""  # the declaration it ran (the name, except for score tables: "score")
    inputs: dict = field(default_factory=dict)  # the output fingerprint of every stage it read
    part_inputs: dict = field(default_factory=dict)  # the fingerprint of every docs part it read
    # Documents per second per core over its steps over the docs parts, and each such step's
    # rates (``curation.stage.throughput``); None for stages without them.
    docs_per_core_s: float | None = None
    part_steps: list = field(default_factory=list)
    step_seconds: dict = field(default_factory=dict)  # each step's wall time, in order
    # Not stored: set on the record a rerun returns when the stage was already done.
    skipped: bool = field(default=False, compare=False)

    def matches(self, config_fingerprint: str, input_fingerprint: str) -> bool:
        return (self.config_fingerprint, self.input_fingerprint) == (config_fingerprint, input_fingerprint)

    @property
    def output_fingerprint(self) -> str:
        """Changes whenever this stage's output does: what the stages reading it record."""
        return f"{self.config_fingerprint}-{self.input_fingerprint}"


class Corpus:
    """A corpus directory. ``Corpus.create`` makes one, ``Corpus.open`` requires an existing one."""

    def __init__(self, url: str):
        self.url = str(url)
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.root = self.root.rstrip("/")

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, url: str) -> Corpus:
        corpus = cls(url)
        corpus.fs.makedirs(corpus.root, exist_ok=True)
        if not corpus.fs.exists(corpus.path(MANIFEST)):
            corpus._write_manifest({"format_version": FORMAT_VERSION, "stages": []})
        return corpus

    @classmethod
    def open(cls, url: str) -> Corpus:
        corpus = cls(url)
        if not corpus.fs.exists(corpus.path(MANIFEST)):
            raise UserError(f"{url} is not a corpus (no {MANIFEST}); create one with `curate ingest`")
        version = corpus.manifest().get("format_version")
        if version != FORMAT_VERSION:
            raise UserError(f"{url}: corpus format version {version} is not supported (expected {FORMAT_VERSION}); "
                            "ingest its inputs into a new corpus")
        corpus.recover_published()
        return corpus

    def recover_published(self) -> None:
        """Folders a killed ``publish_folder`` left aside are put back (see there)."""
        for folder in PUBLISHED:
            directory = self.path(folder) if folder else self.root
            if self.fs.isdir(directory):
                for entry in self.fs.ls(directory, detail=False):
                    name = entry.rstrip("/").rsplit("/", 1)[-1]
                    if name.startswith(ASIDE):
                        recover_folder(self.fs, f"{directory}/{name.removeprefix(ASIDE)}")

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def uri(self, *parts: str) -> str:
        """A path DuckDB and other readers understand: plain for local files, a URL otherwise."""
        return self.to_uri(self.path(*parts))

    def to_uri(self, path: str) -> str:
        return filesystems.url(self.fs, path)

    # -- parts -----------------------------------------------------------------------------
    def parts(self, table: str = "docs") -> list[str]:
        """Names (``part-00000``) of the finished parts of a table, in order."""
        directory = self.path(table)
        if not self.fs.isdir(directory):
            return []
        names = [entry.rsplit("/", 1)[-1] for entry in self.fs.ls(directory, detail=False)]
        return sorted(name.removesuffix(".parquet") for name in names if PART_PATTERN.match(name))

    def part_path(self, table: str, part: str) -> str:
        return self.path(table, f"{part}.parquet")

    def has_part(self, table: str, part: str) -> bool:
        return self.fs.exists(self.part_path(table, part))

    def write_part(self, table: str, part: str, data: pa.Table) -> None:
        write_parquet_atomic(self.fs, self.part_path(table, part), data)

    def move_part(self, source_path: str, table: str, part: str) -> None:
        """Rename a finished file from a staging area into place (atomic on one filesystem)."""
        self.fs.makedirs(self.path(table), exist_ok=True)
        self.fs.mv(source_path, self.part_path(table, part))

    def read_part(self, table: str, part: str, columns: list[str] | None = None) -> pa.Table:
        with self.fs.open(self.part_path(table, part), "rb") as handle, self._readable(table, part):
            return pq.read_table(handle, columns=columns)

    @contextlib.contextmanager
    def _readable(self, table: str, part: str) -> Iterator[None]:
        """A part that Parquet cannot read is named, with where to go next."""
        try:
            yield
        except (pa.ArrowInvalid, pa.ArrowIOError) as error:
            if "FieldRef" in str(error):  # a column asked for that the part does not have: not damage
                raise
            raise UserError(f"{table}/{part}.parquet in {self.url} cannot be read ({str(error).splitlines()[0][:120]}); "
                            f"`curate verify {self.url}` checks every part and says how to recover") from None

    def iter_batches(
        self, table: str, part: str, columns: list[str] | None = None, batch_size: int = 4096
    ) -> Iterator[pa.RecordBatch]:
        """Stream a part in record batches, reading only the named columns."""
        with self.fs.open(self.part_path(table, part), "rb") as handle, self._readable(table, part):
            yield from pq.ParquetFile(handle).iter_batches(batch_size=batch_size, columns=columns)

    def part_rows(self, table: str, part: str) -> int:
        with self.fs.open(self.part_path(table, part), "rb") as handle, self._readable(table, part):
            return pq.ParquetFile(handle).metadata.num_rows

    def columns(self, table: str) -> list[str]:
        """The column names of a table (its first part's)."""
        parts = self.parts(table)
        if not parts:
            return []
        with self.fs.open(self.part_path(table, parts[0]), "rb") as handle, self._readable(table, parts[0]):
            return pq.ParquetFile(handle).schema_arrow.names

    def rows(self, table: str = "docs") -> int:
        return sum(self.part_rows(table, part) for part in self.parts(table))

    def publish(self, staged: str, table: str) -> None:
        """Put the finished folder ``staged`` at ``table`` (a table, a model folder) whole."""
        self.fs.makedirs(self.path(table).rsplit("/", 1)[0], exist_ok=True)
        publish_folder(self.fs, staged, self.path(table))

    def link_file(self, source: str, target: str) -> None:
        """``target`` made to hold what the finished file ``source`` holds: a hard link on a local
        disk (no copy), a copy elsewhere."""
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        if filesystems.is_local(self.fs):
            os.link(source, target)
        else:
            self.fs.copy(source, target)

    def link_folder(self, source: str, target: str) -> None:
        for path in self.fs.find(source):
            self.link_file(path, target + path[len(source):])

    def remove_table(self, table: str) -> None:
        if self.fs.exists(self.path(table)):
            self.fs.rm(self.path(table), recursive=True)

    def attrs_stages(self) -> list[str]:
        """Stage names that have an attrs table with at least one finished part."""
        return self._tables_in("attrs")

    def selections(self) -> list[str]:
        """Names of the finished selections."""
        return self._tables_in("selections")

    def mixtures(self) -> list[str]:
        """Names of the emitted mixtures (those whose manifest.json is written)."""
        return self._folders_with("mixtures", "manifest.json")

    def ablations(self) -> list[str]:
        """Names of the finished ablations (curation.ablate)."""
        return self._folders_with("ablations", "ablation.json")

    def _folders_with(self, folder: str, file: str) -> list[str]:
        directory = self.path(folder)
        if not self.fs.isdir(directory):
            return []
        names = sorted(entry.rsplit("/", 1)[-1] for entry in self.fs.ls(directory, detail=False))
        return [name for name in names if not name.startswith(".") and self.fs.exists(f"{directory}/{name}/{file}")]

    def _tables_in(self, folder: str) -> list[str]:
        directory = self.path(folder)
        if not self.fs.isdir(directory):
            return []
        names = sorted(entry.rsplit("/", 1)[-1] for entry in self.fs.ls(directory, detail=False))
        return [name for name in names if not name.startswith(".") and self.parts(f"{folder}/{name}")]

    # -- manifest --------------------------------------------------------------------------
    def manifest(self) -> dict:
        with self.fs.open(self.path(MANIFEST), "rb") as handle:
            return orjson.loads(handle.read())

    def _write_manifest(self, manifest: dict) -> None:
        data = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
        write_bytes_atomic(self.fs, self.path(MANIFEST), data)

    def records(self, manifest: dict | None = None) -> dict[str, StageRecord]:
        """Every finished stage's record, from one read of the manifest (or the one given)."""
        return {record["name"]: StageRecord(**record) for record in (manifest or self.manifest())["stages"]}

    def stage(self, name: str) -> StageRecord | None:
        return self.records().get(name)

    def record_stage(self, record: StageRecord, tables: tuple[str, ...] = (), unchanged: set[str] = frozenset()) -> None:
        """Remember a finished stage, with the checksums of the parts it wrote in ``tables``; a
        rerun of the same stage replaces its earlier record and checksums. Files in ``unchanged``
        (paths in the corpus) keep the checksums recorded before, unread."""
        manifest = self.manifest()
        manifest["stages"] = [r for r in manifest["stages"] if r["name"] != record.name]
        manifest["stages"].append({k: v for k, v in asdict(record).items() if k != "skipped"})
        prefixes = tuple(f"{table}/" for table in tables)
        recorded = manifest.get("checksums", {})
        kept = {path: c for path, c in recorded.items() if not path.startswith(prefixes)}
        known = {path: recorded[path] for path in unchanged if path in recorded}
        manifest["checksums"] = kept | checksums.table_checksums(self, tables, known)
        self._write_manifest(manifest)

    def forget_stages(self, names: list[str]) -> None:
        manifest = self.manifest()
        manifest["stages"] = [r for r in manifest["stages"] if r["name"] not in names]
        self._write_manifest(manifest)

    def output_fingerprint(self, name: str, records: dict[str, StageRecord] | None = None) -> str:
        """The output fingerprint of a finished stage a caller needs; a clear error when it has not run."""
        record = (self.records() if records is None else records).get(name)
        if record is None:
            if name == "ingest":
                raise UserError(f"{self.url} has no documents yet; run `curate ingest` first")
            raise UserError(f"{self.url} has no {name} yet; run `curate {name} {self.url}` first")
        return record.output_fingerprint

    def docs_fingerprint(self) -> str:
        """Changes whenever the documents change: an input of every later stage."""
        return self.output_fingerprint("ingest")

    def is_current(self, name: str) -> bool:
        """Whether stage ``name`` finished and every stage it read still has the output it read
        (fingerprints, never timestamps). A record from before inputs were recorded is not current."""
        records = self.records()
        record = records.get(name)
        if record is None or not record.inputs:
            return False
        return all(dependency == "outside" or (dependency in records and records[dependency].output_fingerprint == fp)
                   for dependency, fp in record.inputs.items())

    # -- writing ---------------------------------------------------------------------------
    def writer_lock(self, command: str) -> WriterLock:
        return WriterLock(self.fs, self.path("corpus.lock"), command)

    def sql(self, query: str) -> pa.Table:
        """Run a read-only query over the corpus views (see curation.catalog) and return Arrow."""
        with catalog.Catalog(self) as views:
            return views.query(query)


@contextlib.contextmanager
def parquet_writer_atomic(fs, path: str, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
    """A ParquetWriter on a temporary name; the file appears at ``path`` only when the block ends
    without an error."""
    directory = path.rsplit("/", 1)[0]
    fs.makedirs(directory, exist_ok=True)
    tmp = f"{directory}/.tmp-{uuid.uuid4().hex}.parquet"
    try:
        with fs.open(tmp, "wb") as handle:
            # Dictionaries and min/max statistics pay off only for short repeated values; on
            # document text they cost time for nothing.
            small = [name for name in schema.names if name in DICTIONARY_COLUMNS]
            with pq.ParquetWriter(
                handle, schema, compression="zstd", compression_level=1, use_dictionary=small, write_statistics=small
            ) as writer:
                yield writer
        fs.mv(tmp, path)
    finally:
        if fs.exists(tmp):
            fs.rm(tmp)


def write_parquet_atomic(fs, path: str, data: pa.Table) -> None:
    with parquet_writer_atomic(fs, path, data.schema) as writer:
        writer.write_table(data)


def write_partitions(fs, table: pa.Table, column: str, count: int, path: Callable[[int], str]) -> None:
    """One file per value 0..count-1 of ``column`` (``table`` is sorted by it), without that
    column; a value without rows gets an empty file, so a task reading a partition finds a file
    from every writer."""
    bounds = np.searchsorted(table[column].to_numpy(), np.arange(count + 1))
    rows = table.drop_columns(column)
    for value in range(count):
        write_parquet_atomic(fs, path(value), rows.slice(bounds[value], bounds[value + 1] - bounds[value]))


def write_bytes_atomic(fs, path: str, data: bytes) -> None:
    directory = path.rsplit("/", 1)[0]
    fs.makedirs(directory, exist_ok=True)
    tmp = f"{directory}/.tmp-{uuid.uuid4().hex}"
    with fs.open(tmp, "wb") as handle:
        handle.write(data)
    fs.mv(tmp, path)


def publish_folder(fs, staged: str, target: str) -> None:
    """Put the finished folder ``staged`` at ``target`` whole: the old version is renamed aside,
    the new one renamed in, the old one deleted. A kill between the renames leaves the old
    version aside, and ``recover_folder`` (run before every publish and by ``Corpus.open``) puts
    it back: a reader finds the old folder or the new one, never neither."""
    recover_folder(fs, target)
    aside = _aside(target)
    if fs.exists(target):
        fs.mv(target, aside, recursive=True)
    fs.mv(staged, target, recursive=True)
    if fs.exists(aside):
        fs.rm(aside, recursive=True)


def recover_folder(fs, target: str) -> None:
    aside = _aside(target)
    if fs.exists(aside):
        if fs.exists(target):
            fs.rm(aside, recursive=True)
        else:
            fs.mv(aside, target, recursive=True)


def _aside(target: str) -> str:
    parent, name = target.rstrip("/").rsplit("/", 1)
    return f"{parent}/{ASIDE}{name}"
