"""SemDeDup: semantic near-duplicates by cosine similarity of embeddings, compared only inside
k-means clusters (Abbas and others, 2023, arXiv:2303.09540).

    run(corpus_url, SemdedupConfig(eps=(0.05,)))   # curation.stage.run: one global step

Inside each level-1 cluster the documents are ordered by the keep policy (``hard``: farthest
from the centroid first, the paper's default; ``easy``: closest first; ``random``); a document
is removed when its cosine similarity to any earlier one exceeds 1 - eps, whether or not that
earlier one is itself removed (the reference's rule), so the first of every group of
near-duplicates survives. Similarities are computed in blocks of rows, so memory holds a block
of a cluster's similarity matrix, never the whole of a large one.

The clusters are the clusters stage's level 1 when it is current; otherwise a flat spherical
k-means with ``clusters`` clusters. The embeddings are held in memory as float16
(n x d x 2 bytes: 768 MB for a million 384-d vectors).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from curation.clusters.kmeans import assign, kmeans
from curation.corpus import Corpus, write_parquet_atomic
from curation.embed.stage import read_vectors
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step

BLOCK_CELLS = 1 << 24  # 64 MB of float32 similarities at a time


class SemdedupConfig(StageConfig):
    eps: tuple[float, ...] = Field(
        (0.05,), min_length=1,
        description="Remove a document whose cosine similarity to an earlier one exceeds 1 - eps. "
                    "Give several to see the fraction each keeps; the first decides.")
    keep: Literal["hard", "easy", "random"] = Field(
        "hard", description="Which of a group survives: hard = farthest from the centroid, easy = closest.")
    clusters: int | None = Field(None, ge=2, description="k-means clusters when the clusters stage has not run "
                                                         "(default docs / 50).")
    seed: int = Field(0, description="Seed of the k-means and of keep=random.")

    @field_validator("eps")
    @classmethod
    def _in_range(cls, eps: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 <= e < 1.0 for e in eps):
            raise ValueError(f"every eps must be in [0, 1), not {list(eps)}")
        return eps


def max_earlier_similarity(vectors: np.ndarray, cells: int = BLOCK_CELLS) -> tuple[np.ndarray, np.ndarray]:
    """For each row j, the largest cosine similarity to a row i < j and that i (-1 for row 0).
    ``vectors`` are L2-normalised rows in keep order. Rows go in blocks sized so that a block of
    the similarity matrix holds about ``cells`` values, whatever the size of the cluster."""
    n = len(vectors)
    best = np.full(n, -np.inf, dtype=np.float32)
    which = np.full(n, -1, dtype=np.int64)
    block = max(1, cells // max(n, 1))
    for start in range(1, n, block):
        stop = min(start + block, n)
        similarity = vectors[start:stop] @ vectors[:stop].T
        # Only earlier rows count: in the square of the block itself, the diagonal and above go.
        square = similarity[:, start:stop]
        square[np.triu_indices(stop - start)] = -np.inf
        which[start:stop] = np.argmax(similarity, axis=1)
        best[start:stop] = similarity[np.arange(stop - start), which[start:stop]]
    return best, which


def keep_order(distance: np.ndarray, policy: str, rng: np.random.Generator) -> np.ndarray:
    if policy == "hard":
        return np.argsort(-distance, kind="stable")
    if policy == "easy":
        return np.argsort(distance, kind="stable")
    return rng.permutation(len(distance))


def find_semantic_duplicates(plan: StagePlan) -> StageResult:
    corpus, config = plan.corpus, plan.config
    ids, vectors = _all_vectors(corpus, plan.parts)
    labels, source = _clusters(corpus, vectors, config)
    rng = np.random.default_rng(config.seed)
    similarity = np.full(len(ids), np.nan, dtype=np.float32)  # NaN: first of its cluster in keep order
    duplicate_of = np.full(len(ids), -1, dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    for members in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1):
        if len(members) < 2:
            continue
        cluster_vectors = vectors[members].astype(np.float32)
        centroid = cluster_vectors.mean(axis=0)  # the k-means centroid, once assignments settle
        centroid /= max(np.linalg.norm(centroid), 1e-12)
        order_in_cluster = keep_order(1 - cluster_vectors @ centroid, config.keep, rng)
        ranked = members[order_in_cluster]
        best, which = max_earlier_similarity(cluster_vectors[order_in_cluster])
        similarity[ranked[1:]] = best[1:]
        duplicate_of[ranked[1:]] = ranked[which[1:]]
    kept = {str(eps): float(np.mean(~(similarity > 1 - eps))) for eps in config.eps}
    keep = ~(similarity > 1 - config.eps[0])
    _write_attrs(plan, ids, labels, similarity, keep, duplicate_of)
    return StageResult(len(ids), int(keep.sum()), {"clusters_from": source, "kept_fraction_by_eps": kept})


def _all_vectors(corpus: Corpus, parts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    ids, vectors = [], []
    for part in parts:
        part_ids, part_vectors = read_vectors(corpus, part, np.float16)
        ids.append(part_ids.to_numpy())
        vectors.append(part_vectors)
    return np.concatenate(ids), np.concatenate(vectors)


def _clusters(corpus: Corpus, vectors: np.ndarray, config: SemdedupConfig) -> tuple[np.ndarray, str]:
    """Level-1 clusters of the clusters stage when it is current, else a k-means."""
    if corpus.is_current("clusters"):
        return corpus.sql("SELECT level_1 FROM clusters")["level_1"].to_numpy().astype(np.int64), "cluster stage level 1"
    k = config.clusters or max(2, len(vectors) // 50)
    sample = vectors[np.random.default_rng(config.seed).choice(len(vectors), min(len(vectors), 256 * k), replace=False)]
    centroids = kmeans(sample.astype(np.float32), k, seed=config.seed, spherical=True)
    labels = np.concatenate([assign(vectors[s : s + 65536].astype(np.float32), centroids)[0] for s in range(0, len(vectors), 65536)])
    return labels, f"spherical k-means, k={len(centroids)}"


def _write_attrs(plan: StagePlan, ids: np.ndarray, labels: np.ndarray, similarity: np.ndarray, keep: np.ndarray,
                 duplicate_of: np.ndarray) -> None:
    start = 0
    for part, rows in zip(plan.parts, plan.part_rows, strict=True):
        end = start + rows
        duplicate = duplicate_of[start:end]
        kept = pa.array(keep[start:end])
        write_parquet_atomic(plan.corpus.fs, plan.staged_part(part), pa.table({
            "id": pa.array(ids[start:end], pa.string()),
            "cluster": pa.array(labels[start:end].astype(np.int32)),
            "max_similarity": pa.array(similarity[start:end], from_pandas=True),
            "keep": kept,
            "duplicate_of": pa.array(np.where(keep[start:end] | (duplicate < 0), None, ids[np.maximum(duplicate, 0)]), pa.string()),
            "reason": pc.if_else(kept, pa.nulls(rows, pa.string()), f"eps_{plan.config.eps[0]}"),
        }))
        start = end
    plan.publish_staged_parts("attrs/semdedup")


STAGE = Stage(
    name="semdedup",
    config=SemdedupConfig,
    reads=("ingest", "embed"),
    reads_if_present=("clusters",),
    reasons=("eps_<eps>",),
    steps=(Step(find_semantic_duplicates),),
)
