"""Exact deduplication: a 128-bit hash of normalised text per document, duplicates resolved
globally with DuckDB. The first occurrence in corpus order (part, then row) is kept.

    run(corpus_url, ExactDedupConfig(scope="source"))    # curation.stage.run: hash_part over
                                                         # every part, then resolve_duplicates

Normalisation (``normalize``):
    none        the text as ingested (already NFC)
    whitespace  runs of whitespace (Unicode included) become one space, ends trimmed (default)
    lower       as whitespace, and lower-cased
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from curation.corpus import write_parquet_atomic
from curation.duck import connect, quote_list, sql_file
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part

HASHES = "models/exact_dedup/hashes"  # kept, so that appended documents need only their own hashed
HASHES_SCHEMA = pa.schema([("id", pa.string()), ("hash", pa.string()), ("source", pa.string())])


class ExactDedupConfig(StageConfig):
    scope: Literal["global", "source"] = Field(
        "global", description="global: one copy in the whole corpus; source: one copy per source.")
    normalize: Literal["none", "whitespace", "lower"] = Field(
        "whitespace", description="How text is normalised before hashing.")


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


def resolve_duplicates(plan: StagePlan) -> StageResult:
    """Global step: mark every later copy of a text, then publish attrs/exact_dedup."""
    corpus = plan.corpus
    plan.check_staged_parts("hashes", "hashes")
    hashes = [corpus.to_uri(plan.staged_part(part, "hashes")) for part in plan.parts]
    partition = ", source" if plan.config.scope == "source" else ""
    rows_in = rows_out = 0
    with connect(corpus.fs) as connection:
        connection.execute(sql_file("exact_dedup_duplicates.sql", hashes=quote_list(hashes), scope_partition=partition))
        for part, path in zip(plan.parts, hashes, strict=True):
            table = connection.sql(sql_file("exact_dedup_part.sql", hashes=quote_list([path]))).fetch_arrow_table()
            write_parquet_atomic(corpus.fs, plan.staged_part(part), table)
            rows_in += table.num_rows
            rows_out += pc.sum(table["keep"]).as_py() or 0
    plan.publish_staged_parts("attrs/exact_dedup")
    corpus.publish(f"{plan.staging}/hashes", HASHES)
    return StageResult(rows_in, rows_out, {"duplicates": rows_in - rows_out})


STAGE = Stage(
    name="exact_dedup",
    config=ExactDedupConfig,
    reasons=("duplicate",),
    writes=("attrs/{name}", HASHES),
    steps=(Step(hash_part, over=each_part, kept={"hashes": HASHES}), Step(resolve_duplicates)),
)
