"""Ingest one unit into the staging area: document shards, their input positions, and rejects.

The unit is finished when ``<unit>.done.json`` exists; a rerun returns that result without
reading the input again, so a killed ingest resumes unit by unit.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import asdict, dataclass, field

import fsspec
import orjson
import pyarrow as pa

from curation.corpus import DOCS_SCHEMA, REJECTS_SCHEMA, parquet_writer_atomic, write_bytes_atomic, write_parquet_atomic
from curation.ingest.documents import Document, DocumentBuilder, Reject
from curation.ingest.readers import read_unit
from curation.ingest.units import IngestUnit

POSITIONS_SCHEMA = pa.schema([("file", pa.string()), ("position", pa.int64())])


@dataclass
class UnitResult:
    unit: int
    records: int = 0
    docs: int = 0
    rejects: dict[str, int] = field(default_factory=dict)
    shards: int = 0


def unit_result(staging_url: str, unit: IngestUnit) -> UnitResult:
    """The result a finished unit left in the staging area."""
    fs, staging = fsspec.core.url_to_fs(staging_url)
    with fs.open(f"{staging}/{unit.name}.done.json", "rb") as handle:
        return UnitResult(**orjson.loads(handle.read()))


def ingest_unit(unit: IngestUnit, staging_url: str, shard_size: int, max_doc_bytes: int) -> UnitResult:
    fs, staging = fsspec.core.url_to_fs(staging_url)
    done_path = f"{staging}/{unit.name}.done.json"
    if fs.exists(done_path):
        return unit_result(staging_url, unit)
    unit_dir = f"{staging}/{unit.name}"
    if fs.exists(unit_dir):
        fs.rm(unit_dir, recursive=True)  # leftovers of a killed attempt

    builder = DocumentBuilder(unit, max_doc_bytes)
    shards = ShardWriter(fs, unit_dir, unit.source, shard_size)
    rejects: list[Reject] = []
    result = UnitResult(unit.index)
    for record in read_unit(unit):
        result.records += 1
        built = builder.build(record)
        if isinstance(built, Document):
            shards.add(built, record.file, record.position)
        else:
            rejects.append(built)
    shards.close()

    result.docs = shards.rows_written
    result.shards = shards.shards_written
    result.rejects = dict(Counter(r.reason for r in rejects))
    write_parquet_atomic(fs, f"{unit_dir}/rejects.parquet", rejects_table(unit.source, rejects))
    write_bytes_atomic(fs, done_path, orjson.dumps(asdict(result)))
    return result


def rejects_table(source: str, rejects: list[Reject]) -> pa.Table:
    return pa.table(
        {
            "source": pa.array([source] * len(rejects), pa.string()),
            "file": [r.file for r in rejects],
            "position": pa.array([r.position for r in rejects], pa.int64()),
            "reason": [r.reason for r in rejects],
            "detail": [r.detail for r in rejects],
            "excerpt": [r.excerpt for r in rejects],
        },
        schema=REJECTS_SCHEMA,
    )


def _utf8_array(texts: list[str]) -> pa.Array:
    # Encoding in Python and validating in Arrow is several times faster than pa.array(str list).
    return pa.array([text.encode() for text in texts], pa.binary()).cast(pa.string())


class ShardWriter:
    """Streams documents into shards of ``shard_size`` rows, a few thousand at a time, so memory
    holds one batch, not one shard. Each shard has a sidecar of input positions (read only to
    report duplicate ids)."""

    BATCH_ROWS = 4096
    BATCH_CHARS = 32 << 20

    def __init__(self, fs, directory: str, source: str, shard_size: int):
        self.fs, self.directory, self.source, self.shard_size = fs, directory, source, shard_size
        self.shards_written = 0
        self.rows_written = 0
        self._open: contextlib.ExitStack | None = None
        self._rows_in_shard = 0
        self._new_batch()

    def _new_batch(self) -> None:
        self.ids, self.texts, self.urls, self.domains, self.metas = [], [], [], [], []
        self.files, self.positions = [], []
        self._chars = 0

    def add(self, doc: Document, file: str, position: int) -> None:
        self.ids.append(doc.id)
        self.texts.append(doc.text)
        self.urls.append(doc.url)
        self.domains.append(doc.domain)
        self.metas.append(doc.meta)
        self.files.append(file)
        self.positions.append(position)
        self._chars += len(doc.text)
        rows = len(self.ids)
        if rows >= self.BATCH_ROWS or self._chars >= self.BATCH_CHARS or self._rows_in_shard + rows >= self.shard_size:
            self._write_batch()

    def _write_batch(self) -> None:
        rows = len(self.ids)
        if not rows:
            return
        if self._open is None:
            self._open = contextlib.ExitStack()
            name = f"{self.directory}/shard-{self.shards_written:05d}"
            self._positions = self._open.enter_context(parquet_writer_atomic(self.fs, f"{name}.positions.parquet", POSITIONS_SCHEMA))
            self._docs = self._open.enter_context(parquet_writer_atomic(self.fs, f"{name}.parquet", DOCS_SCHEMA))
        self._docs.write_batch(
            pa.record_batch(
                [
                    pa.array(self.ids, pa.string()),
                    _utf8_array(self.texts),
                    pa.array([self.source] * rows, pa.string()),
                    pa.array(self.urls, pa.string()),
                    pa.array(self.domains, pa.string()),
                    pa.array(self.metas, pa.string()),
                ],
                schema=DOCS_SCHEMA,
            )
        )
        self._positions.write_batch(
            pa.record_batch([pa.array(self.files, pa.string()), pa.array(self.positions, pa.int64())], schema=POSITIONS_SCHEMA)
        )
        self._rows_in_shard += rows
        self.rows_written += rows
        self._new_batch()
        if self._rows_in_shard >= self.shard_size:
            self._close_shard()

    def _close_shard(self) -> None:
        if self._open is not None:
            self._open.close()  # docs is renamed into place first, then its sidecar
            self._open = None
            self.shards_written += 1
            self._rows_in_shard = 0

    def close(self) -> None:
        self._write_batch()
        self._close_shard()
