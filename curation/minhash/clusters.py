"""From components to duplicate clusters, each with the document it keeps; partitioned by component.

Connected components of the verified pairs are only the first cut: similarity is not
transitive (A~B and B~C with A far from C). Inside each component the best document by the keep
policy becomes a representative and takes every member at least ``threshold`` similar to it;
the rest repeat the process among themselves. So every removed document is a near-duplicate of
the document kept in its place, and `similarity` says how near.

    ship_members            a task per part: each of its documents in a component, with what
                            choosing needs (id, keep-policy key, signature, shingle set), to the
                            partition of its component
    choose_representatives  a task per members' partition (``member_partitions``): the clusters
                            of its components, by part
    mark_part               a task per new part: its attrs
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.corpus import write_parquet_atomic
from curation.errors import UserError
from curation.minhash.components import node_partition
from curation.minhash.documents import by_slot, jaccard, read_folder, shingle_sets
from curation.minhash.model import numbering
from curation.minhash.signatures import estimated_similarity
from curation.stage import StagePlan


def representatives(
    labels: np.ndarray,
    priority: np.ndarray,
    similarity: Callable[[int, np.ndarray], np.ndarray],
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(kept_by, similarity_to_kept) per node: the representative each node duplicates (itself
    when kept) and how similar they are. Lower ``priority`` is preferred.

    In each component the preferred member becomes a representative and takes every member at
    least ``threshold`` similar to it; the members left over repeat this among themselves. So a
    removed document is always a near-duplicate of the one kept in its place, and two kept
    documents of one component are never near-duplicates of each other."""
    kept_by = np.arange(len(labels), dtype=np.int64)
    similarity_to_kept = np.ones(len(labels), dtype=np.float32)
    sizes = np.bincount(labels, minlength=len(labels))
    in_components = np.flatnonzero(sizes[labels] > 1)
    order = in_components[np.lexsort((priority[in_components], labels[in_components]))]
    for members in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1):
        while len(members):
            representative, rest = members[0], members[1:]
            near = similarity(representative, rest)
            taken = near >= threshold
            kept_by[rest[taken]] = representative
            similarity_to_kept[rest[taken]] = near[taken]
            members = rest[~taken]
    return kept_by, similarity_to_kept


# A member row carries its document's signature and shingle set (a few KB for a web page), some
# 40 times an edge row's bytes, so the members' partitions hold that many times fewer documents
# than the components' (2 GB of repeated texts: 4.9 GB in one task when they held as many).
MEMBER_ROWS_PER_EDGE_ROW = 40


def member_partitions(plan: StagePlan) -> list[int]:
    """Partitions of the components' members: the run's documents over partition_rows / 40."""
    rows = max(1, plan.config.partition_rows // MEMBER_ROWS_PER_EDGE_ROW)
    return list(range(max(1, math.ceil(numbering(plan).documents / rows))))


def ship_members(plan: StagePlan, slot: int) -> None:
    """One part's task: its documents that are in a component, to their component's partition."""
    corpus, config = plan.corpus, plan.config
    slots = numbering(plan).slots
    part = slots.all[slot]
    labelled = read_folder(corpus, f"{plan.staging}/labels/{slot}")
    if labelled is None:
        return
    labelled = labelled.sort_by("doc")
    docs = labelled["doc"].to_numpy()
    signatures = part.signatures(docs, ["id", "chars", "signature"])
    members = labelled.append_column("id", signatures["id"]).append_column(
        "key", pa.array(_keep_key(config.keep, part, docs, signatures["chars"].to_numpy()))).append_column(
        "signature", signatures["signature"])
    if config.verify == "exact":
        members = members.append_column("shingles", shingle_sets(part.texts(docs), config.ngram))
    target = node_partition(labelled["label"].to_numpy(), len(member_partitions(plan)))
    for q in np.unique(target):
        write_parquet_atomic(corpus.fs, f"{plan.staging}/members/{q}/{slot}.parquet", members.filter(pa.array(target == q)))


def choose_representatives(plan: StagePlan, q: int) -> None:
    """One partition's task: inside each of its components (those with a new document, in a run
    against an older corpus: the others stay as that corpus's own run left them), the clusters
    and their representatives; what each new document gets, written by part."""
    corpus, config = plan.corpus, plan.config
    known = numbering(plan)
    members = read_folder(corpus, f"{plan.staging}/members/{q}")
    if members is None:
        return
    label, doc = members["label"].to_numpy(), members["doc"].to_numpy()
    with_new = np.unique(label[doc >= known.slots.segments[-1].start])
    members = members.filter(pa.array(np.isin(label, with_new)))
    # Ties go to the earlier document (an older corpus comes first).
    members = members.take(pa.array(np.lexsort((members["doc"].to_numpy(), members["key"].to_numpy(),
                                                members["label"].to_numpy()))))
    labels = np.unique(members["label"].to_numpy(), return_inverse=True)[1]
    similarity = _similarity(members, config.bands * config.rows, exact=config.verify == "exact")
    kept_by, similarity_to_kept = representatives(labels, np.arange(len(labels)), similarity, config.threshold)
    sizes = np.bincount(kept_by, minlength=len(kept_by))
    ids = members["id"].combine_chunks()
    keep = kept_by == np.arange(len(kept_by))
    chosen = pa.table({
        "doc": members["doc"],
        "cluster_id": ids.take(pa.array(kept_by)),
        "cluster_size": pa.array(sizes[kept_by].astype(np.int32)),
        "keep": pa.array(keep),
        "similarity": pa.array(np.where(keep, np.nan, similarity_to_kept).astype(np.float32), from_pandas=True),
    })
    chosen = chosen.filter(pc.greater_equal(chosen["doc"], known.slots.segments[-1].start))
    for slot, rows in by_slot(known.slots, chosen, "doc"):
        write_parquet_atomic(corpus.fs, f"{plan.staging}/chosen/{slot}/{q}.parquet", rows)


def mark_part(plan: StagePlan, part: str) -> None:
    """Map step: attrs of one docs part, row-aligned with it: every document its own cluster
    unless a component's choice says otherwise."""
    corpus = plan.corpus
    slots = numbering(plan).slots
    slot = slots.new[plan.parts.index(part)]
    here = slots.all[slot]
    ids = here.signatures(np.arange(here.start, here.start + here.rows), ["id"])["id"].combine_chunks()
    cluster_id = ids.to_numpy(zero_copy_only=False).astype(object)
    cluster_size = np.ones(here.rows, dtype=np.int32)
    keep = np.ones(here.rows, dtype=bool)
    near = np.full(here.rows, np.nan, dtype=np.float32)
    chosen = read_folder(corpus, f"{plan.staging}/chosen/{slot}")
    if chosen is not None:
        rows = chosen["doc"].to_numpy() - here.start
        cluster_id[rows] = chosen["cluster_id"].to_numpy(zero_copy_only=False)
        cluster_size[rows] = chosen["cluster_size"].to_numpy()
        keep[rows] = chosen["keep"].to_numpy(zero_copy_only=False)
        near[rows] = chosen["similarity"].to_numpy(zero_copy_only=False)
    cluster = pa.array(cluster_id, pa.string())
    kept = pa.array(keep)
    write_parquet_atomic(corpus.fs, plan.staged_part(part), pa.table({
        "id": ids,
        "cluster_id": cluster,
        "cluster_size": pa.array(cluster_size),
        "keep": kept,
        "duplicate_of": pc.if_else(kept, pa.nulls(here.rows, pa.string()), cluster),
        "similarity": pa.array(near, from_pandas=True),
        "reason": pc.if_else(kept, pa.nulls(here.rows, pa.string()), "near_duplicate"),
    }))


def _keep_key(keep: str, part, docs: np.ndarray, chars: np.ndarray) -> np.ndarray:
    """Lower is kept first: keep=first, all equal (the earlier document wins); longest, the
    negated length; best:<stage>.<column>, the negated score (a missing score last)."""
    if keep == "first":
        return np.zeros(len(docs))
    if keep == "longest":
        return -chars.astype(np.float64)
    stage, column = keep[5:].split(".", 1)
    corpus = part.segment.corpus
    if not corpus.has_part(f"attrs/{stage}", part.part):
        raise UserError(f"keep={keep}: {corpus.url} has no attrs for stage {stage!r} ({part.part})")
    try:
        scores = corpus.read_part(f"attrs/{stage}", part.part, [column])[column].take(pa.array(docs - part.start))
    except (KeyError, pa.ArrowInvalid) as error:
        raise UserError(f"keep={keep}: no column {column!r} in attrs/{stage}") from error
    return -pc.fill_null(scores.cast(pa.float64()), -np.inf).to_numpy(zero_copy_only=False)


def _similarity(members: pa.Table, width: int, exact: bool) -> Callable[[int, np.ndarray], np.ndarray]:
    """Similarity of one member to others (positions in ``members``): exact Jaccard of their
    shingle sets, or the signatures' estimate."""
    if exact:
        sets = members["shingles"].combine_chunks()
        return lambda doc, others: jaccard(sets, np.full(len(others), doc), others)
    signatures = members["signature"].combine_chunks().flatten().to_numpy().reshape(-1, width)
    return lambda doc, others: estimated_similarity(signatures[np.full(len(others), doc)], signatures[others]).astype(np.float32)
