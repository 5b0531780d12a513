"""Exact deduplication: a 128-bit hash of normalised text per document; the first occurrence in
corpus order (part, then row) is kept.

    run(corpus_url, ExactDedupConfig(scope="source"))

Partitioned, so that no process holds the corpus's hashes: each docs part's hashes are written
(kept, so that appended documents need only their own hashed), then shuffled into P partitions by
hash through the staging area; one task per partition finds the repeats among its hashes
(DuckDB, within its memory limit) and writes them by docs part; one task per docs part then
writes its attrs. P is the corpus's documents over ``partition_rows``.

Normalisation (``normalize``):
    none        the text as ingested (already NFC)
    whitespace  runs of whitespace (Unicode included) become one space, ends trimmed (default)
    lower       as whitespace, and lower-cased
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash
from pydantic import Field

from curation.corpus import write_parquet_atomic, write_partitions
from curation.duck import connect, quote_list, sql_file
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part

HASHES = "models/exact_dedup/hashes"  # kept, so that appended documents need only their own hashed
HASHES_SCHEMA = pa.schema([("id", pa.string()), ("hash", pa.string()), ("source", pa.string())])


class ExactDedupConfig(StageConfig):
    scope: Literal["global", "source"] = Field(
        "global", description="global: one copy in the whole corpus; source: one copy per source.")
    normalize: Literal["none", "whitespace", "lower"] = Field(
        "whitespace", description="How text is normalised before hashing.")
    # The answer does not depend on it, so it is not part of the config's fingerprint.
    partition_rows: int = Field(
        2_000_000, ge=1, exclude=True,
        description="Documents per partition of the repeat search (about; it bounds a task's memory).")


def _whitespace(text: str) -> str:
    return " ".join(text.split())  # str.split() knows every Unicode space; faster than a regex here


def _lower(text: str) -> str:
    return " ".join(text.lower().split())


def text_hashes(texts: pa.Array, normalize: str) -> pa.Array:
    """xxh3-128 of the UTF-8 of each normalised text, as 32 hex characters (readable and
    joinable in SQL)."""
    if normalize == "none":
        digests = [xxhash.xxh3_128_hexdigest(raw) for raw in texts.cast(pa.binary()).to_pylist()]
    else:
        norm = _lower if normalize == "lower" else _whitespace
        digests = [xxhash.xxh3_128_hexdigest(norm(text).encode()) for text in texts.to_pylist()]
    return pa.array(digests, pa.string())


def hash_part(plan: StagePlan, part: str) -> None:
    """Map step: hashes of one docs part into the staging area (skipped if already there)."""
    corpus = plan.corpus
    target = plan.staged_part(part, "hashes")
    if corpus.fs.exists(target):
        return
    batches = []
    for batch in corpus.iter_batches("docs", part, columns=["id", "text", "source"], batch_size=8192):
        hashes = text_hashes(batch.column("text"), plan.config.normalize)
        batches.append(pa.record_batch([batch.column("id"), hashes, batch.column("source")], schema=HASHES_SCHEMA))
    write_parquet_atomic(corpus.fs, target, pa.Table.from_batches(batches, schema=HASHES_SCHEMA))


def partitions(plan: StagePlan) -> list[int]:
    return list(range(max(1, -(-sum(plan.part_rows) // plan.config.partition_rows))))


def shuffle_part(plan: StagePlan, part: str) -> None:
    """Map step: one part's hashes, with their place in corpus order, into a file per partition."""
    corpus = plan.corpus
    count = len(partitions(plan))
    hashes = corpus.to_uri(plan.staged_part(part, "hashes"))
    query = sql_file("exact_dedup_shuffle.sql", hashes=quote_list([hashes]), start=str(plan.part_offsets()[part]),
                     partitions=str(count))
    with connect(corpus.fs) as connection:
        rows = connection.sql(query).fetch_arrow_table()
    write_partitions(corpus.fs, rows, "partition", count, lambda partition: f"{plan.staging}/shuffled/{partition}/{part}.parquet")


def find_repeats(plan: StagePlan, partition: int) -> None:
    """One partition's task: every later copy of a text (within a source, for scope=source),
    with the id of the first, written by docs part (as row numbers in it)."""
    corpus = plan.corpus
    shuffled = [corpus.to_uri(f"{plan.staging}/shuffled/{partition}/{part}.parquet") for part in plan.parts]
    scope = ", source" if plan.config.scope == "source" else ""
    with connect(corpus.fs) as connection:
        repeats = connection.sql(sql_file("exact_dedup_repeats.sql", shuffled=quote_list(shuffled), scope=scope)).fetch_arrow_table()
    starts = np.array(list(plan.part_offsets().values()), dtype=np.int64)
    docs = repeats["doc"].to_numpy()
    index = np.searchsorted(starts, docs, side="right") - 1
    for i in np.unique(index):
        mine = index == i
        table = pa.table({"row": pa.array(docs[mine] - starts[i], pa.int32()), "duplicate_of": repeats["duplicate_of"].filter(mine)})
        write_parquet_atomic(corpus.fs, f"{plan.staging}/repeats/{plan.parts[i]}/{partition}.parquet", table)


def mark_part(plan: StagePlan, part: str) -> None:
    """Map step: attrs of one docs part, row-aligned with it, from its repeats."""
    corpus = plan.corpus
    folder = f"{plan.staging}/repeats/{part}"
    found = corpus.fs.ls(folder, detail=False) if corpus.fs.isdir(folder) else []
    repeats = (f"read_parquet({quote_list([corpus.to_uri(path) for path in found])})" if found else
               "(SELECT NULL::INTEGER AS row, NULL::VARCHAR AS duplicate_of LIMIT 0)")
    query = sql_file("exact_dedup_part.sql", hashes=quote_list([corpus.to_uri(plan.staged_part(part, "hashes"))]),
                     repeats=repeats)
    with connect(corpus.fs) as connection:
        write_parquet_atomic(corpus.fs, plan.staged_part(part), connection.sql(query).fetch_arrow_table())


def publish_marks(plan: StagePlan) -> StageResult:
    """Publish attrs/exact_dedup and the kept hashes; count what was kept, a part at a time."""
    corpus = plan.corpus
    plan.check_staged_parts("attrs")
    kept = 0
    for part in plan.parts:
        with corpus.fs.open(plan.staged_part(part), "rb") as handle:
            kept += pc.sum(pq.read_table(handle, columns=["keep"])["keep"]).as_py() or 0
    plan.publish_staged_parts("attrs/exact_dedup")
    corpus.publish(f"{plan.staging}/hashes", HASHES)
    rows = sum(plan.part_rows)
    return StageResult(rows, kept, {"duplicates": rows - kept, "partitions": len(partitions(plan))})


STAGE = Stage(
    name="exact_dedup",
    config=ExactDedupConfig,
    reasons=("duplicate",),
    writes=("attrs/{name}", HASHES),
    steps=(Step(hash_part, over=each_part, kept={"hashes": HASHES}), Step(shuffle_part, over=each_part),
           Step(find_repeats, over=partitions, unit="partitions"), Step(mark_part, over=each_part),
           Step(publish_marks)),
)
