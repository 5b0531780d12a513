"""From what the user named (files, directories, URLs) to units of ingest work.

A unit is what one task reads: one JSONL/Parquet/CSV file, one `save_to_disk` dataset directory,
or a batch of small .txt/.md files (one document each). Units are numbered in input order, and
that order is the corpus order.
"""

from __future__ import annotations

from dataclasses import dataclass

import fsspec
from pydantic import BaseModel, ConfigDict, Field

from curation.errors import UserError
from curation.filesystems import url

# JSON lines by any of their usual names (Dolma's files are *.json.gz), plain or compressed; a
# .json file may also hold one JSON array of records (see curation.ingest.readers).
COMPRESSIONS = (".gz", ".zst", ".bz2", ".xz")
JSONL_SUFFIXES = tuple(base + compression for base in (".jsonl", ".ndjson", ".json") for compression in ("", *COMPRESSIONS))
PARQUET_SUFFIXES = (".parquet",)
HF_FILE_SUFFIXES = (".csv", ".tsv")
TEXT_SUFFIXES = (".txt", ".md")
HF_DISK_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")


class InputSpec(BaseModel):
    """One input as the user named it, with how to read it: ``InputSpec("raw/books.jsonl", domain="books")``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="A file, directory or URL.")
    source: str | None = Field(None, description="Source name (default: the file or directory name).")
    domain: str | None = Field(None, description="A constant domain for these documents.")
    text_field: str = Field("text", description="The field holding the text.")
    id_field: str = Field("id", description="The field holding the document id.")

    def __init__(self, path: str, **fields):
        super().__init__(path=path, **fields)


@dataclass(frozen=True)
class IngestUnit:
    index: int
    kind: str  # jsonl | parquet | hf_disk | hf_files | text_files
    paths: tuple[str, ...]
    source: str
    domain: str | None
    text_field: str
    id_field: str
    root: str  # text files are named relative to it in their derived ids

    @property
    def name(self) -> str:
        return f"unit-{self.index:05d}"


def kind_of(path: str) -> str | None:
    lower = path.lower()
    for kind, suffixes in (
        ("jsonl", JSONL_SUFFIXES),
        ("parquet", PARQUET_SUFFIXES),
        ("hf_files", HF_FILE_SUFFIXES),
        ("text_files", TEXT_SUFFIXES),
    ):
        if lower.endswith(suffixes):
            return kind
    return None


def default_source(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    for suffix in COMPRESSIONS:
        name = name.removesuffix(suffix)
    return name.split(".", 1)[0] or name


def discover_units(specs: list[InputSpec], text_files_per_unit: int = 10_000) -> list[IngestUnit]:
    units: list[IngestUnit] = []
    for spec in specs:
        source, pieces = _pieces(spec, text_files_per_unit)
        for kind, paths, root in pieces:
            units.append(
                IngestUnit(len(units), kind, paths, source, spec.domain, spec.text_field, spec.id_field, root)
            )
    return units


def _pieces(spec: InputSpec, text_files_per_unit: int) -> tuple[str, list[tuple[str, tuple[str, ...], str]]]:
    """The source name of one input, and its units as (kind, paths, root)."""
    fs, path = fsspec.core.url_to_fs(spec.path)
    if not fs.exists(path):
        raise UserError(f"no such input: {spec.path}")
    source = spec.source or default_source(path)
    parent = url(fs, path.rsplit("/", 1)[0])

    if not fs.isdir(path):
        kind = kind_of(path)
        if kind is None:
            raise UserError(
                f"unsupported input {spec.path}: expected JSON lines (.jsonl, .ndjson or .json, plain or .gz/.zst/.bz2/.xz), "
                ".parquet, .csv, .tsv, .txt, .md or a dataset directory"
            )
        return source, [(kind, (url(fs, path),), parent)]
    if any(fs.exists(f"{path}/{marker}") for marker in HF_DISK_MARKERS):
        return source, [("hf_disk", (url(fs, path),), parent)]

    files = sorted(p for p in fs.find(path) if not _hidden(p[len(path) :]))
    pieces = [(kind_of(f), (url(fs, f),), url(fs, path)) for f in files if kind_of(f) not in (None, "text_files")]
    text_files = [url(fs, f) for f in files if kind_of(f) == "text_files"]
    for start in range(0, len(text_files), text_files_per_unit):
        pieces.append(("text_files", tuple(text_files[start : start + text_files_per_unit]), url(fs, path)))
    if not pieces:
        raise UserError(f"{spec.path} holds no supported files (.jsonl, .ndjson, .json, compressed or not; .parquet, .csv, "
                        ".tsv, .txt, .md)")
    return source, pieces


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/") if part)


def input_fingerprint_items(units: list[IngestUnit]) -> list:
    """What identifies the inputs without reading them: path, size and modification time."""
    items = []
    for unit in units:
        for path in unit.paths:
            fs, local = fsspec.core.url_to_fs(path)
            for file in fs.find(local) if fs.isdir(local) else [local]:
                info = fs.info(file)
                items.append([file, info.get("size"), str(info.get("mtime") or info.get("LastModified") or "")])
    return items
