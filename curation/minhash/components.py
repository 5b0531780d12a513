"""Connected components of the verified pairs, partitioned: alternating large-star and
small-star rounds over edge tables partitioned by node (Kiveris and others, 2014, "Connected
Components in MapReduce and Beyond"), so no task holds more than its share of the edges.

Each round is a task per partition: it reads the edges keyed to its nodes, applies the round's
operation at each node, and writes the edges it emits keyed for the next round.

    large-star at u: m = the smallest of u and its neighbours; every larger neighbour v is
                     linked to m instead of u.
    small-star at u: m = the smallest of u and its smaller neighbours; each of those and u is
                     linked to m.

The rounds converge to one star per component around its smallest node; a large-star round
whose edges equal those of the large-star round before it is the last. A component's label is
its smallest node, as union-find would give.
"""

from __future__ import annotations

import math

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from curation.corpus import write_bytes_atomic, write_parquet_atomic
from curation.minhash.documents import by_slot, read_folder
from curation.minhash.model import numbering
from curation.minhash.shingles import mix64
from curation.stage import StagePlan

MAX_ROUNDS = 128  # the rounds grow with the log of the largest component squared; never near this


def partitions(plan: StagePlan) -> list[int]:
    """Partitions of the edges: the run's documents over ``partition_rows``."""
    return list(range(max(1, math.ceil(numbering(plan).documents / plan.config.partition_rows))))


def first_round(plan: StagePlan, writer: str, u: np.ndarray, v: np.ndarray) -> None:
    """Edges into round 0 (a large-star): both ways round, each keyed to its node's partition."""
    _write(plan, 0, writer, np.concatenate([u, v]), np.concatenate([v, u]))


def known_row_groups(plan: StagePlan) -> list[int]:
    known = numbering(plan).known_edges
    if known is None:
        return []
    corpus, path = known
    with corpus.fs.open(path, "rb") as handle:
        return list(range(pq.ParquetFile(handle).metadata.num_row_groups))


def shuffle_known(plan: StagePlan, row_group: int) -> None:
    """Map step: one row group of the verified pairs kept from before, into round 0."""
    corpus, path = numbering(plan).known_edges
    with corpus.fs.open(path, "rb") as handle:
        edges = pq.ParquetFile(handle).read_row_group(row_group, columns=["u", "v"])
    first_round(plan, f"k{row_group}", edges["u"].to_numpy(), edges["v"].to_numpy())


def rounds(plan: StagePlan) -> list[tuple[int, int]]:
    """The next round's tasks (round, partition); none once converged."""
    done = done_rounds(plan)
    if _converged(plan, done):
        return []
    if done >= MAX_ROUNDS:
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    return [(done, q) for q in partitions(plan)]


def converged(plan: StagePlan) -> bool:
    return _converged(plan, done_rounds(plan))


def star_round(plan: StagePlan, item: tuple[int, int]) -> None:
    """One partition of one round: large-star in even rounds, small-star in odd ones. Its
    input's digest (the edges, each once) is written last, as the mark that it is done."""
    round_, q = item
    node, neighbour = _read(plan, round_, q)
    if round_ % 2 == 0:
        v, m = large_star(node, neighbour)
        _write(plan, round_ + 1, str(q), v, m)  # small-star's key is the larger node
    else:
        v, m = small_star(node, neighbour)
        _write(plan, round_ + 1, str(q), np.concatenate([v, m]), np.concatenate([m, v]))
    once = node < neighbour if round_ % 2 == 0 else np.ones(len(node), bool)
    digest = {"edges": int(once.sum()), "digest": int(_digest(node[once], neighbour[once]))}
    write_bytes_atomic(plan.corpus.fs, f"{plan.staging}/stars/{round_}/done/{q}.json", orjson.dumps(digest))


def label_nodes(plan: StagePlan, q: int) -> None:
    """One partition of the last round's input, stars by then: every node's label, by part."""
    node, neighbour = _read(plan, done_rounds(plan) - 1, q)
    if not len(node):
        return
    starts = np.flatnonzero(np.concatenate([[True], node[1:] != node[:-1]]))
    label = np.minimum(np.minimum.reduceat(neighbour, starts), node[starts])
    leaves = label < node[starts]
    if (np.diff(np.append(starts, len(node)))[leaves] != 1).any():
        raise RuntimeError("connected components: the last round's edges are not stars")
    for slot, rows in by_slot(numbering(plan).slots, pa.table({"doc": node[starts], "label": label}), "doc"):
        write_parquet_atomic(plan.corpus.fs, f"{plan.staging}/labels/{slot}/{q}.parquet", rows)


def large_star(node: np.ndarray, neighbour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (v, m) from edges (node, neighbour) sorted by node, both ways round: each
    neighbour v larger than its node u, linked to u's smallest neighbour or u."""
    starts = np.flatnonzero(np.concatenate([[True], node[1:] != node[:-1]])) if len(node) else np.zeros(0, np.int64)
    smallest = np.minimum(np.minimum.reduceat(neighbour, starts), node[starts]) if len(node) else np.zeros(0, np.int64)
    m = np.repeat(smallest, np.diff(np.append(starts, len(node))))
    larger = neighbour > node
    return neighbour[larger], m[larger]


def small_star(node: np.ndarray, neighbour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (v, m) from edges (node, neighbour) sorted by node, each neighbour smaller than its
    node: the node and each of its neighbours linked to the smallest of them."""
    if not len(node):
        return node, neighbour
    starts = np.flatnonzero(np.concatenate([[True], node[1:] != node[:-1]]))
    smallest = np.minimum.reduceat(neighbour, starts)
    m = np.repeat(smallest, np.diff(np.append(starts, len(node))))
    others = neighbour != m
    return np.concatenate([neighbour[others], node[starts]]), np.concatenate([m[others], smallest])


def _read(plan: StagePlan, round_: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    """A partition's edges of a round, each once, sorted by node then neighbour."""
    table = read_folder(plan.corpus, f"{plan.staging}/stars/{round_}/{q}")
    if table is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    node, neighbour = table["node"].to_numpy(), table["neighbour"].to_numpy()
    order = np.lexsort((neighbour, node))
    node, neighbour = node[order], neighbour[order]
    first = np.concatenate([[True], (node[1:] != node[:-1]) | (neighbour[1:] != neighbour[:-1])]) if len(node) else []
    return node[first], neighbour[first]


def _write(plan: StagePlan, round_: int, writer: str, node: np.ndarray, neighbour: np.ndarray) -> None:
    """Edges keyed to the partition of their node: a file per partition from each writer."""
    count = len(partitions(plan))
    target = node_partition(node, count)
    order = np.argsort(target, kind="stable")
    bounds = np.searchsorted(target[order], np.arange(count + 1))
    for q in range(count):
        rows = order[bounds[q] : bounds[q + 1]]
        if len(rows):
            write_parquet_atomic(plan.corpus.fs, f"{plan.staging}/stars/{round_}/{q}/{writer}.parquet",
                                 pa.table({"node": node[rows], "neighbour": neighbour[rows]}))


def node_partition(nodes: np.ndarray, count: int) -> np.ndarray:
    """A node's partition: its number mixed, so that the smallest nodes of many components
    (the stars' centres) spread evenly."""
    return (mix64(nodes.astype(np.uint64)) % np.uint64(count)).astype(np.int64)


def _digest(u: np.ndarray, v: np.ndarray) -> int:
    """An order-free digest of a set of edges: the sum of a 64-bit hash of each."""
    mixed = mix64(u.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + mix64(v.astype(np.uint64)))
    return int(mixed.sum(dtype=np.uint64))


def done_rounds(plan: StagePlan) -> int:
    """How many rounds have every partition done."""
    fs, count, done = plan.corpus.fs, len(partitions(plan)), 0
    while fs.isdir(f"{plan.staging}/stars/{done}/done") and len(fs.ls(f"{plan.staging}/stars/{done}/done")) == count:
        done += 1
    return done


def _converged(plan: StagePlan, done: int) -> bool:
    """The last done round is a large-star whose edges are none, or those of the large-star before."""
    if done == 0 or (done - 1) % 2:
        return False
    last = _round_digest(plan, done - 1)
    return last["edges"] == 0 or (done >= 3 and last == _round_digest(plan, done - 3))


def _round_digest(plan: StagePlan, round_: int) -> dict:
    total = {"edges": 0, "digest": 0}
    for path in plan.corpus.fs.ls(f"{plan.staging}/stars/{round_}/done", detail=False):
        part = orjson.loads(plan.corpus.fs.cat_file(path))
        total = {"edges": total["edges"] + part["edges"], "digest": (total["digest"] + part["digest"]) % (1 << 64)}
    return total
