"""The corpus store: one directory (local path or fsspec URL) laid out as DESIGN.md describes.

    corpus.json                      manifest: format version and one record per finished stage
    docs/part-00000.parquet          documents, immutable after ingest
    rejects/part-00000.parquet       input that could not become a document, with the reason
    attrs/<stage>/part-00000.parquet what a stage learned, row-aligned with docs/part-00000

Every part is written under a temporary name and renamed into place, so a reader never sees
half a part. Only names matching ``part-*.parquet`` are parts.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from curation import filesystems
from curation.errors import UserError
from curation.lock import WriterLock

FORMAT_VERSION = 1
MANIFEST = "corpus.json"
PART_PATTERN = re.compile(r"^part-(\d{5})\.parquet$")

DOCS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("url", pa.string()),
        ("domain", pa.string()),
        ("meta", pa.string()),
    ]
)

REJECTS_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("file", pa.string()),
        ("position", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("excerpt", pa.string()),
    ]
)

# Columns whose few distinct values are worth a Parquet dictionary and statistics.
DICTIONARY_COLUMNS = {"source", "domain", "reason", "file", "keep", "language"}


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

    def matches(self, config_fingerprint: str, input_fingerprint: str) -> bool:
        return (self.config_fingerprint, self.input_fingerprint) == (config_fingerprint, input_fingerprint)


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
            raise UserError(f"{url}: corpus format version {version} is not supported (expected {FORMAT_VERSION})")
        return corpus

    @property
    def is_local(self) -> bool:
        return filesystems.is_local(self.fs)

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

    def rows(self, table: str = "docs") -> int:
        return sum(self.part_rows(table, part) for part in self.parts(table))

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
        directory = self.path("mixtures")
        if not self.fs.isdir(directory):
            return []
        names = sorted(entry.rsplit("/", 1)[-1] for entry in self.fs.ls(directory, detail=False))
        return [name for name in names if not name.startswith(".") and self.fs.exists(f"{directory}/{name}/manifest.json")]

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

    def stage(self, name: str) -> StageRecord | None:
        for record in self.manifest()["stages"]:
            if record["name"] == name:
                return StageRecord(**record)
        return None

    def record_stage(self, record: StageRecord) -> None:
        """Remember a finished stage, with the checksums of the parts it wrote; a rerun of the same
        stage replaces its earlier record and checksums."""
        from curation.checksums import stage_checksums, stage_tables

        manifest = self.manifest()
        manifest["stages"] = [r for r in manifest["stages"] if r["name"] != record.name]
        manifest["stages"].append(asdict(record))
        prefixes = tuple(f"{table}/" for table in stage_tables(record.name))
        kept = {path: c for path, c in manifest.get("checksums", {}).items() if not path.startswith(prefixes)}
        manifest["checksums"] = kept | stage_checksums(self, record.name)
        self._write_manifest(manifest)

    def forget_stages(self, names: list[str]) -> None:
        manifest = self.manifest()
        manifest["stages"] = [r for r in manifest["stages"] if r["name"] not in names]
        self._write_manifest(manifest)

    def docs_fingerprint(self) -> str:
        """Changes whenever the documents change: the input fingerprint of every later stage."""
        ingest = self.stage("ingest")
        if ingest is None:
            raise UserError(f"{self.url} has no documents yet; run `curate ingest` first")
        return f"{ingest.config_fingerprint}-{ingest.input_fingerprint}"

    # -- writing ---------------------------------------------------------------------------
    def writer_lock(self, command: str) -> WriterLock:
        return WriterLock(self.fs, self.path("corpus.lock"), command)

    def sql(self, query: str) -> pa.Table:
        """Run a read-only query over the corpus views (see curation.catalog) and return Arrow."""
        from curation.catalog import Catalog

        with Catalog(self) as catalog:
            return catalog.query(query)


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


def write_bytes_atomic(fs, path: str, data: bytes) -> None:
    directory = path.rsplit("/", 1)[0]
    fs.makedirs(directory, exist_ok=True)
    tmp = f"{directory}/.tmp-{uuid.uuid4().hex}"
    with fs.open(tmp, "wb") as handle:
        handle.write(data)
    fs.mv(tmp, path)

