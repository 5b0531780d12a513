"""k-means on FAISS: k-means++ seeding, Lloyd iterations, nearest-centroid assignment.

FAISS does the heavy work (the Lloyd iterations and the nearest-centroid searches, on GPUs when
faiss-gpu sees any); the seeding is k-means++ as Vo et al.'s reference does it (greedy, with
2 + log k candidate trials per centroid), because the resampling steps of hierarchical k-means
only spread centroids over the support when each run is seeded that way (Vo et al. 2024).
"""

from __future__ import annotations

import contextlib
import math
import os

import faiss
import numpy as np

# Rows of distances computed at once while seeding: bounds memory to about 256 MB.
_SEED_CELLS = 1 << 25
SEED_POINTS_PER_CENTROID = 16


def gpu_count() -> int:
    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def kmeans_plusplus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k rows of ``x`` chosen by greedy k-means++ (Arthur and Vassilvitskii; sklearn's variant)."""
    n = len(x)
    trials = 2 + int(math.log(k))
    squared = np.einsum("ij,ij->i", x, x)
    chosen = [int(rng.integers(n))]
    closest = _squared_distances(x, squared, x[chosen]).ravel()
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # fewer distinct points than k: the rest are duplicates of chosen ones
            chosen.append(int(rng.integers(n)))
            continue
        candidates = np.searchsorted(np.cumsum(closest), rng.random(trials) * total)
        candidates = np.minimum(candidates, n - 1)
        distances = np.minimum(closest[None, :], _squared_distances(x, squared, x[candidates]).T)
        best = int(np.argmin(distances.sum(axis=1)))
        chosen.append(int(candidates[best]))
        closest = distances[best]
    return x[chosen].copy()


def _squared_distances(x: np.ndarray, squared: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """(len(x), len(centers)) squared L2 distances, never negative."""
    out = np.empty((len(x), len(centers)), dtype=np.float32)
    step = max(1, _SEED_CELLS // max(len(centers), 1))
    center_squared = np.einsum("ij,ij->i", centers, centers)
    for start in range(0, len(x), step):
        block = x[start : start + step]
        out[start : start + step] = squared[start : start + step, None] - 2 * block @ centers.T + center_squared[None, :]
    return np.maximum(out, 0, out=out)


def kmeans(x: np.ndarray, k: int, *, iterations: int = 20, seed: int = 0, spherical: bool = False,
           init: str = "k-means++") -> np.ndarray:
    """Centroids (k x d, float32) of ``x`` after Lloyd iterations from a k-means++ (or random)
    start; k is clipped to the number of points. Empty clusters keep a split of a large one
    (FAISS's rule)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = min(k, len(x))
    rng = np.random.default_rng(seed)
    if init == "k-means++":
        # Seeding reads every candidate point once per centroid (n x k x d); on a uniform
        # subsample of SEED_POINTS_PER_CENTROID per centroid it costs far less and, after the
        # Lloyd iterations on all points, spreads centroids as well (benchmarks/balance.py).
        candidates = x if len(x) <= SEED_POINTS_PER_CENTROID * k else x[rng.choice(len(x), SEED_POINTS_PER_CENTROID * k, replace=False)]
        start = kmeans_plusplus(candidates, k, rng)
    else:
        start = x[rng.choice(len(x), k, replace=False)].copy()
    if spherical:
        start /= np.maximum(np.linalg.norm(start, axis=1, keepdims=True), 1e-12)
    if k == 1:
        centroid = x.mean(axis=0, keepdims=True)
        return centroid / np.linalg.norm(centroid) if spherical and np.linalg.norm(centroid) > 0 else centroid
    model = faiss.Kmeans(
        x.shape[1], k, niter=iterations, seed=seed, spherical=spherical, gpu=gpu_count() > 0,
        max_points_per_centroid=len(x), min_points_per_centroid=1, verbose=False,
    )
    with _all_cores():
        model.train(x, init_centroids=start)
    return np.ascontiguousarray(model.centroids, dtype=np.float32)


@contextlib.contextmanager
def _all_cores():
    """FAISS on every core of the node while it fits. Dask starts its workers with
    OMP_NUM_THREADS=1, but a fit is one task the rest of its stage waits for (measured: level-1
    k-means of 256k x 384 vectors, k=1000, 49.5 s on one thread, 28.3 s on two)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def assign(x: np.ndarray, centroids: np.ndarray, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """(nearest centroid, L2 distance to it) for every row of ``x``, in chunks."""
    index = faiss.IndexFlatL2(centroids.shape[1])
    if gpu_count() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    labels = np.empty(len(x), dtype=np.int64)
    distances = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), chunk):
        block = np.ascontiguousarray(x[start : start + chunk], dtype=np.float32)
        squared, nearest = index.search(block, 1)
        labels[start : start + chunk] = nearest[:, 0]
        distances[start : start + chunk] = np.sqrt(np.maximum(squared[:, 0], 0))
    return labels, distances
