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
k-means with ``clusters`` clusters, fitted on a sample of at most SAMPLE_CAP vectors in one task.

Partitioned, so that no process loads the corpus's vectors: each docs part's vectors (float16)
are shuffled through the staging area into buckets of whole clusters; one task per slice of a
bucket compares inside its clusters and writes the outcome by docs part; one task per part
writes its attrs. The buckets are the corpus's documents over ``partition_rows``; a bucket is
cut into slices of its similarity blocks by cost, so one large cluster is spread over several
tasks. keep=random draws each cluster's order from its own generator (the seed and the
cluster), so no slice depends on another.
"""

from __future__ import annotations

import io
import math
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, field_validator

from curation.clusters.kmeans import assign, kmeans
from curation.corpus import write_bytes_atomic, write_parquet_atomic
from curation.duck import connect, quote_list, sql_file
from curation.embed.stage import read_vectors, sample_vectors
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
        250_000, ge=1, exclude=True,
        description="Documents per bucket of whole clusters (about; it bounds a task's memory: "
                    "192 MB of float16 384-d vectors at the default).")

    @field_validator("eps")
    @classmethod
    def _in_range(cls, eps: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 <= e < 1.0 for e in eps):
            raise ValueError(f"every eps must be in [0, 1), not {list(eps)}")
        return eps


def similarity_blocks(n: int, cells: int = BLOCK_CELLS) -> list[tuple[int, int]]:
    """The row blocks of a cluster of ``n``, each a block of the similarity matrix of about
    ``cells`` values, whatever the size of the cluster (row 0 has no earlier row)."""
    block = max(1, cells // max(n, 1))
    return [(start, min(start + block, n)) for start in range(1, n, block)]


def max_earlier_similarity(vectors: np.ndarray, cells: int = BLOCK_CELLS,
                           blocks: list[tuple[int, int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each row j, the largest cosine similarity to a row i < j and that i (-1 for row 0).
    ``vectors`` are L2-normalised rows in keep order. Only the rows of ``blocks`` (default all
    of ``similarity_blocks``) are computed; a block's rows get the same values whichever other
    blocks are computed beside it."""
    n = len(vectors)
    best = np.full(n, -np.inf, dtype=np.float32)
    which = np.full(n, -1, dtype=np.int64)
    for start, stop in similarity_blocks(n, cells) if blocks is None else blocks:
        similarity = vectors[start:stop] @ vectors[:stop].T
        # Only earlier rows count: in the square of the block itself, the diagonal and above go.
        # A boolean mask costs a quarter of the block; triu_indices' int64 pairs cost twice it.
        rows = np.arange(stop - start)
        similarity[:, start:stop][rows[:, None] <= rows[None, :]] = -np.inf
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


def slices(plan: StagePlan) -> list[tuple[int, int, int]]:
    """The compare tasks: (bucket, slice, slices of that bucket). Level-1 clusters are very
    unequal (the largest can hold a sixth of the corpus, and its cost grows with the square of
    its size), so a bucket is cut into slices of its similarity blocks of about equal cost,
    about a fraction 1 / (2 * buckets) of the whole each."""
    count = len(buckets(plan))
    files = [plan.corpus.to_uri(f"{plan.staging}/buckets/{b}/{part}.parquet") for b in range(count) for part in plan.parts]
    with connect(plan.corpus.fs) as connection:
        costs = dict(connection.sql(sql_file("semdedup_costs.sql", buckets=str(count), files=quote_list(files))).fetchall())
    total = sum(costs.values()) or 1.0
    cuts = {bucket: max(1, math.ceil(2 * count * costs.get(bucket, 0.0) / total)) for bucket in range(count)}
    return [(bucket, s, cuts[bucket]) for bucket in range(count) for s in range(cuts[bucket])]


def own_fit(plan: StagePlan) -> list[str]:
    """One task fitting the k-means on a worker, unless the clusters stage's are current."""
    return [] if plan.corpus.is_current("clusters") else ["k-means"]


def fit_clusters(plan: StagePlan, _task: str) -> None:
    """The k-means centroids, fitted on a seeded sample."""
    total = sum(plan.part_rows)
    k = plan.config.clusters or max(2, total // 50)
    sample = sample_vectors(plan, min(total, 256 * k, SAMPLE_CAP), plan.config.seed, np.float16)
    centroids = kmeans(sample, k, seed=plan.config.seed, spherical=True)
    write_bytes_atomic(plan.corpus.fs, f"{plan.staging}/centroids.npy", _npy(centroids))


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


def compare_slice(plan: StagePlan, item: tuple[int, int, int]) -> None:
    """One slice of a bucket: inside each of the bucket's clusters, for the documents of this
    slice's similarity blocks, the largest similarity to an earlier one in keep order and that
    one's id, written by docs part. Every slice orders the whole bucket the same way."""
    corpus, config = plan.corpus, plan.config
    bucket, piece, cuts = item
    rows, vectors = _read_bucket(plan, bucket)
    if not len(rows):
        return
    docs, labels, ids = rows["doc"].to_numpy(), rows["cluster"].to_numpy(), rows["id"].to_numpy(zero_copy_only=False)
    similarity = np.full(len(rows), np.nan, dtype=np.float32)  # NaN: first of its cluster in keep order
    duplicate_of = np.full(len(rows), -1, dtype=np.int64)
    done = np.zeros(len(rows), dtype=bool)
    order = np.argsort(labels, kind="stable")  # in a cluster, corpus order
    clusters = np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)
    for members, (first, owned) in zip(clusters, slice_owners([len(m) for m in clusters], cuts), strict=True):
        ours = [block for block, owner in owned if owner == piece]
        if len(members) == 1:
            done[members] = first == piece
        if not ours:
            continue
        cluster_vectors = vectors[members].astype(np.float32)
        centroid = cluster_vectors.mean(axis=0)  # the k-means centroid, once assignments settle
        centroid /= max(np.linalg.norm(centroid), 1e-12)
        rng = np.random.default_rng([config.seed, int(labels[members[0]])])
        order_in_cluster = keep_order(1 - cluster_vectors @ centroid, config.keep, rng)
        ranked = members[order_in_cluster]
        best, which = max_earlier_similarity(cluster_vectors[order_in_cluster], blocks=ours)
        done[ranked[0]] = first == piece
        for start, stop in ours:
            done[ranked[start:stop]] = True
            similarity[ranked[start:stop]] = best[start:stop]
            duplicate_of[ranked[start:stop]] = ranked[which[start:stop]]
    docs, labels, similarity, duplicate_of = (a[done] for a in (docs, labels, similarity, duplicate_of))
    starts = np.array(list(plan.part_offsets().values()), dtype=np.int64)
    index = np.searchsorted(starts, docs, side="right") - 1
    for i in np.unique(index):
        mine = index == i  # this part's rows of the slice
        write_parquet_atomic(corpus.fs, f"{plan.staging}/compared/{plan.parts[i]}/{bucket}-{piece}.parquet", pa.table({
            "row": pa.array(docs[mine] - starts[i], pa.int64()),
            "cluster": pa.array(labels[mine].astype(np.int32)),
            "max_similarity": pa.array(similarity[mine]),
            "duplicate_of": pa.array(np.where(duplicate_of[mine] < 0, None, ids[np.maximum(duplicate_of[mine], 0)]), pa.string()),
        }))


def _read_bucket(plan: StagePlan, bucket: int) -> tuple[pa.Table, np.ndarray]:
    """A bucket's rows (doc, id, cluster) and their vectors, the vectors read part by part into
    one float16 array: concatenating the column first would hold them twice."""
    files = [plan.corpus.fs.open(f"{plan.staging}/buckets/{bucket}/{part}.parquet", "rb") for part in plan.parts]
    try:
        metas = [pq.read_metadata(handle) for handle in files]
        total = sum(meta.num_rows for meta in metas)
        width = next((meta.schema.to_arrow_schema().field("vector").type.byte_width // 2 for meta in metas), 0)
        vectors, at, tables = np.empty((total, width), dtype=np.float16), 0, []
        for handle in files:
            table = pq.read_table(handle)
            for chunk in table["vector"].chunks:
                vectors[at : at + len(chunk)] = np.frombuffer(chunk.buffers()[1], np.float16, count=len(chunk) * width,
                                                              offset=chunk.offset * width * 2).reshape(-1, width)
                at += len(chunk)
            tables.append(table.drop_columns(["vector"]))
    finally:
        for handle in files:
            handle.close()
    return pa.concat_tables(tables), vectors


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
    if len(compared) != len(ids) or not pc.all(pc.equal(compared["row"], pa.array(np.arange(len(ids))))).as_py():
        raise RuntimeError(f"semdedup: the compare slices gave {len(compared)} rows for part {part} of {len(ids)}")
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
        "buckets": len(buckets(plan)), "slices": len(slices(plan))})


def slice_owners(sizes: list[int], cuts: int, cells: int = BLOCK_CELLS) -> list[tuple[int, list[tuple[tuple[int, int], int]]]]:
    """For clusters of these sizes, in order, cut into ``cuts`` slices of about equal cost: the
    slice each cluster's first document goes with, and each of its blocks with its slice."""
    total = sum(_cost(block) for n in sizes for block in similarity_blocks(n, cells)) or 1
    spent, owners = 0, []
    for n in sizes:
        owned = []
        for block in similarity_blocks(n, cells):
            owned.append((block, min(cuts - 1, spent * cuts // total)))
            spent += _cost(block)
        owners.append((min(cuts - 1, spent * cuts // total) if not owned else owned[0][1], owned))
    return owners


def _cost(block: tuple[int, int]) -> int:
    """Similarities a block computes: its rows against every row up to its end."""
    return (block[1] - block[0]) * block[1]


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
    steps=(Step(fit_clusters, over=own_fit), Step(bucket_part, over=each_part), Step(compare_slice, over=slices, unit="slices"),
           Step(mark_part, over=each_part), Step(publish_marks)),
)
