"""The corpus's fixed tables: documents and rejects, and the manifest's name."""

import pyarrow as pa

MANIFEST = "corpus.json"

DOCS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("url", pa.string()),
        ("domain", pa.string()),
        ("meta", pa.string()),
    ]
)

REJECTS_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("file", pa.string()),
        ("position", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("excerpt", pa.string()),
    ]
)

# Columns whose few distinct values are worth a Parquet dictionary and statistics.
DICTIONARY_COLUMNS = {"source", "domain", "reason", "file", "keep", "language"}
