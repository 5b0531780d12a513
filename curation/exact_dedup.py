"""Exact deduplication: a 128-bit hash of normalised text per document, duplicates resolved
globally with DuckDB. The first occurrence in corpus order (part, then row) is kept.

    plan = plan_stage(corpus, STAGE, ExactDedupConfig())
    for part in plan.parts: hash_part(plan, part)        # map, in parallel
    resolve_duplicates(plan)                             # global

Normalisation (``normalize``):
    none        the text as ingested (already NFC)
    whitespace  runs of whitespace (Unicode included) become one space, ends trimmed (default)
    lower       as whitespace, and lower-cased
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from curation.corpus import StageRecord, write_parquet_atomic
from curation.duck import connect, quote_list, sql_file
from curation.errors import UserError
from curation.stages import StagePlan, finish_stage, run_in_process

STAGE = "exact_dedup"
NORMALIZATIONS = ("none", "whitespace", "lower")
SCOPES = ("global", "source")
HASHES_SCHEMA = pa.schema([("id", pa.string()), ("hash", pa.string()), ("source", pa.string())])


@dataclass(frozen=True)
class ExactDedupConfig:
    scope: str = "global"
    normalize: str = "whitespace"

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise UserError(f"exact dedup scope must be one of {', '.join(SCOPES)}, not {self.scope!r}")
        if self.normalize not in NORMALIZATIONS:
            raise UserError(f"exact dedup normalize must be one of {', '.join(NORMALIZATIONS)}, not {self.normalize!r}")


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


def hash_part(plan: StagePlan, part: str) -> str:
    """Map step: hashes of one docs part into the staging area (skipped if already there)."""
    corpus = plan.corpus
    target = plan.staged_part(part)
    if corpus.fs.exists(target):
        return target
    batches = []
    for batch in corpus.iter_batches("docs", part, columns=["id", "text", "source"], batch_size=8192):
        hashes = text_hashes(batch.column("text"), plan.config["normalize"])
        batches.append(pa.record_batch([batch.column("id"), hashes, batch.column("source")], schema=HASHES_SCHEMA))
    write_parquet_atomic(corpus.fs, target, pa.Table.from_batches(batches, schema=HASHES_SCHEMA))
    return target


def resolve_duplicates(plan: StagePlan) -> tuple[int, int]:
    """Global step: mark every later copy of a text, write attrs/exact_dedup, record the stage."""
    corpus = plan.corpus
    hashes = [corpus.to_uri(plan.staged_part(part)) for part in plan.parts]
    plan.check_staged_parts("hashes")
    partition = ", source" if plan.config["scope"] == "source" else ""
    rows_in = rows_out = 0
    with connect(corpus.fs) as connection:
        connection.execute(sql_file("exact_dedup_duplicates.sql", hashes=quote_list(hashes), scope_partition=partition))
        for part, path in zip(plan.parts, hashes, strict=True):
            table = connection.sql(sql_file("exact_dedup_part.sql", hashes=quote_list([path]))).fetch_arrow_table()
            corpus.write_part(f"attrs/{STAGE}", part, table)
            rows_in += table.num_rows
            rows_out += pc.sum(table["keep"]).as_py() or 0
    finish_stage(plan, rows_in, rows_out, {"duplicates": rows_in - rows_out})
    return rows_in, rows_out


def exact_dedup(corpus_url: str, config: ExactDedupConfig | None = None) -> StageRecord:
    """The whole stage in this process (no Prefect, no Dask)."""
    return run_in_process(corpus_url, STAGE, config or ExactDedupConfig(), hash_part, resolve_duplicates)
