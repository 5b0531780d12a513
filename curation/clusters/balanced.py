"""Hierarchical balanced sampling over a cluster tree (Vo et al. 2024, arXiv:2405.15613).

    picks = balanced_sample(labels, distance, parents, target=10_000, multiplier=1,
                            strategy="random", seed=0)       # document rows, repeats allowed

Water-filling: at the top level every cluster gets the same quota x (or x + 1) unless it holds
fewer than x documents (times the multiplier), in which case it is taken whole; inside each
cluster its children share its quota by the same rule, down to the level-1 clusters, which give
whole copies of their members and then ``random`` members or the ``closest`` to their centroid.
"""

from __future__ import annotations

import numpy as np

STRATEGIES = ("random", "closest")


def allocate(sizes: np.ndarray, target: int, multiplier: int, rng: np.random.Generator) -> np.ndarray:
    """Quota per cluster: the largest x with sum(min(x, cap)) <= target, then +1 for randomly
    chosen clusters that can take more until the quotas sum to the target (cap = sizes x
    multiplier). All of every cluster when the caps sum to no more than the target."""
    cap = np.asarray(sizes, dtype=np.int64) * multiplier
    if cap.sum() <= target:
        return cap
    low, high = 0, int(cap.max())
    while low < high:
        middle = (low + high + 1) // 2
        if np.minimum(middle, cap).sum() <= target:
            low = middle
        else:
            high = middle - 1
    quota = np.minimum(low, cap)
    room = np.flatnonzero(cap > low)
    quota[rng.choice(room, target - int(quota.sum()), replace=False)] += 1
    return quota


def balanced_sample(labels: np.ndarray, distance: np.ndarray, parents: list[np.ndarray], target: int,
                    multiplier: int = 1, strategy: str = "random", seed: int = 0) -> np.ndarray:
    """Rows chosen by hierarchical water-filling. ``labels`` is each row's level-1 cluster,
    ``distance`` its distance to that centroid, ``parents[t]`` the level-(t+2) cluster of each
    level-(t+1) cluster. Returns min(target, multiplier x rows) row numbers, sorted, a row
    repeated as often as it was taken."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    rng = np.random.default_rng(seed)
    k1 = max(int(labels.max()) + 1 if len(labels) else 0, len(parents[0]) if parents else 0)
    members = _members(labels, distance, k1)
    # Leaf sizes of every cluster at every level, counted in documents.
    sizes = [np.bincount(labels, minlength=k1)]
    for parent in parents:
        sizes.append(np.bincount(parent, weights=sizes[-1], minlength=int(parent.max()) + 1).astype(np.int64))
    children = [_groups(parent, len(sizes[t + 1])) for t, parent in enumerate(parents)]

    picks: list[np.ndarray] = []

    def sample(level: int, cluster: int, quota: int) -> None:
        if quota == 0:
            return
        if level == 0:
            picks.append(_take(members[cluster], quota, strategy, rng))
            return
        kids = children[level - 1][cluster]
        for kid, kid_quota in zip(kids, allocate(sizes[level - 1][kids], quota, multiplier, rng), strict=True):
            sample(level - 1, int(kid), int(kid_quota))

    top = len(sizes) - 1
    for cluster, quota in enumerate(allocate(sizes[top], target, multiplier, rng)):
        sample(top, cluster, int(quota))
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, dtype=np.int64)


def _members(labels: np.ndarray, distance: np.ndarray, clusters: int) -> list[np.ndarray]:
    """Rows of each level-1 cluster, nearest to its centroid first (the closest strategy needs it)."""
    order = np.lexsort((np.arange(len(labels)), distance, labels))
    return np.split(order, np.searchsorted(labels[order], np.arange(1, clusters)))


def _groups(parent: np.ndarray, count: int) -> list[np.ndarray]:
    order = np.argsort(parent, kind="stable")
    return np.split(order, np.searchsorted(parent[order], np.arange(1, count)))


def _take(members: np.ndarray, quota: int, strategy: str, rng: np.random.Generator) -> np.ndarray:
    whole, rest = divmod(quota, len(members))
    extra = members[:rest] if strategy == "closest" else rng.choice(members, rest, replace=False)
    return np.concatenate([np.tile(members, whole), extra])
