"""The MinHash tables a fuzzy dedup run keeps in models/minhash/, so that new documents can later
be deduplicated against this corpus without recomputing its signatures.

    models/minhash/model.json             settings, the docs fingerprint, parts and their rows
    models/minhash/signatures/part-*.parquet   id, source, chars, shingles, signature
    models/minhash/bands/part-*.parquet        band, key, doc, source
    models/minhash/edges.parquet               u, v, similarity: the verified pairs

model.json is written last and removed first, so a half-written model is never used.
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


def keep_tables(corpus: Corpus, staging: str, settings: dict, docs_fingerprint: str,
                parts: list[str], part_rows: list[int], edges: pa.Table) -> None:
    """Move a finished run's signatures and bands from its staging area into the model."""
    fs, folder = corpus.fs, corpus.path(FOLDER)
    if fs.exists(folder):
        fs.rm(folder, recursive=True)
    fs.makedirs(folder, exist_ok=True)
    for kind in ("signatures", "bands"):
        fs.mv(f"{staging}/{kind}", f"{folder}/{kind}", recursive=True)
    write_parquet_atomic(fs, f"{folder}/edges.parquet", edges.cast(EDGES_SCHEMA))
    model = {
        "settings": {name: settings[name] for name in EDGE_SETTINGS},
        "docs_fingerprint": docs_fingerprint,
        "parts": parts,
        "part_rows": part_rows,
    }
    write_bytes_atomic(fs, f"{folder}/model.json", orjson.dumps(model, option=orjson.OPT_INDENT_2))


def read_model(url: str, settings: dict) -> tuple[Corpus, dict]:
    """An earlier corpus and its model.json, for a run with ``settings``; a clear error when
    the model is missing, older than the corpus's documents, or made with other settings."""
    corpus = Corpus.open(url)
    path = corpus.path(FOLDER, "model.json")
    if not corpus.fs.exists(path):
        raise UserError(f"{url} has no MinHash tables ({FOLDER}); run `curate dedup {url} --fuzzy` first")
    with corpus.fs.open(path, "rb") as handle:
        model = orjson.loads(handle.read())
    if model["docs_fingerprint"] != corpus.docs_fingerprint():
        raise UserError(f"the MinHash tables of {url} are older than its documents; run `curate dedup {url} --fuzzy` again")
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
