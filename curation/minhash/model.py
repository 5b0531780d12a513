"""The MinHash tables a fuzzy dedup run keeps in models/minhash/, so that new documents can later
be deduplicated against this corpus without recomputing its signatures.

    models/minhash/model.json             settings, the docs fingerprint, parts and their rows
    models/minhash/signatures/part-*.parquet   id, source, chars, shingles, signature
    models/minhash/bands/part-*.parquet        band, key, doc, source
    models/minhash/edges.parquet               u, v, similarity: the verified pairs

The folder is published whole, so a half-written model is never used.
"""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from curation.corpus import Corpus, write_bytes_atomic, write_parquet_atomic
from curation.errors import UserError
from curation.minhash.documents import Segment

FOLDER = "models/minhash"
# What decides which pairs are verified edges; a run against this model must use the same.
EDGE_SETTINGS = ("ngram", "bands", "rows", "seed", "threshold", "scope", "verify")
EDGES_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64()), ("similarity", pa.float32())])


def keep_tables(plan, edges: pa.Table) -> None:
    """Publish a finished run's signatures, bands and verified edges from its staging area as
    the model (``Corpus.publish``: a reader finds the old model or the new one, whole)."""
    fs, staged = plan.corpus.fs, f"{plan.staging}/model"
    fs.makedirs(staged, exist_ok=True)
    for kind in ("signatures", "bands"):
        fs.mv(f"{plan.staging}/{kind}", f"{staged}/{kind}", recursive=True)
    # Sorted: candidate pairs come from DuckDB in no set order, and the model is checksummed.
    ordered = edges.cast(EDGES_SCHEMA).sort_by([("u", "ascending"), ("v", "ascending")])
    write_parquet_atomic(fs, f"{staged}/edges.parquet", ordered)
    description = {
        "settings": {name: getattr(plan.config, name) for name in EDGE_SETTINGS},
        "docs_fingerprint": plan.corpus.docs_fingerprint(),
        "parts": plan.parts,
        "part_rows": plan.part_rows,
    }
    write_bytes_atomic(fs, f"{staged}/model.json", orjson.dumps(description, option=orjson.OPT_INDENT_2))
    plan.corpus.publish(staged, FOLDER)


def kept_edges(plan) -> tuple[pa.Table, int]:
    """The verified pairs this corpus's model holds, and the number of the first document it has
    not seen, when it was made from parts that are all unchanged (``StagePlan.kept_parts``) and
    come first: new documents were only appended since. Otherwise none, from document 0."""
    corpus, path = plan.corpus, plan.corpus.path(FOLDER, "model.json")
    if not plan.kept_parts or not corpus.fs.exists(path):
        return EDGES_SCHEMA.empty_table(), 0
    parts = orjson.loads(corpus.fs.cat_file(path))["parts"]
    if parts != plan.parts[: len(parts)] or not set(parts) <= set(plan.kept_parts):
        return EDGES_SCHEMA.empty_table(), 0
    with corpus.fs.open(corpus.path(FOLDER, "edges.parquet"), "rb") as handle:
        return pq.read_table(handle), sum(plan.part_rows[: len(parts)])


def read_model(url: str, settings: dict) -> tuple[Corpus, dict]:
    """An earlier corpus and its model.json, for a run with ``settings``; a clear error when
    the model is missing, older than the corpus's documents, or made with other settings."""
    corpus = Corpus.open(url)
    path = corpus.path(FOLDER, "model.json")
    if not corpus.fs.exists(path):
        raise UserError(f"{url} has no MinHash tables ({FOLDER}); run `curate minhash {url}` first")
    with corpus.fs.open(path, "rb") as handle:
        model = orjson.loads(handle.read())
    if model["docs_fingerprint"] != corpus.docs_fingerprint():
        raise UserError(f"the MinHash tables of {url} are older than its documents; run `curate minhash {url}` again")
    different = [f"{name} {model['settings'][name]} there, {settings[name]} here"
                 for name in EDGE_SETTINGS if model["settings"][name] != settings[name]]
    if different:
        raise UserError(f"{url} was deduplicated with other settings ({'; '.join(different)}); use the same")
    return corpus, model


def against(url: str, settings: dict) -> tuple[Segment, pa.Table]:
    """The documents of an earlier corpus, numbered first, and its verified edges."""
    corpus, model = read_model(url, settings)
    segment = Segment(corpus, corpus.path(FOLDER), tuple(model["parts"]), tuple(model["part_rows"]))
    with corpus.fs.open(corpus.path(FOLDER, "edges.parquet"), "rb") as handle:
        return segment, pq.read_table(handle)
