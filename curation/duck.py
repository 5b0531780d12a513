"""DuckDB plumbing: connections that can read the corpus filesystem, and the SQL files in sql/."""

from __future__ import annotations

import os
from importlib.resources import files
from string import Template

import duckdb

from curation import filesystems


def connect(fs=None, database: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    # DuckDB would otherwise take up to 80% of the machine's memory; past this limit it spills
    # to disk, which keeps global stages bounded as the corpus grows.
    config = {"memory_limit": os.environ.get("CURATION_DUCKDB_MEMORY", "512MB")}
    connection = duckdb.connect(database, read_only=read_only, config=config)
    if fs is not None and not filesystems.is_local(fs):
        connection.register_filesystem(fs)
    return connection


def sql_file(name: str, **params: str) -> str:
    """The text of ``sql/<name>`` with ``$param`` placeholders filled in (already quoted)."""
    return Template(files("curation.sql").joinpath(name).read_text()).substitute(params)


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_list(values: list[str]) -> str:
    return "[" + ", ".join(quote(v) for v in values) + "]"


def identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
