"""Put finished units together into the corpus: numbered parts in input order (after the parts
it has, for an append), ids made unique across units and the corpus (first wins), every reject
accounted.

Every step can be repeated after a kill: the duplicate list is saved before anything moves, a
staged shard is either still staged or already in place, and a shard with duplicates is never
moved (it is rewritten into place), so its text is there for the reject excerpts on a rerun.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.corpus import Corpus, part_name, write_parquet_atomic
from curation.duck import connect, quote_list, sql_file
from curation.ingest import reasons
from curation.ingest.documents import Reject
from curation.ingest.readers import excerpt
from curation.ingest.unit_ingest import UnitResult, rejects_table
from curation.ingest.units import IngestUnit

DUPLICATES_SCHEMA = pa.schema(
    [("id", pa.string()), ("shard", pa.string()), ("row", pa.int64()), ("first_shard", pa.string()), ("first_row", pa.int64())]
)


def assemble(corpus: Corpus, staging: str, units: list[IngestUnit], results: list[UnitResult],
             first: dict[str, int], earlier: list[str]) -> Counter:
    """Move staged units into docs/ and rejects/, numbered from ``first`` (parts per table);
    returns rejects by reason, duplicate ids (of each other or of the ``earlier`` docs parts)
    included."""
    shard_units = {
        f"{staging}/{unit.name}/shard-{i:05d}.parquet": unit
        for unit, result in zip(units, results, strict=True)
        for i in range(result.shards)
    }
    duplicates = _saved_duplicates(corpus, staging, list(shard_units), [corpus.part_path("docs", p) for p in earlier])
    drop_rows: dict[str, set[int]] = defaultdict(set)
    for shard, row in zip(duplicates["shard"].to_pylist(), duplicates["row"].to_pylist(), strict=True):
        drop_rows[shard].add(row)

    duplicate_rejects = _duplicate_rejects(corpus, shard_units, duplicates)
    for index, shard in enumerate(shard_units):
        if shard in drop_rows:
            table = _read(corpus, shard)
            dropped = pa.array([row in drop_rows[shard] for row in range(table.num_rows)])
            corpus.write_part("docs", part_name(first["docs"] + index), table.filter(pc.invert(dropped)))
        else:
            _move_once(corpus, shard, "docs", part_name(first["docs"] + index))

    unit_rejects = [f"{staging}/{u.name}/rejects.parquet" for u, r in zip(units, results, strict=True) if sum(r.rejects.values())]
    for index, path in enumerate(unit_rejects):
        _move_once(corpus, path, "rejects", part_name(first["rejects"] + index))
    if duplicate_rejects.num_rows:
        corpus.write_part("rejects", part_name(first["rejects"] + len(unit_rejects)), duplicate_rejects)

    counts = Counter()
    for result in results:
        counts.update(result.rejects)
    if duplicate_rejects.num_rows:
        counts[reasons.DUPLICATE_ID] += duplicate_rejects.num_rows
    return counts


def _saved_duplicates(corpus: Corpus, staging: str, shards: list[str], earlier: list[str]) -> pa.Table:
    """Occurrences of ids already used by an earlier unit or docs part, saved once since shards
    move later."""
    saved = f"{staging}/duplicate_ids.parquet"
    if not corpus.fs.exists(saved):
        table = DUPLICATES_SCHEMA.empty_table()
        if shards:
            docs = (f"SELECT id, filename AS shard, file_row_number AS row FROM read_parquet("
                    f"{quote_list([corpus.to_uri(p) for p in earlier])}, filename = true, file_row_number = true)"
                    if earlier else "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS shard, NULL::BIGINT AS row LIMIT 0")
            query = sql_file("ingest_duplicate_ids.sql", shards=quote_list([corpus.to_uri(s) for s in shards]), docs=docs)
            with connect(corpus.fs) as connection:
                found = connection.sql(query).fetch_arrow_table()
            table = pa.table(
                {name: found[name] if name not in ("shard", "first_shard") else
                 pa.array([corpus.fs._strip_protocol(s) for s in found[name].to_pylist()], pa.string())
                 for name in DUPLICATES_SCHEMA.names},
                schema=DUPLICATES_SCHEMA,
            )
        write_parquet_atomic(corpus.fs, saved, table)
    return _read(corpus, saved)


def _duplicate_rejects(corpus: Corpus, shard_units: dict[str, IngestUnit], duplicates: pa.Table) -> pa.Table:
    positions = {}  # shard -> (files, positions) from its sidecar, read once

    def where(shard: str, row: int) -> tuple[str, int]:
        if shard not in shard_units:  # a docs part the corpus had
            return corpus.to_uri(shard), row
        if shard not in positions:
            sidecar = _read(corpus, shard.removesuffix(".parquet") + ".positions.parquet")
            positions[shard] = (sidecar["file"].to_pylist(), sidecar["position"].to_pylist())
        files, rows = positions[shard]
        return files[row], rows[row]

    texts = {}
    rejects_by_source: dict[str, list[Reject]] = defaultdict(list)
    for record in duplicates.to_pylist():
        shard, row = record["shard"], record["row"]
        if shard not in texts:
            texts[shard] = _read(corpus, shard, columns=["text"])["text"]
        file, position = where(shard, row)
        first_file, first_position = where(record["first_shard"], record["first_row"])
        detail = f"id {record['id']!r} already used at {first_file}:{first_position}"
        rejects_by_source[shard_units[shard].source].append(
            Reject(file, position, reasons.DUPLICATE_ID, detail, excerpt(texts[shard][row].as_py()))
        )
    tables = [rejects_table(source, rejects) for source, rejects in rejects_by_source.items()]
    return pa.concat_tables(tables) if tables else rejects_table("", [])


def _move_once(corpus: Corpus, staged: str, table: str, part: str) -> None:
    if corpus.fs.exists(staged):
        corpus.move_part(staged, table, part)
    elif not corpus.has_part(table, part):
        raise RuntimeError(f"staged file {staged} vanished before it reached {table}/{part}")


def _read(corpus: Corpus, path: str, columns: list[str] | None = None) -> pa.Table:
    with corpus.fs.open(path, "rb") as handle:
        return pq.read_table(handle, columns=columns)
