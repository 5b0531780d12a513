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
    """Shingles of the involved documents that need exact Jaccard, as sorted arrays (a Python
    set would take 30 times the memory), read from their texts on demand by `add`."""

    def __init__(self, involved: Involved, ngram: int):
        self.involved, self.ngram = involved, ngram
        self.shingles: dict[int, np.ndarray] = {}

    def add(self, positions: np.ndarray) -> None:
        missing = np.array([p for p in np.unique(positions).tolist() if p not in self.shingles], dtype=np.int64)
        docs = self.involved.docs[missing]
        for segment, part, local in by_part(self.involved.segments, docs):
            texts = take(segment.corpus.read_part("docs", part, ["text"]), local)["text"]
            hashes, bounds = shingle_hashes(texts.combine_chunks(), self.ngram)
            start = segment.part_starts()[part]
            for i, position in enumerate(self.involved.position(local + start).tolist()):
                self.shingles[position] = np.unique(hashes[bounds[i] : bounds[i + 1]])

    def jaccard(self, doc: int, others: np.ndarray) -> np.ndarray:
        mine = self.shingles[doc]
        out = np.empty(len(others), dtype=np.float32)
        for k, other in enumerate(others.tolist()):
            theirs = self.shingles[other]
            common = len(np.intersect1d(mine, theirs, assume_unique=True))
            union = len(mine) + len(theirs) - common
            out[k] = common / union if union else 1.0
        return out


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
        for i in near.tolist():
            similarity[i] = self.exact.jaccard(int(u[i]), v[i : i + 1])[0]
        return similarity

    def prepare(self, positions: np.ndarray) -> None:
        """Load what comparing these documents with each other needs."""
        if self.exact is not None:
            self.exact.add(positions)

    def __call__(self, doc: int, others: np.ndarray) -> np.ndarray:
        if self.exact is None:
            return self.involved.estimated_similarity(np.full(len(others), doc), others)
        return self.exact.jaccard(doc, others)
