"""Rehydration (FineWeb-2, Penedo et al. 2025): fuzzy dedup keeps one document of each cluster of
near-duplicates, and a mixture may then repeat that document by its cluster's size, on the
evidence that moderately repeated text is better text and massively repeated text is not.

    rehydrate: fineweb2                                 # the weights FineWeb-2 published, below
    rehydrate: {"1": 1, "2-4": 2, "5-99": 5, "100+": 8}
    curate mix NAME DIR --rehydrate "1=1,2-4=2,5-99=5,100+=8"

A key is a size, a range LOW-HIGH or LOW+, and its value the copies of a document whose cluster
has that size; a size no key covers keeps one copy. The size is attrs/minhash.cluster_size (the
minhash stage: 1 for a document without near-duplicates). Copies multiply a selection's repeats.
"""

from __future__ import annotations

import re

from curation.errors import UserError

# FineWeb-2's README: a cluster of 2-4 copies back to its size, 5-99 to 5, 100-999 to 8, and
# clusters of a thousand and more (templates, spam) back to one.
FINEWEB2 = {"1": 1, "2": 2, "3": 3, "4": 4, "5-99": 5, "100-999": 8, "1000+": 1}
RANGE = re.compile(r"^(\d+)(?:-(\d+)|(\+))?$")


def parse_table(spec: str | dict) -> dict[str, int]:
    """``fineweb2``, ``size=copies,LOW-HIGH=copies,LOW+=copies``, or a mapping of the same."""
    if spec == "fineweb2":
        return dict(FINEWEB2)
    if isinstance(spec, str):
        pairs = [item.partition("=") for item in spec.split(",")]
        if not all(sep for _, sep, _ in pairs):
            raise UserError(f"rehydrate is fineweb2 or size=copies,LOW-HIGH=copies,LOW+=copies; not {spec!r}")
        spec = {key.strip(): value.strip() for key, _, value in pairs}
    table = {}
    for key, value in spec.items():
        try:
            copies = int(value)
        except (TypeError, ValueError):
            copies = -1
        if not RANGE.match(str(key)) or copies < 0:
            raise UserError(f"rehydrate: {key}={value} is not a size, LOW-HIGH or LOW+ with a whole number of copies")
        table[str(key)] = copies
    _bounds(table)  # overlapping ranges fail here
    return table


def _bounds(table: dict[str, int]) -> list[tuple[int, float, int]]:
    """(low, high, copies) per key, sorted; overlapping ranges are a mistake."""
    bounds = []
    for key, copies in table.items():
        low, high, open_ended = RANGE.match(key).groups()
        bounds.append((int(low), float("inf") if open_ended else int(high or low), copies))
    bounds.sort()
    for (_, high, _), (low, _, _) in zip(bounds, bounds[1:], strict=False):
        if low <= high:
            raise UserError(f"rehydrate: the sizes of {', '.join(table)} overlap")
    return bounds


def copies_sql(table: dict[str, int], size: str = "d.minhash.cluster_size") -> str:
    """The copies of a document as a SQL expression over its cluster's size."""
    cases = " ".join(f"WHEN {size} >= {low}" + ("" if high == float("inf") else f" AND {size} <= {int(high)}")
                     + f" THEN {copies}" for low, high, copies in _bounds(table))
    return f"(CASE {cases} ELSE 1 END)"
