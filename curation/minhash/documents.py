"""The documents fuzzy dedup compares, numbered across one or two corpora.

A run numbers the documents of its corpus 0..n-1 in corpus order. A run against an older corpus
numbers the old documents first and the new ones after them, so "earlier" means the same thing
as in a run over both together. A `Segment` is one corpus's share of that numbering, with the
folder that holds its signatures; `Involved` loads what the global step needs of just the
documents that have a candidate pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.corpus import Corpus
from curation.minhash.shingles import shingle_hashes
from curation.minhash.signatures import estimated_similarity


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

    def read(self, kind: str, part: str, columns: list[str]) -> pa.Table:
        with self.corpus.fs.open(self.table(kind, part), "rb") as handle:
            return pq.read_table(handle, columns=columns)


def by_part(segments: list[Segment], docs: np.ndarray) -> Iterator[tuple[Segment, str, np.ndarray]]:
    """(segment, part, row numbers inside that part) for the parts holding any of ``docs`` (sorted)."""
    for segment in segments:
        for (part, start), rows in zip(segment.part_starts().items(), segment.part_rows, strict=True):
            inside = docs[(docs >= start) & (docs < start + rows)]
            if len(inside):
                yield segment, part, inside - start


def take(table: pa.Table, rows: np.ndarray) -> pa.Table:
    return table.take(pa.array(rows))


class Involved:
    """The documents that have at least one candidate, by number (``docs``, sorted), with their
    ids, lengths and signatures; arrays indexed by position in ``docs``."""

    def __init__(self, segments: list[Segment], docs: np.ndarray, num_perm: int):
        self.segments, self.docs = segments, docs
        ids, chars, signatures = [], [], []
        for segment, part, local in by_part(segments, docs):
            table = take(segment.read("signatures", part, ["id", "chars", "signature"]), local)
            ids += table["id"].to_pylist()
            chars.append(table["chars"].to_numpy())
            signatures.append(table["signature"].combine_chunks().flatten().to_numpy())
        self.ids = np.array(ids, dtype=object)
        self.chars = np.concatenate(chars) if chars else np.zeros(0, dtype=np.int64)
        values = np.concatenate(signatures) if signatures else np.zeros(0, dtype=np.uint16)
        self.signatures = values.reshape(len(docs), num_perm)

    def __len__(self) -> int:
        return len(self.docs)

    def position(self, docs: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.docs, docs)

    def estimated_similarity(self, u: np.ndarray, v: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
        """The share of equal minhashes of each pair of positions: the signatures' Jaccard estimate."""
        out = np.empty(len(u), dtype=np.float32)
        for start in range(0, len(u), chunk):
            stop = start + chunk
            out[start:stop] = estimated_similarity(self.signatures[u[start:stop]], self.signatures[v[start:stop]])
        return out


class ExactShingles:
    """Shingle sets of the involved documents that need exact Jaccard, read from their texts on
    demand by `add`: one flat array of sorted 32-bit shingle hashes, a slice per document (a
    Python set would take 30 times the memory; 32 bits leave a chance collision at about 1e-5
    of a pair of 250-shingle documents)."""

    def __init__(self, involved: Involved, ngram: int):
        self.involved, self.ngram = involved, ngram
        self.start = np.full(len(involved), -1, dtype=np.int64)
        self.length = np.zeros(len(involved), dtype=np.int64)
        self.values = np.zeros(0, dtype=np.uint32)

    def add(self, positions: np.ndarray) -> None:
        positions = np.unique(positions)
        missing = positions[self.start[positions] < 0]
        chunks, size = [self.values], len(self.values)
        for segment, part, local in by_part(self.involved.segments, self.involved.docs[missing]):
            texts = take(segment.corpus.read_part("docs", part, ["text"]), local)["text"]
            hashes, bounds = shingle_hashes(texts.combine_chunks(), self.ngram)
            doc = np.repeat(np.arange(len(local), dtype=np.uint64), np.diff(bounds))
            keys = np.sort((doc << np.uint64(32)) | (hashes & np.uint64(0xFFFFFFFF)))
            keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]  # each doc's set, sorted
            counts = np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=len(local))
            here = self.involved.position(local + segment.part_starts()[part])
            self.start[here] = size + np.concatenate([[0], np.cumsum(counts)[:-1]])
            self.length[here] = counts
            chunks.append(keys.astype(np.uint32))
            size += len(keys)
        self.values = np.concatenate(chunks)

    def pairs(self, u: np.ndarray, v: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Jaccard of each pair of positions: the shingles of both, tagged by pair and sorted;
        a value seen twice in one pair is shared."""
        out = np.empty(len(u), dtype=np.float32)
        for first in range(0, len(u), chunk):
            a, b = u[first : first + chunk], v[first : first + chunk]
            pair = np.arange(len(a), dtype=np.uint64)
            tags = np.concatenate([np.repeat(pair, self.length[a]), np.repeat(pair, self.length[b])])
            keys = (tags << np.uint64(32)) | np.concatenate([self._gather(a), self._gather(b)]).astype(np.uint64)
            keys.sort()
            shared = keys[1:][keys[1:] == keys[:-1]] >> np.uint64(32)
            common = np.bincount(shared.astype(np.int64), minlength=len(a))
            union = self.length[a] + self.length[b] - common
            out[first : first + chunk] = np.where(union > 0, common / np.maximum(union, 1), 1.0)
        return out

    def _gather(self, positions: np.ndarray) -> np.ndarray:
        lengths = self.length[positions]
        ends = np.cumsum(lengths)
        index = np.arange(ends[-1] if len(ends) else 0) + np.repeat(self.start[positions] - (ends - lengths), lengths)
        return self.values[index]


class Similarity:
    """Jaccard similarity between involved documents (by position): the signatures' estimate,
    or with ``exact`` the true shingle Jaccard, computed only where the estimate comes within
    ``margin`` of the threshold (its standard deviation is about 0.04 at 112 permutations)."""

    def __init__(self, involved: Involved, ngram: int, threshold: float, exact: bool, margin: float = 0.15):
        self.involved, self.threshold, self.margin = involved, threshold, margin
        self.exact = ExactShingles(involved, ngram) if exact else None

    def pairs(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        similarity = self.involved.estimated_similarity(u, v)
        if self.exact is None:
            return similarity
        near = np.flatnonzero(similarity >= self.threshold - self.margin)
        self.exact.add(np.concatenate([u[near], v[near]]))
        similarity[near] = self.exact.pairs(u[near], v[near])
        return similarity

    def prepare(self, positions: np.ndarray) -> None:
        """Load what comparing these documents with each other needs."""
        if self.exact is not None:
            self.exact.add(positions)

    def __call__(self, doc: int, others: np.ndarray) -> np.ndarray:
        if self.exact is None:
            return self.involved.estimated_similarity(np.full(len(others), doc), others)
        return self.exact.pairs(np.full(len(others), doc), others)
