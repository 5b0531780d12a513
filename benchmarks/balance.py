"""Balance benchmark: does hierarchical k-means with resampling spread centroids over the
support of a long-tailed mixture, and how fast (Vo et al. 2024, the issue's figures for the reference
implementation: 440-459 of 500 components covered, 1-2 centroids on each of the 10 largest,
about 77 s on 2 cores; plain FAISS k-means: 251 covered, 63 on the largest, 2.4 s).

    python benchmarks/balance.py [--docs 50000] [--components 500]

A Gaussian mixture in 384 dimensions with Zipf component sizes; level-1 centroids are scored by
the components they land nearest to: components covered, and centroids on the largest ten.
(The entropy of cluster sizes is the wrong measure: it falls when resampling works.)
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from curation.clusters.hierarchical import HierarchicalKMeans
from curation.clusters.kmeans import assign, kmeans


def mixture(docs: int, components: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, components + 1)
    sizes = np.maximum(1, np.round(weights / weights.sum() * docs)).astype(int)
    means = rng.standard_normal((components, dim)).astype(np.float32)
    points = np.concatenate([m + 0.3 * rng.standard_normal((s, dim)).astype(np.float32) for m, s in zip(means, sizes, strict=True)])
    return points, means


def coverage(centroids: np.ndarray, means: np.ndarray) -> tuple[int, list[int]]:
    nearest, _ = assign(centroids, means)
    counts = np.bincount(nearest, minlength=len(means))
    return int((counts > 0).sum()), counts[:10].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--components", type=int, default=500)
    args = parser.parse_args()
    x, means = mixture(args.docs, args.components, 384)
    k = args.components
    runs = [
        ("plain FAISS k-means (random init, 20 iterations)", lambda: _faiss_plain(x, k)),
        ("k-means++ then 20 Lloyd iterations", lambda: kmeans(x, k, seed=1)),
    ]
    for steps, iterations in ((1, 20), (3, 20), (3, 10), (10, 20)):
        runs.append((f"hierarchical {k}/{k // 10}/{k // 100}, {steps} resampling steps, {iterations} iterations",
                     lambda s=steps, i=iterations: HierarchicalKMeans((k, k // 10, k // 100), (s,) * 3, iterations=i, seed=0).fit(x).centroids_[0]))
    print(f"\n{len(x):,} points x 384, {k} Zipf components, 2 cores\n")
    print("| method | seconds | components covered | centroids on the 10 largest |")
    print("|---|---:|---:|---|")
    for name, run in runs:
        started = time.time()
        centroids = run()
        seconds = time.time() - started
        covered, largest = coverage(centroids, means)
        print(f"| {name} | {seconds:.1f} | {covered} of {k} | {', '.join(map(str, largest))} |", flush=True)


def _faiss_plain(x: np.ndarray, k: int) -> np.ndarray:
    model = faiss.Kmeans(x.shape[1], k, niter=20, seed=1)
    model.train(x)
    return model.centroids


if __name__ == "__main__":
    main()
