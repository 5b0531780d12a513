"""Readers: turn one input unit into a stream of raw records, never raising on bad data.

A reader yields ``RawRecord``s. A record that could not even be parsed carries a ``reason``;
damage that ends a file (truncation, an unreadable file) is one record with reason
``unreadable_file`` after the records read before it.
"""

from __future__ import annotations

import bz2
import gzip
import itertools
import lzma
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from curation import filesystems
from curation.ingest import reasons
from curation.ingest.units import IngestUnit


@dataclass(slots=True)
class RawRecord:
    file: str
    position: int  # counts from 1: the line number for JSONL, the row number for tables
    value: object = None
    raw: bytes | str | None = None
    reason: str | None = None
    detail: str | None = None


def read_unit(unit: IngestUnit) -> Iterator[RawRecord]:
    reader = {
        "jsonl": _read_jsonl,
        "parquet": _read_parquet,
        "hf_disk": _read_hf_disk,
        "hf_files": _read_hf_files,
        "text_files": _read_text_files,
    }[unit.kind]
    yield from reader(unit)


# -- JSONL ---------------------------------------------------------------------------------
BOM = b"\xef\xbb\xbf"  # what Windows tools write at the start of a UTF-8 file: not data there
DAMAGE = (OSError, EOFError, zstandard.ZstdError, lzma.LZMAError)


def _read_jsonl(unit: IngestUnit) -> Iterator[RawRecord]:
    """JSON lines; a file whose first character is ``[`` holds one JSON array of records."""
    (path,) = unit.paths
    position = 0
    try:
        lines = _lines(path)
        first = next(lines, b"").removeprefix(BOM)
        if first.lstrip().startswith(b"["):
            yield from _json_array(path, first + b"".join(lines))
            return
        for position, line in enumerate(itertools.chain([first], lines), start=1):
            if not line.strip():
                continue  # blank lines are not records
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                yield RawRecord(path, position, raw=line, reason=_json_error_reason(line, error), detail=str(error))
                continue
            yield RawRecord(path, position, value=value, raw=line)
    except DAMAGE as error:
        yield RawRecord(path, position + 1, reason=reasons.UNREADABLE_FILE, detail=f"{type(error).__name__}: {error}")


def _json_array(path: str, data: bytes) -> Iterator[RawRecord]:
    """The records of one JSON array, positions counting its elements from 1. The array is
    parsed whole (JSON offers no way to resume after damage), so a malformed array is one reject."""
    try:
        values = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        yield RawRecord(path, 1, reason=_json_error_reason(data, error), detail=f"the JSON array does not parse: {error}")
        return
    for position, value in enumerate(values, start=1):
        yield RawRecord(path, position, value=value, raw=orjson.dumps(value))


def _json_error_reason(line: bytes, error: orjson.JSONDecodeError) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return reasons.INVALID_UTF8
    return reasons.INVALID_UTF8 if "surrogate" in str(error) else reasons.MALFORMED_JSON


def _open_binary(path: str):
    fs, local = fsspec.core.url_to_fs(path)
    # The builtin file object iterates lines about twice as fast as fsspec's local wrapper.
    return open(local, "rb", buffering=1 << 20) if filesystems.is_local(fs) else fs.open(local, "rb")


DECOMPRESSORS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}  # each takes an open file


def _lines(path: str) -> Iterator[bytes]:
    suffix = "." + path.rsplit(".", 1)[-1].lower()
    with _open_binary(path) as raw:
        if suffix in DECOMPRESSORS:
            with DECOMPRESSORS[suffix](raw) as handle:
                yield from handle
        elif suffix == ".zst":
            yield from _split_lines(_zstd_chunks(raw))
        else:
            yield from raw


def _zstd_chunks(raw, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Decompress every frame; unlike ``stream_reader`` this notices a file cut inside a frame."""
    decompressor = zstandard.ZstdDecompressor()
    stream, in_frame = decompressor.decompressobj(), False
    while chunk := raw.read(chunk_size):
        while chunk:
            in_frame = True
            yield stream.decompress(chunk)
            if not stream.eof:
                break
            chunk = stream.unused_data
            stream, in_frame = decompressor.decompressobj(), False
    if in_frame:
        raise zstandard.ZstdError("file ends inside a zstd frame (truncated)")


def _split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        if not chunk:
            continue
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


# -- tables --------------------------------------------------------------------------------
def _read_parquet(unit: IngestUnit) -> Iterator[RawRecord]:
    (path,) = unit.paths
    position = 0
    try:
        with fsspec.open(path, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            if unit.text_field not in parquet.schema_arrow.names:
                yield _missing_column(path, unit.text_field, parquet.schema_arrow.names)
                return
            for batch in parquet.iter_batches(batch_size=4096):
                for row in batch.to_pylist():
                    position += 1
                    yield RawRecord(path, position, value=row)
    except (OSError, pa.ArrowException) as error:
        yield RawRecord(path, position + 1, reason=reasons.UNREADABLE_FILE, detail=f"{type(error).__name__}: {error}")


def _read_hf_disk(unit: IngestUnit) -> Iterator[RawRecord]:
    import datasets

    (path,) = unit.paths
    try:
        loaded = datasets.load_from_disk(path)
    except Exception as error:  # datasets raises many types for a damaged directory
        yield RawRecord(path, 1, reason=reasons.UNREADABLE_FILE, detail=f"{type(error).__name__}: {error}")
        return
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split, dataset in splits:
        label = path if split is None else f"{path}[{split}]"
        yield from _dataset_records(label, dataset, unit.text_field)


def _read_hf_files(unit: IngestUnit) -> Iterator[RawRecord]:
    import datasets

    (path,) = unit.paths
    builder = {"csv": "csv", "tsv": "csv", "arrow": "arrow"}[path.rsplit(".", 1)[-1]]
    options = {"delimiter": "\t"} if path.endswith(".tsv") else {}
    try:
        dataset = datasets.load_dataset(builder, data_files=path, split="train", **options)
    except Exception as error:  # datasets wraps parser errors in several types
        yield RawRecord(path, 1, reason=reasons.UNREADABLE_FILE, detail=f"{type(error).__name__}: {error}")
        return
    yield from _dataset_records(path, dataset, unit.text_field)


def _dataset_records(label: str, dataset, text_field: str) -> Iterator[RawRecord]:
    if text_field not in dataset.column_names:
        yield _missing_column(label, text_field, dataset.column_names)
        return
    position = 0
    for batch in dataset.data.to_batches(max_chunksize=4096):
        for row in batch.to_pylist():
            position += 1
            yield RawRecord(label, position, value=row)


def _missing_column(path: str, field: str, names: list[str]) -> RawRecord:
    return RawRecord(
        path, 0, reason=reasons.MISSING_TEXT_COLUMN, detail=f"no column {field!r}; columns are {', '.join(names)}"
    )


# -- plain text files: one file, one document ----------------------------------------------
def _read_text_files(unit: IngestUnit) -> Iterator[RawRecord]:
    for path in unit.paths:
        try:
            with fsspec.open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            yield RawRecord(path, 1, reason=reasons.UNREADABLE_FILE, detail=f"{type(error).__name__}: {error}")
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            yield RawRecord(path, 1, raw=data, reason=reasons.INVALID_UTF8, detail=str(error))
            continue
        relative = path[len(unit.root) :].lstrip("/") if unit.root else path.rsplit("/", 1)[-1]
        yield RawRecord(path, 1, value={unit.text_field: text, unit.id_field: f"{unit.source}/{relative}"}, raw=data)


def excerpt(raw, limit: int = 300) -> str | None:
    """A short, always-valid excerpt of raw input (bytes, text or a parsed value) for `rejects`."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        return raw[: limit * 4].decode("utf-8", errors="backslashreplace")[:limit]
    if not isinstance(raw, str):
        raw = orjson.dumps(raw, default=str).decode()
    return raw[:limit]
