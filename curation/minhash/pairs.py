"""Fuzzy dedup's candidate pairs and their verification, partitioned so that no task holds more
than its share of the corpus's band rows or pairs.

    shuffle_bands     a task per docs part: its band rows into P buckets by (band, key)
    find_candidates   a task per bucket: the pairs that share a band (DuckDB), by part of u
    attach_first      a task per part: each pair with u's signature (and shingle set), by part of v
    verify            a task per part: v's signature (and shingle set) beside u's; the pairs at
                      or above the threshold, both ways round, into the first round of components

A pair (u, v) always has u < v, so in a run over new documents v is new: verification runs on
the new corpus's parts only.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from curation.corpus import write_parquet_atomic, write_partitions
from curation.duck import connect, quote_list, sql_file
from curation.minhash.components import first_round
from curation.minhash.documents import by_slot, jaccard, read_folder, shingle_sets
from curation.minhash.model import numbering
from curation.minhash.signatures import estimated_similarity
from curation.stage import StagePlan

# Exact Jaccard is computed where the signatures' estimate comes within this of the threshold
# (its standard deviation is about 0.04 at 112 permutations).
MARGIN = 0.15


def band_buckets(plan: StagePlan) -> list[int]:
    """Buckets of band rows: the run's band rows over ``partition_rows``."""
    rows = numbering(plan).documents * plan.config.bands
    return list(range(max(1, math.ceil(rows / plan.config.partition_rows))))


def every_slot(plan: StagePlan) -> list[int]:
    return list(range(len(numbering(plan).slots)))


def new_slots(plan: StagePlan) -> list[int]:
    return numbering(plan).slots.new


def shuffle_bands(plan: StagePlan, slot: int) -> None:
    """Map step: one part's band rows, numbered across the run, into a file per bucket."""
    corpus, part = plan.corpus, numbering(plan).slots.all[slot]
    count = len(band_buckets(plan))
    bands = part.segment.corpus.to_uri(part.segment.table("bands", part.part))
    query = sql_file("minhash_shuffle_bands.sql", bands=quote_list([bands]), start=str(part.segment.start),
                     buckets=str(count))
    with connect(part.segment.corpus.fs) as connection:
        rows = connection.sql(query).fetch_arrow_table()
    write_partitions(corpus.fs, rows, "bucket", count, lambda bucket: f"{plan.staging}/banded/{bucket}/{slot}.parquet")


def find_candidates(plan: StagePlan, bucket: int) -> None:
    """One bucket's task: the candidate pairs (u < v) of its bands (those with a document new
    since ``first_new`` only), written by the part of u."""
    corpus, config, known = plan.corpus, plan.config, numbering(plan)
    files = [corpus.to_uri(f"{plan.staging}/banded/{bucket}/{slot}.parquet") for slot in range(len(known.slots))]
    query = sql_file("minhash_candidates.sql", bands=f"SELECT * FROM read_parquet({quote_list(files)})",
                     scope_columns=", source" if config.scope == "source" else "", first_new=str(known.first_new))
    with connect(corpus.fs) as connection:
        pairs = connection.sql(query).fetch_arrow_table()
    for slot, rows in by_slot(known.slots, pairs, "u"):
        write_parquet_atomic(corpus.fs, f"{plan.staging}/candidates/{slot}/{bucket}.parquet", rows)


def attach_first(plan: StagePlan, slot: int) -> None:
    """One part's task: its pairs (as u; a pair found in several buckets once) with u's
    signature, and u's shingle set when verification is exact, written by the part of v."""
    corpus, config, slots = plan.corpus, plan.config, numbering(plan).slots
    part = slots.all[slot]
    pairs = read_folder(corpus, f"{plan.staging}/candidates/{slot}")
    if pairs is None:
        return
    u, v = pairs["u"].to_numpy(), pairs["v"].to_numpy()
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    once = np.concatenate([[True], (u[1:] != u[:-1]) | (v[1:] != v[:-1])]) if len(u) else np.zeros(0, bool)
    pairs = pa.table({"u": u[once], "v": v[once]})
    firsts = np.unique(u)
    signatures = part.signatures(firsts, ["signature"])["signature"]
    sets = shingle_sets(part.texts(firsts), config.ngram) if config.verify == "exact" else None
    # One target part's pairs at a time: u's data is copied for each of its pairs, and the first
    # document of a large bucket is u to every other member (an early part of a corpus of
    # repeated texts holds the u of most pairs: 5.4 GB in one task at 2 GB when done at once).
    for target, rows in by_slot(slots, pairs, "v"):
        at = pa.array(np.searchsorted(firsts, rows["u"].to_numpy()))
        rows = rows.append_column("u_signature", signatures.take(at))
        if sets is not None:
            rows = rows.append_column("u_shingles", sets.take(at))
        write_parquet_atomic(corpus.fs, f"{plan.staging}/first/{target}/{slot}.parquet", rows)


def verify(plan: StagePlan, slot: int) -> None:
    """One new part's task: the similarity of each of its pairs (as v), by the signatures'
    estimate or, near the threshold with exact verification, by the shingle sets; the pairs at
    or above the threshold (the verified edges) are written for the model and, both ways
    round, into the first round of components."""
    corpus, config, part = plan.corpus, plan.config, numbering(plan).slots.all[slot]
    pairs = read_folder(corpus, f"{plan.staging}/first/{slot}")
    edges = pa.table({"u": pa.array([], pa.int64()), "v": pa.array([], pa.int64()), "similarity": pa.array([], pa.float32())})
    if pairs is not None:
        u, v = pairs["u"].to_numpy(), pairs["v"].to_numpy()
        seconds, at = np.unique(v, return_inverse=True)
        width = config.bands * config.rows
        mine = part.signatures(seconds, ["signature"])["signature"].combine_chunks().flatten().to_numpy().reshape(-1, width)
        theirs = pairs["u_signature"].combine_chunks().flatten().to_numpy().reshape(-1, width)
        similarity = np.concatenate([estimated_similarity(theirs[s : s + 65536], mine[at[s : s + 65536]])
                                     for s in range(0, len(u), 65536)]).astype(np.float32) if len(u) else np.zeros(0, np.float32)
        if config.verify == "exact":
            near = np.flatnonzero(similarity >= config.threshold - MARGIN)
            needed, near_at = np.unique(at[near], return_inverse=True)
            sets = pa.concat_arrays([pairs["u_shingles"].combine_chunks().take(pa.array(near)),
                                     shingle_sets(part.texts(seconds[needed]), config.ngram)])
            similarity[near] = jaccard(sets, np.arange(len(near)), len(near) + near_at)
        verified = similarity >= config.threshold
        edges = pa.table({"u": u[verified], "v": v[verified], "similarity": similarity[verified]})
    write_parquet_atomic(corpus.fs, f"{plan.staging}/verified/{slot}.parquet", edges)
    first_round(plan, f"v{slot}", edges["u"].to_numpy(), edges["v"].to_numpy())
