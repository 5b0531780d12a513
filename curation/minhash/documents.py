"""The documents fuzzy dedup compares, numbered across one or two corpora, and their shingle sets.

A run numbers the documents of its corpus 0..n-1 in corpus order. A run against an older corpus
numbers the old documents first and the new ones after them, so "earlier" means the same thing
as in a run over both together. A `Segment` is one corpus's share of that numbering, with the
folder that holds its signatures; `Slots` are the docs parts of every segment, by which the
partitioned steps write what a later task of one part reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.corpus import Corpus
from curation.minhash.shingles import shingle_hashes


@dataclass(frozen=True)
class Segment:
    """The docs parts of ``corpus``, numbered from ``start``, with their MinHash tables in
    ``folder``/signatures and ``folder``/bands."""

    corpus: Corpus
    folder: str
    parts: tuple[str, ...]
    part_rows: tuple[int, ...]
    start: int = 0

    @property
    def end(self) -> int:
        return self.start + sum(self.part_rows)

    def part_starts(self) -> dict[str, int]:
        starts = self.start + np.concatenate([[0], np.cumsum(self.part_rows)[:-1]]).astype(np.int64)
        return dict(zip(self.parts, starts.tolist(), strict=True))

    def table(self, kind: str, part: str) -> str:
        return f"{self.folder}/{kind}/{part}.parquet"


@dataclass(frozen=True)
class Slot:
    """One docs part of a segment: its documents are numbered ``start`` to ``start + rows - 1``."""

    segment: Segment
    part: str
    start: int
    rows: int

    def signatures(self, docs: np.ndarray, columns: list[str]) -> pa.Table:
        """``columns`` of the signatures table for these documents (by number), in their order."""
        with self.segment.corpus.fs.open(self.segment.table("signatures", self.part), "rb") as handle:
            return pq.read_table(handle, columns=columns).take(pa.array(docs - self.start))

    def texts(self, docs: np.ndarray) -> pa.Array:
        return self.segment.corpus.read_part("docs", self.part, ["text"])["text"].take(pa.array(docs - self.start))


class Slots:
    """The docs parts of every segment in numbering order; ``index`` says whose a document is."""

    def __init__(self, segments: list[Segment]):
        self.segments = segments
        self.all = [Slot(segment, part, start, rows) for segment in segments
                    for (part, start), rows in zip(segment.part_starts().items(), segment.part_rows, strict=True)]
        self.starts = np.array([slot.start for slot in self.all], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.all)

    @property
    def new(self) -> list[int]:
        """The slots of the corpus being deduplicated (the last segment)."""
        return list(range(len(self.all) - len(self.segments[-1].parts), len(self.all)))

    def index(self, docs: np.ndarray) -> np.ndarray:
        # "right": an empty part shares its start with the next, which holds the documents.
        return np.searchsorted(self.starts, docs, side="right") - 1


def by_slot(slots: Slots, table: pa.Table, column: str) -> Iterator[tuple[int, pa.Table]]:
    """(slot, its rows) for each slot holding any of ``table[column]`` (document numbers)."""
    index = slots.index(table[column].to_numpy())
    order = np.argsort(index, kind="stable")
    index, table = index[order], table.take(pa.array(order))
    bounds = np.flatnonzero(np.diff(index)) + 1
    for start, stop in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(index)]]), strict=True):
        if stop > start:
            yield int(index[start]), table.slice(start, stop - start)


def read_folder(corpus: Corpus, folder: str) -> pa.Table | None:
    """Every Parquet file a step's tasks wrote into ``folder``, as one table; None if none did."""
    if not corpus.fs.isdir(folder):
        return None
    tables = []
    for path in sorted(corpus.fs.ls(folder, detail=False)):
        with corpus.fs.open(path, "rb") as handle:
            tables.append(pq.read_table(handle))
    return pa.concat_tables(tables) if tables else None


def shingle_sets(texts: pa.Array, ngram: int) -> pa.ListArray:
    """Each text's set of shingles as sorted 32-bit hashes: a Python set would take 30 times the
    memory, and 32 bits leave a chance collision at about 1e-5 of a pair of 250-shingle documents."""
    hashes, bounds = shingle_hashes(texts, ngram)
    doc = np.repeat(np.arange(len(texts), dtype=np.uint64), np.diff(bounds))
    keys = np.sort((doc << np.uint64(32)) | (hashes & np.uint64(0xFFFFFFFF)))
    if len(keys):
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    counts = np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=len(texts))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(keys.astype(np.uint32)))


def jaccard(sets: pa.ListArray, u: np.ndarray, v: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Jaccard of the sets at positions ``u`` and ``v``, pair by pair: the values of both, tagged
    by pair and sorted; a value seen twice in one pair is shared."""
    offsets = sets.offsets.to_numpy()
    values = sets.values.to_numpy()
    start, length = offsets[:-1].astype(np.int64), np.diff(offsets).astype(np.int64)
    out = np.empty(len(u), dtype=np.float32)
    for first in range(0, len(u), chunk):
        a, b = u[first : first + chunk], v[first : first + chunk]
        pair = np.arange(len(a), dtype=np.uint64)
        tags = np.concatenate([np.repeat(pair, length[a]), np.repeat(pair, length[b])])
        gathered = np.concatenate([_gather(values, start, length, a), _gather(values, start, length, b)])
        keys = (tags << np.uint64(32)) | gathered.astype(np.uint64)
        keys.sort()
        shared = keys[1:][keys[1:] == keys[:-1]] >> np.uint64(32)
        common = np.bincount(shared.astype(np.int64), minlength=len(a))
        union = length[a] + length[b] - common
        out[first : first + chunk] = np.where(union > 0, common / np.maximum(union, 1), 1.0)
    return out


def _gather(values: np.ndarray, start: np.ndarray, length: np.ndarray, positions: np.ndarray) -> np.ndarray:
    lengths = length[positions]
    ends = np.cumsum(lengths)
    index = np.arange(ends[-1] if len(ends) else 0) + np.repeat(start[positions] - (ends - lengths), lengths)
    return values[index]
