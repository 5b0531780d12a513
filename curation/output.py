"""Writing query results: a terminal table, CSV, JSON lines or Parquet, to stdout or a file."""

from __future__ import annotations

import sys

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from curation.errors import UserError


def write_table(table: pa.Table, fmt: str, output: str | None = None) -> None:
    if fmt == "parquet":
        if output is None:
            raise UserError("--format parquet needs --output FILE")
        pq.write_table(table, output)
        return
    handle = open(output, "wb") if output else sys.stdout.buffer
    try:
        if fmt == "csv":
            pacsv.write_csv(table, handle)
        elif fmt == "json":
            for row in table.to_pylist():
                handle.write(orjson.dumps(row, default=str) + b"\n")
        else:
            handle.flush()
            _print_table(table, output)
    finally:
        if output:
            handle.close()
        else:
            handle.flush()


def _print_table(table: pa.Table, output: str | None) -> None:
    view = Table(show_lines=False, header_style="bold")
    for name in table.column_names:
        view.add_column(name, overflow="fold", max_width=80)
    for row in table.to_pylist():
        view.add_row(*("NULL" if v is None else str(v) for v in row.values()))
    if output:
        with open(output, "w", encoding="utf-8") as file:
            Console(file=file, width=200).print(view)
    else:
        Console(width=None if sys.stdout.isatty() else 200).print(view)
        print(f"{table.num_rows} row{'s' if table.num_rows != 1 else ''}")
