"""A dependency-free CPU text encoder: hashed word 1- and 2-grams, TF-IDF, a sparse random
projection and an SVD fitted on a sample (latent semantic analysis over hashed features).

    encoder = HashingEncoder().fit(sample_texts)     # learns idf_ and components_
    vectors = encoder.encode(texts)                  # float32, L2-normalised, dim columns

Words are found and hashed by the MinHash tokeniser (lower case, digits to 0, punctuation
removed), vectorised over the whole batch. Each hashed feature is spread over ``spread`` of
``projected`` dimensions with random signs (a sparse Johnson-Lindenstrauss projection, so no
feature matrix is ever built); the SVD of a projected sample keeps the ``dim`` directions that
carry most of the sample's TF-IDF mass, which is what groups documents by topic rather than by
shared rare words.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curation.minhash.shingles import mix64, shingle_hashes

_BUCKETS = 1 << 20
_FIT_CHUNK = 2048


class HashingEncoder:
    name = "hashing"

    def __init__(self, dim: int = 256, projected: int = 2048, spread: int = 4, seed: int = 0):
        self.dim, self.projected, self.spread, self.seed = dim, projected, spread, seed

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, texts: list[str]) -> HashingEncoder:
        """Learn document frequencies and the SVD directions from a sample of texts."""
        df = np.zeros(_BUCKETS, dtype=np.int64)
        for start in range(0, len(texts), _FIT_CHUNK):
            df += np.bincount(self._features(texts[start : start + _FIT_CHUNK])[2], minlength=_BUCKETS)
        self.idf_ = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
        # The right singular vectors of the projected sample are the eigenvectors of its Gram
        # matrix, summed chunk by chunk: memory holds one chunk, not the whole sample.
        gram = np.zeros((self.projected, self.projected), dtype=np.float64)
        for start in range(0, len(texts), _FIT_CHUNK):
            chunk = self._project(*self._features(texts[start : start + _FIT_CHUNK])).astype(np.float64)
            gram += chunk.T @ chunk
        eigenvalues, eigenvectors = np.linalg.eigh(gram)
        self.components_ = np.ascontiguousarray(eigenvectors[:, ::-1][:, : self.dim], dtype=np.float32)
        return self

    def state(self) -> dict[str, np.ndarray]:
        return {"idf": self.idf_, "components": self.components_,
                "settings": np.array([self.dim, self.projected, self.spread, self.seed])}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> HashingEncoder:
        encoder = cls(*(int(v) for v in state["settings"]))
        encoder.idf_, encoder.components_ = state["idf"], state["components"]
        return encoder

    # -- encoding --------------------------------------------------------------------------
    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._project(*self._features(texts)) @ self.components_
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1)

    def _features(self, texts: list[str]) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """(texts, doc, bucket, count) for every distinct hashed word and word pair of each text."""
        array = pa.array(texts, pa.string())
        keys, docs = [], []
        for ngram in (1, 2):
            hashes, offsets = shingle_hashes(array, ngram)
            keys.append(hashes % np.uint64(_BUCKETS))
            docs.append(np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(offsets)))
        combined = np.concatenate(docs) * _BUCKETS + np.concatenate(keys).astype(np.int64)
        unique, counts = np.unique(combined, return_counts=True)
        return len(texts), unique // _BUCKETS, unique % _BUCKETS, counts

    def _project(self, rows: int, docs: np.ndarray, buckets: np.ndarray, counts: np.ndarray) -> np.ndarray:
        weights = (1 + np.log(counts)).astype(np.float32)  # sublinear term frequency
        if hasattr(self, "idf_"):
            weights *= self.idf_[buckets]
        out = np.zeros(rows * self.projected, dtype=np.float64)
        with np.errstate(over="ignore"):
            for k in range(self.spread):
                mixed = mix64(buckets.astype(np.uint64) * np.uint64(self.spread) + np.uint64(k + self.seed * 7919))
                column = (mixed % np.uint64(self.projected)).astype(np.int64)
                sign = np.where(mixed >> np.uint64(63), -1.0, 1.0)
                out += np.bincount(docs * self.projected + column, weights=sign * weights, minlength=len(out))
        out = out.reshape(rows, self.projected)
        # Unit rows, as LSA does: otherwise long documents dominate the SVD and the similarities.
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)
