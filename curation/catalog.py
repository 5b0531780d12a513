"""Read-only SQL over a corpus: the DuckDB views of docs/ARCHITECTURE.md, defined in sql/.

Views live in a throwaway DuckDB database that is reopened read-only, and only SELECT and
EXPLAIN statements run (a read-only DuckDB would still let COPY ... TO write files).
"""

from __future__ import annotations

import re
import tempfile
from importlib.resources import files
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from curation.duck import connect, identifier, quote, sql_file
from curation.errors import UserError
from curation.schemas import MANIFEST, REJECTS_SCHEMA

ALLOWED_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def report_names() -> list[str]:
    return sorted(p.name.removesuffix(".sql") for p in files("curation.sql.reports").iterdir() if p.name.endswith(".sql"))


def report_sql(name: str) -> str:
    if name not in report_names():
        raise UserError(f"no report named {name!r}; reports are: {', '.join(report_names())}")
    return files("curation.sql.reports").joinpath(f"{name}.sql").read_text()


def view_definitions(corpus, part: str | None = None) -> str:
    """The views over the whole corpus, or with ``part`` over that docs part alone (the part of
    every row-aligned attrs table with it), for work done part by part."""
    if not corpus.parts("docs"):
        raise UserError(f"{corpus.url} has no documents yet; run `curate ingest` first")
    statements = [sql_file("views.sql", docs=_parts(corpus, "docs", part=part), manifest=quote(corpus.uri(MANIFEST)))]
    rejects = f"read_parquet({_parts(corpus, 'rejects')})" if corpus.parts("rejects") else _empty(REJECTS_SCHEMA)
    statements.append(sql_file("table_view.sql", view="rejects", relation=rejects))
    stages = corpus.attrs_stages()
    for stage in stages:
        aligned = part if part is not None and corpus.is_current(stage) else None
        relation = f"read_parquet({_parts(corpus, 'attrs', stage, part=aligned)})"
        statements.append(sql_file("table_view.sql", view=identifier(stage), relation=relation))
    for name in corpus.selections():
        relation = f"read_parquet({_parts(corpus, 'selections', name)})"
        statements.append(sql_file("table_view.sql", view=identifier(f"selection_{name}"), relation=relation))
    for name in corpus.mixtures():
        statements.append(_mixture_view(corpus, name))
    for name in corpus.ablations():
        statements.append(sql_file("ablation_view.sql", view=identifier(f"ablation_{name}"),
                                   summary_view=identifier(f"ablation_{name}_summary"),
                                   runs=quote(corpus.uri("ablations", name, "runs.parquet")),
                                   summary=quote(corpus.uri("ablations", name, "summary.parquet"))))
    statements.append(
        sql_file(
            "corpus_view.sql",
            # Each attrs table joins under an alias of its own, so that a table with a column of
            # its own name (tokens.tokens) still gives the row, not that column, as the struct.
            stage_columns="".join(f", {identifier(f'_attrs_{i}')} AS {identifier(s)}" for i, s in enumerate(stages)),
            stage_joins=" ".join(_attrs_join(corpus, stage, identifier(f"_attrs_{i}")) for i, stage in enumerate(stages)),
        )
    )
    statements += _funnel_views(corpus, stages)
    return "\n".join(statements)


def _mixture_view(corpus, name: str) -> str:
    """What a mixture holds: its text files, or the lineage beside its token files."""
    fmt = orjson.loads(corpus.fs.cat_file(corpus.path("mixtures", name, "manifest.json")))["format"]
    view = identifier(f"mixture_{name}")
    if fmt in ("megatron", "mds"):
        return sql_file("mixture_token_files_view.sql", view=view,
                        files=quote(corpus.uri("mixtures", name, "data", "*", "documents.parquet")))
    reader = "read_parquet" if fmt == "parquet" else "read_json_auto"
    files = quote(corpus.uri("mixtures", name, "data", "*", f"part-*.{fmt}"))
    return sql_file("mixture_view.sql", view=view, reader=reader, files=files)


def _funnel_views(corpus, tables: list[str]) -> list[str]:
    """``drops`` and ``passing`` over the attrs tables that mark documents (keep and reason)."""
    from curation.registry import pipeline_rank

    records = corpus.records()
    marking = [t for t in tables if {"keep", "reason"} <= set(corpus.columns(f"attrs/{t}"))]
    ordered = sorted((t for t in records if t in marking), key=lambda t: pipeline_rank(records[t].stage))
    drops = "".join(f"\n    UNION ALL SELECT {quote(t)}, coalesce(reason, 'unspecified'), count(*) FROM {identifier(t)} "
                    "WHERE NOT keep GROUP BY ALL" for t in marking)
    counts = ["{'stage': 'ingest', 'docs': count(*)}"]
    passed = []
    for table in ordered:
        passed.append(f"coalesce({identifier(table)}.keep, true)")
        counts.append(f"{{'stage': {quote(table)}, 'docs': count(*) FILTER (WHERE {' AND '.join(passed)})}}")
    return [sql_file("drops_view.sql", attrs_drops=drops), sql_file("passing_view.sql", counts=", ".join(counts))]


def _attrs_join(corpus, stage: str, alias: str) -> str:
    """Attrs are row-aligned with docs (one row per document, part by part, in order) when their
    stage is current (made from these documents): those join by position, which needs no hash
    table (a hash join on id can put the documents' text on the build side and run out of
    memory). Anything else joins on id."""
    if corpus.is_current(stage):
        return f"POSITIONAL JOIN {identifier(stage)} AS {alias}"
    return f"LEFT JOIN {identifier(stage)} AS {alias} ON {alias}.id = docs.id"


def _parts(corpus, *table: str, part: str | None = None) -> str:
    return quote(corpus.uri(*table, f"{part or 'part-*'}.parquet"))


def _empty(schema: pa.Schema) -> str:
    """A relation with the columns of ``schema`` and no rows."""
    types = {pa.string(): "VARCHAR", pa.int64(): "BIGINT"}
    columns = ", ".join(f"CAST(NULL AS {types[f.type]}) AS {identifier(f.name)}" for f in schema)
    return f"(SELECT {columns} LIMIT 0)"


class Catalog:
    """``with Catalog(corpus) as catalog: catalog.query("SELECT ...")``"""

    def __init__(self, corpus, part: str | None = None):
        self.corpus = corpus
        self._tmp = tempfile.TemporaryDirectory(prefix="curation-catalog-")
        database = str(Path(self._tmp.name) / "catalog.duckdb")
        with connect(corpus.fs, database) as writer:
            writer.execute(view_definitions(corpus, part))
        self.connection = connect(corpus.fs, database, read_only=True)

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()
        self._tmp.cleanup()

    def query(self, sql: str) -> pa.Table:
        relation = self.relation(sql)
        try:
            return relation.fetch_arrow_table()
        except duckdb.Error as error:
            raise UserError(f"SQL error: {_first_line(error)}") from None

    def relation(self, sql: str) -> duckdb.DuckDBPyRelation:
        try:
            statements = self.connection.extract_statements(sql)
        except duckdb.Error as error:
            raise UserError(f"SQL error: {_first_line(error)}") from None
        if len(statements) != 1:
            raise UserError(f"give exactly one SQL statement (got {len(statements)})")
        if statements[0].type not in ALLOWED_STATEMENTS:
            raise UserError(f"the corpus is read-only here: {statements[0].type.name} statements are not allowed")
        try:
            return self.connection.sql(sql)
        except duckdb.Error as error:
            raise UserError(f"SQL error: {_first_line(error)}") from None


def _first_line(error: Exception) -> str:
    message = " ".join(str(error).split("\n")[:2]).strip()
    missing = re.search(r"Table with name (\w+) does not exist", message)
    if missing:
        message = f"no view named {missing.group(1)} (is it a stage that has not run on this corpus yet?)"
    return message
