"""MinHash signatures and LSH band keys, vectorised over a batch of documents.

Permutation k is h_k(x) = (a_k * x + b_k) mod 2**64 with a_k odd, and its minhash keeps the top
32 bits (multiply-shift hashing: the high bits are the well-mixed ones). The same seed gives the
same permutations on every worker, so the same text always gets the same signature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.errors import UserError

EMPTY = np.uint32(0xFFFFFFFF)  # the signature of a document without shingles: matches nothing
_CHUNK = 1 << 13  # shingles per vectorised step: (num_perm x _CHUNK) uint64, 7 MB at 112, stays in cache


@dataclass(frozen=True)
class MinHashParams:
    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1

    def __post_init__(self):
        if self.ngram < 1 or self.bands < 1 or self.rows < 1:
            raise UserError("n-gram size, bands and rows must all be at least 1")

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def permutations(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        a = rng.integers(1, 2**63, self.num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        b = rng.integers(0, 2**63, self.num_perm, dtype=np.uint64)
        return a, b


def candidate_probability(similarity, bands: int, rows: int):
    """Probability that two documents of this Jaccard similarity (a number or an array) share at
    least one band."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def bands_rows_for(threshold: float, num_perm: int, false_positive_weight: float = 0.5) -> tuple[int, int]:
    """The (bands, rows) with bands * rows <= num_perm that minimise the weighted area of false
    positives (similarity below the threshold that becomes a candidate) and false negatives."""
    if not 0.0 < threshold < 1.0:
        raise UserError(f"the Jaccard threshold must be between 0 and 1, not {threshold}")
    grid = np.linspace(0.0, 1.0, 1001)
    below, above = grid[grid < threshold], grid[grid >= threshold]
    best, best_cost = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        false_positive = np.trapezoid(candidate_probability(below, bands, rows), below)
        false_negative = np.trapezoid(1 - candidate_probability(above, bands, rows), above)
        cost = false_positive_weight * false_positive + (1 - false_positive_weight) * false_negative
        if cost < best_cost:
            best, best_cost = (bands, rows), cost
    return best


def minhash_signatures(hashes: np.ndarray, offsets: np.ndarray, params: MinHashParams) -> np.ndarray:
    """(documents x num_perm) uint32; document i has the shingles hashes[offsets[i]:offsets[i+1]]."""
    a, b = params.permutations()
    docs = len(offsets) - 1
    minima = np.full((docs, params.num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
    values = np.empty((params.num_perm, _CHUNK), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, len(hashes), _CHUNK):
            end = min(start + _CHUNK, len(hashes))
            # The documents whose shingles lie in [start, end), each clipped to that range.
            first = np.searchsorted(offsets, start, side="right") - 1
            last = np.searchsorted(offsets, end - 1, side="right") - 1
            doc_ids = np.arange(first, last + 1)
            starts = np.maximum(offsets[doc_ids], start) - start
            ends = np.minimum(offsets[doc_ids + 1], end) - start
            present = ends > starts
            doc_ids, starts = doc_ids[present], starts[present]
            block = values[:, : end - start]
            np.multiply(a[:, None], hashes[None, start:end], out=block)
            block += b[:, None]
            chunk_minima = np.minimum.reduceat(block, starts, axis=1).T
            np.minimum(minima[doc_ids], chunk_minima, out=chunk_minima)
            minima[doc_ids] = chunk_minima
    signatures = (minima >> np.uint64(32)).astype(np.uint32)
    signatures[offsets[1:] == offsets[:-1]] = EMPTY
    return signatures


def band_keys(signatures: np.ndarray, params: MinHashParams) -> np.ndarray:
    """(documents x bands) int64: one key per band, equal when the band's rows are all equal."""
    keys = np.zeros((len(signatures), params.bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for row in range(params.rows):
            column = signatures[:, row :: params.rows][:, : params.bands].astype(np.uint64)
            keys = keys * np.uint64(0x9E3779B97F4A7C15) + column
            keys ^= keys >> np.uint64(29)
    return keys.view(np.int64)


def estimated_similarity(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Share of equal minhash values, row by row: an unbiased estimate of Jaccard similarity."""
    return (left == right).mean(axis=1)
