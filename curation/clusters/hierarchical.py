"""Hierarchical k-means with resampling (Vo et al. 2024, arXiv:2405.15613), as an estimator.

    model = HierarchicalKMeans(ks=(1000, 100, 10), resample_steps=(3, 3, 3),
                               resample_sizes=(10, 5, 3), seed=0).fit(x)
    model.centroids_[t]     # level t+1 centroids (k_t x d)
    model.parents_[t]       # for t >= 1: the level-(t+1) cluster of each level-t centroid
    labels = model.predict(x)          # (n, levels): each point's cluster at every level

Level 1 clusters the points, level t the centroids of level t-1. At each level, after a plain
k-means, every resampling step takes the ``resample_size`` inputs closest to each centroid,
runs a fresh k-means++ seeded k-means on that set, and reassigns all inputs to the new
centroids. Dense regions then no longer attract centroids in proportion to their density, so
the centroids spread over the support of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.clusters.kmeans import assign, kmeans
from curation.errors import UserError

DEFAULT_RESAMPLE_STEPS = 3


@dataclass
class HierarchicalKMeans:
    ks: tuple[int, ...]
    # Per level; default 3 at every level. The reference runs 10; on a Zipf mixture (benchmarks/
    # balance.py) 3 cover as many components as 10 (490 and 489 of 500) in 60% of the time.
    resample_steps: tuple[int, ...] | None = None
    resample_sizes: tuple[int, ...] | None = None  # per level; default half the mean cluster size
    iterations: int = 20
    spherical: bool = False
    seed: int = 0

    def __post_init__(self):
        self.ks = tuple(int(k) for k in self.ks)
        if not self.ks or any(k < 1 for k in self.ks):
            raise UserError(f"every level needs k >= 1, not {list(self.ks)}")
        for name in ("resample_steps", "resample_sizes"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.ks):
                raise UserError(f"{name.replace('_', ' ')} needs one value per level ({len(self.ks)}), not {list(value)}")

    def fit(self, x: np.ndarray) -> HierarchicalKMeans:
        self.centroids_: list[np.ndarray] = []
        self.parents_: list[np.ndarray] = []
        inputs = np.ascontiguousarray(x, dtype=np.float32)
        for level, k in enumerate(self.ks):
            centroids, labels = self._level(inputs, k, level)
            self.centroids_.append(centroids)
            if level:
                self.parents_.append(labels)
            inputs = centroids
        return self

    def _level(self, inputs: np.ndarray, k: int, level: int) -> tuple[np.ndarray, np.ndarray]:
        seed = self.seed * 1000 + level * 100
        centroids = self._kmeans(inputs, k, seed)
        labels, distances = assign(inputs, centroids)
        steps = DEFAULT_RESAMPLE_STEPS if self.resample_steps is None else self.resample_steps[level]
        size = (max(1, len(inputs) // (2 * len(centroids))) if self.resample_sizes is None
                else self.resample_sizes[level])
        if size <= 1:  # the reference skips resampling then
            return centroids, labels
        for step in range(steps):
            chosen = closest_per_cluster(labels, distances, size)
            centroids = self._kmeans(inputs[chosen], k, seed + step + 1)
            labels, distances = assign(inputs, centroids)
        return centroids, labels

    def _kmeans(self, x: np.ndarray, k: int, seed: int) -> np.ndarray:
        return kmeans(x, k, iterations=self.iterations, seed=seed, spherical=self.spherical)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels, distance): each row's cluster at every level (n x levels) and its distance
        to its level-1 centroid."""
        first, distance = assign(x, self.centroids_[0])
        labels = [first]
        for parents in self.parents_:
            labels.append(parents[labels[-1]])
        return np.stack(labels, axis=1), distance


def closest_per_cluster(labels: np.ndarray, distances: np.ndarray, size: int) -> np.ndarray:
    """Indices of the ``size`` points closest to their centroid in every cluster (all of a
    smaller cluster)."""
    order = np.lexsort((distances, labels))
    sorted_labels = labels[order]
    first_of_cluster = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.arange(len(order)) - first_of_cluster
    return np.sort(order[rank < size])
