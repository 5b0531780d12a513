"""SemDeDup: semantic near-duplicates by cosine similarity of embeddings, compared only inside
k-means clusters (Abbas and others, 2023, arXiv:2303.09540).

    run(corpus_url, SemdedupConfig(eps=(0.05,)))

Inside each level-1 cluster the documents are ordered by the keep policy (``hard``: farthest
from the centroid first, the paper's default; ``easy``: closest first; ``random``); a document
is removed when its cosine similarity to any earlier one exceeds 1 - eps, whether or not that
earlier one is itself removed (the reference's rule), so the first of every group of
near-duplicates survives. Similarities are computed in blocks of rows, so memory holds a block
of a cluster's similarity matrix, never the whole of a large one.

The clusters are the clusters stage's level 1 when it is current; otherwise a flat spherical
k-means with ``clusters`` clusters, fitted on a sample of at most SAMPLE_CAP vectors.

Partitioned, so that no process loads the corpus's vectors: each docs part's vectors (float16)
are shuffled through the staging area into buckets of whole clusters; one task per bucket
compares inside its clusters and writes the outcome by docs part; one task per part writes its
attrs. The buckets are the corpus's documents over ``partition_rows``. keep=random draws each
cluster's order from its own generator (the seed and the cluster), so no bucket depends on
another.
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, field_validator

from curation.clusters.kmeans import assign, kmeans
from curation.corpus import write_bytes_atomic, write_parquet_atomic
from curation.embed.stage import read_vectors
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part

BLOCK_CELLS = 1 << 24  # 64 MB of float32 similarities at a time
SAMPLE_CAP = 262_144  # vectors the k-means is fitted on, at most (256 per cluster below that)


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
    # The answer does not depend on it, so it is not part of the config's fingerprint.
    partition_rows: int = Field(
        1_000_000, ge=1, exclude=True,
        description="Documents per bucket of whole clusters (about; it bounds a task's memory).")

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


def buckets(plan: StagePlan) -> list[int]:
    return list(range(max(1, -(-sum(plan.part_rows) // plan.config.partition_rows))))


def fit_clusters(plan: StagePlan) -> None:
    """The k-means centroids when the clusters stage is not current, fitted on a seeded sample."""
    corpus, config = plan.corpus, plan.config
    if corpus.is_current("clusters"):
        return
    total = sum(plan.part_rows)
    k = config.clusters or max(2, total // 50)
    sample = np.concatenate([read_vectors(corpus, part, np.float16)[1][rows] for part, rows in
                             plan.sample_rows(min(total, 256 * k, SAMPLE_CAP), config.seed)])
    centroids = kmeans(sample.astype(np.float32), k, seed=config.seed, spherical=True)
    write_bytes_atomic(corpus.fs, f"{plan.staging}/centroids.npy", _npy(centroids))


def bucket_part(plan: StagePlan, part: str) -> None:
    """Map step: one part's vectors, with their cluster and document number, into a file per
    bucket (a cluster's bucket is its number modulo the buckets)."""
    corpus = plan.corpus
    ids, vectors = read_vectors(corpus, part, np.float16)
    labels = _labels(plan, part, vectors)
    count = len(buckets(plan))
    docs = plan.part_offsets()[part] + np.arange(len(vectors), dtype=np.int64)
    width = vectors.shape[1] * 2
    for bucket in range(count):
        mine = labels % count == bucket
        write_parquet_atomic(corpus.fs, f"{plan.staging}/buckets/{bucket}/{part}.parquet", pa.table({
            "doc": docs[mine], "id": ids.combine_chunks().filter(pa.array(mine)), "cluster": labels[mine],
            "vector": pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), int(mine.sum()),
                                                           [None, pa.py_buffer(np.ascontiguousarray(vectors[mine]).tobytes())]),
        }))


def _labels(plan: StagePlan, part: str, vectors: np.ndarray) -> np.ndarray:
    corpus = plan.corpus
    if corpus.is_current("clusters"):
        return corpus.read_part("attrs/clusters", part, ["level_1"])["level_1"].to_numpy().astype(np.int64)
    with corpus.fs.open(f"{plan.staging}/centroids.npy", "rb") as handle:
        centroids = np.load(handle)
    return np.concatenate([assign(vectors[s : s + 65536].astype(np.float32), centroids)[0]
                           for s in range(0, len(vectors), 65536)]) if len(vectors) else np.zeros(0, np.int64)


def compare_bucket(plan: StagePlan, bucket: int) -> None:
    """One bucket's task: inside each of its clusters, each document's largest similarity to an
    earlier one in keep order and that one's id, written by docs part."""
    corpus, config = plan.corpus, plan.config
    tables = []
    for part in plan.parts:
        with corpus.fs.open(f"{plan.staging}/buckets/{bucket}/{part}.parquet", "rb") as handle:
            tables.append(pq.read_table(handle))
    rows = pa.concat_tables(tables)
    if not len(rows):
        return
    docs, labels, ids = rows["doc"].to_numpy(), rows["cluster"].to_numpy(), rows["id"].to_numpy(zero_copy_only=False)
    packed = rows["vector"].combine_chunks()
    width = packed.type.byte_width // 2
    vectors = np.frombuffer(packed.buffers()[1], np.float16, count=len(rows) * width,
                            offset=packed.offset * packed.type.byte_width).reshape(len(rows), width)
    similarity = np.full(len(rows), np.nan, dtype=np.float32)  # NaN: first of its cluster in keep order
    duplicate_of = np.full(len(rows), -1, dtype=np.int64)
    order = np.argsort(labels, kind="stable")  # in a cluster, corpus order
    for members in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1):
        if len(members) < 2:
            continue
        cluster_vectors = vectors[members].astype(np.float32)
        centroid = cluster_vectors.mean(axis=0)  # the k-means centroid, once assignments settle
        centroid /= max(np.linalg.norm(centroid), 1e-12)
        rng = np.random.default_rng([config.seed, int(labels[members[0]])])
        order_in_cluster = keep_order(1 - cluster_vectors @ centroid, config.keep, rng)
        ranked = members[order_in_cluster]
        best, which = max_earlier_similarity(cluster_vectors[order_in_cluster])
        similarity[ranked[1:]] = best[1:]
        duplicate_of[ranked[1:]] = ranked[which[1:]]
    starts = np.array(list(plan.part_offsets().values()), dtype=np.int64)
    index = np.searchsorted(starts, docs, side="right") - 1
    for i in np.unique(index):
        mine = index == i
        write_parquet_atomic(corpus.fs, f"{plan.staging}/compared/{plan.parts[i]}/{bucket}.parquet", pa.table({
            "row": pa.array(docs[mine] - starts[i], pa.int64()),
            "cluster": pa.array(labels[mine].astype(np.int32)),
            "max_similarity": pa.array(similarity[mine]),
            "duplicate_of": pa.array(np.where(duplicate_of[mine] < 0, None, ids[np.maximum(duplicate_of[mine], 0)]), pa.string()),
        }))


def mark_part(plan: StagePlan, part: str) -> None:
    """Map step: attrs of one docs part, row-aligned with it, from what its buckets found."""
    corpus, eps = plan.corpus, plan.config.eps[0]
    folder = f"{plan.staging}/compared/{part}"
    tables = []
    for path in sorted(corpus.fs.ls(folder, detail=False)) if corpus.fs.isdir(folder) else []:
        with corpus.fs.open(path, "rb") as handle:
            tables.append(pq.read_table(handle))
    compared = pa.concat_tables(tables)
    compared = compared.take(pc.sort_indices(compared["row"]))
    ids = corpus.read_part("embeddings", part, ["id"])["id"]
    similarity = compared["max_similarity"].to_numpy()
    keep = ~(similarity > 1 - eps)
    kept = pa.array(keep)
    write_parquet_atomic(corpus.fs, plan.staged_part(part), pa.table({
        "id": ids.combine_chunks(),
        "cluster": compared["cluster"],
        "max_similarity": pa.array(similarity, from_pandas=True),
        "keep": kept,
        "duplicate_of": pc.if_else(kept, pa.nulls(len(keep), pa.string()), compared["duplicate_of"]),
        "reason": pc.if_else(kept, pa.nulls(len(keep), pa.string()), f"eps_{eps}"),
    }))


def publish_marks(plan: StagePlan) -> StageResult:
    """Publish attrs/semdedup; what each eps would keep, counted a part at a time."""
    corpus, config = plan.corpus, plan.config
    plan.check_staged_parts("attrs")
    kept_by_eps = dict.fromkeys(config.eps, 0)
    for part in plan.parts:
        with corpus.fs.open(plan.staged_part(part), "rb") as handle:
            similarity = pq.read_table(handle, columns=["max_similarity"])["max_similarity"].to_numpy(zero_copy_only=False)
        for eps in config.eps:
            kept_by_eps[eps] += int(np.sum(~(similarity > 1 - eps)))
    total = sum(plan.part_rows)
    plan.publish_staged_parts("attrs/semdedup")
    source = "cluster stage level 1" if corpus.is_current("clusters") else f"spherical k-means, k={_fitted_k(plan)}"
    return StageResult(total, kept_by_eps[config.eps[0]], {
        "clusters_from": source, "kept_fraction_by_eps": {str(eps): kept / total for eps, kept in kept_by_eps.items()},
        "buckets": len(buckets(plan))})


def _fitted_k(plan: StagePlan) -> int:
    with plan.corpus.fs.open(f"{plan.staging}/centroids.npy", "rb") as handle:
        return len(np.load(handle))


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


STAGE = Stage(
    name="semdedup",
    config=SemdedupConfig,
    reads=("ingest", "embed"),
    reads_if_present=("clusters",),
    reasons=("eps_<eps>",),
    steps=(Step(fit_clusters), Step(bucket_part, over=each_part), Step(compare_bucket, over=buckets, unit="buckets"),
           Step(mark_part, over=each_part), Step(publish_marks)),
)
