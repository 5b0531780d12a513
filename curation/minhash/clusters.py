"""From verified candidate pairs to duplicate clusters, each with the document it keeps.

Connected components of the verified pairs are only the first cut: similarity is not
transitive (A~B and B~C with A far from C). Inside each component the best document by the keep
policy becomes a representative and takes every member at least ``threshold`` similar to it;
the rest repeat the process among themselves. So every removed document is a near-duplicate of
the document kept in its place, and `similarity` says how near.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np

from curation.duck import sql_file


def connected_components(nodes: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Component label of every node 0..nodes-1 (union-find with path halving, in one process);
    the label of a component is its smallest node, so any other algorithm can be checked
    against it."""
    involved, pairs = np.unique(np.concatenate([u, v]), return_inverse=True)
    parent = list(range(len(involved)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    half = len(u)
    for a, b in zip(pairs[:half].tolist(), pairs[half:].tolist(), strict=True):
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            # Involved nodes are sorted, so the smaller index is the smaller node.
            parent[max(root_a, root_b)] = min(root_a, root_b)
    labels = np.arange(nodes, dtype=np.int64)
    labels[involved] = involved[[find(x) for x in range(len(involved))]]
    return labels


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


def connected_components_sql(connection: duckdb.DuckDBPyConnection, edges: str, max_rounds: int = 64) -> str:
    """Components of the graph in the relation ``edges`` (columns u, v), computed by DuckDB out of
    core (it spills past its memory limit), for edge lists too large for union-find in memory.
    Returns the name of a temporary table (node, label) of every node with an edge; the label is
    the component's smallest node, as in `connected_components`."""
    connection.execute(sql_file("components_start.sql", edges=edges))
    for _ in range(max_rounds):
        connection.execute(sql_file("components_hook.sql"))
        while connection.execute(sql_file("components_jump.sql")).fetchall()[0][0]:
            pass
        if not connection.execute(sql_file("components_contract.sql")).fetchall()[0][0]:
            return "cc_labels"
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
