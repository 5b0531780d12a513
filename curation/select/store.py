"""Selections on disk: selections/<name>/part-00000.parquet (id, repeats, why) and
selection.json (the full definition, so the selection can be reproduced), written to a
temporary folder and published whole (Corpus.publish). SQL sees each as the view selection_<name>."""

from __future__ import annotations

import re
import uuid

import orjson
import pyarrow as pa

from curation.corpus import Corpus, write_bytes_atomic, write_parquet_atomic
from curation.errors import UserError

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
SCHEMA = pa.schema([("id", pa.string()), ("repeats", pa.int32()), ("why", pa.string())])


def check_name(name: str, what: str = "a selection name") -> str:
    """Names become SQL views, so they are identifiers."""
    if not NAME.match(name):
        raise UserError(f"{what} is letters, digits and _ (starting with a letter), not {name!r}")
    return name


def write_selection(corpus: Corpus, name: str, table: pa.Table, definition: dict) -> None:
    staging = corpus.path("selections", f".{check_name(name)}-{uuid.uuid4().hex}")
    write_parquet_atomic(corpus.fs, f"{staging}/part-00000.parquet", table.cast(SCHEMA))
    write_bytes_atomic(corpus.fs, f"{staging}/selection.json", orjson.dumps(definition, option=orjson.OPT_INDENT_2))
    corpus.publish(staging, f"selections/{name}")
