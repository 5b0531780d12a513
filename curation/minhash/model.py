"""The MinHash tables a fuzzy dedup run keeps in models/minhash/, so that new documents can later
be deduplicated against this corpus without recomputing its signatures, and the numbering of
the documents a run compares.

    models/minhash/model.json             settings, the docs fingerprint, parts and their rows
    models/minhash/signatures/part-*.parquet   id, source, chars, shingles, signature
    models/minhash/bands/part-*.parquet        band, key, doc, source
    models/minhash/edges.parquet               u, v, similarity: the verified pairs

The folder is published whole, so a half-written model is never used.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pyarrow as pa

from curation.corpus import Corpus, parquet_writer_atomic, write_bytes_atomic
from curation.duck import connect, quote_list
from curation.errors import UserError
from curation.minhash.documents import Segment, Slots

FOLDER = "models/minhash"
# What decides which pairs are verified edges; a run against this model must use the same.
EDGE_SETTINGS = ("ngram", "bands", "rows", "seed", "threshold", "scope", "verify")
EDGES_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64()), ("similarity", pa.float32())])


@dataclass(frozen=True)
class Numbering:
    """The documents a run numbers (an older corpus's first) and what it knows of them already."""

    slots: Slots
    first_new: int  # candidates are only the pairs with a document from this one on
    # The file of verified pairs kept from before, and its corpus: the older corpus's, or this
    # corpus's own from its last run.
    known_edges: tuple[Corpus, str] | None

    @property
    def documents(self) -> int:
        return self.slots.segments[-1].end


def numbering(plan) -> Numbering:
    """What a run over ``plan`` compares: with ``against``, the older corpus's documents first and
    its verified pairs; after documents were only appended, this corpus's kept pairs."""
    config = plan.config
    if config.against:
        corpus, model = read_model(config.against, config.model_dump())
        old = Segment(corpus, corpus.path(FOLDER), tuple(model["parts"]), tuple(model["part_rows"]))
        new = Segment(plan.corpus, plan.staging, tuple(plan.parts), tuple(plan.part_rows), start=old.end)
        return Numbering(Slots([old, new]), old.end, (corpus, corpus.path(FOLDER, "edges.parquet")))
    path, first_new = kept_edges(plan)
    new = Segment(plan.corpus, plan.staging, tuple(plan.parts), tuple(plan.part_rows))
    return Numbering(Slots([new]), first_new, (plan.corpus, path) if path else None)


def keep_tables(plan, edges: list[str]) -> None:
    """Publish a finished run's signatures, bands and verified edges (the Parquet files
    ``edges``) from its staging area as the model (``Corpus.publish``: a reader finds the old
    model or the new one, whole)."""
    corpus, staged = plan.corpus, f"{plan.staging}/model"
    fs = corpus.fs
    fs.makedirs(staged, exist_ok=True)
    for kind in ("signatures", "bands"):
        fs.mv(f"{plan.staging}/{kind}", f"{staged}/{kind}", recursive=True)
    # Sorted, by DuckDB out of core: pairs are found in no set order, and the model is checksummed.
    query = (f"SELECT u::BIGINT AS u, v::BIGINT AS v, similarity::FLOAT AS similarity "
             f"FROM read_parquet({quote_list([corpus.to_uri(path) for path in edges])}) ORDER BY u, v") if edges else None
    with connect(fs) as connection, parquet_writer_atomic(fs, f"{staged}/edges.parquet", EDGES_SCHEMA) as writer:
        for batch in connection.sql(query).fetch_record_batch() if query else []:
            writer.write_batch(batch)
    description = {
        "settings": {name: getattr(plan.config, name) for name in EDGE_SETTINGS},
        "docs_fingerprint": plan.corpus.docs_fingerprint(),
        "parts": plan.parts,
        "part_rows": plan.part_rows,
    }
    write_bytes_atomic(fs, f"{staged}/model.json", orjson.dumps(description, option=orjson.OPT_INDENT_2))
    plan.corpus.publish(staged, FOLDER)


def kept_edges(plan) -> tuple[str | None, int]:
    """The file of verified pairs this corpus's model holds, and the number of the first document
    it has not seen, when it was made from parts that are all unchanged (``StagePlan.kept_parts``)
    and come first: new documents were only appended since. Otherwise none, from document 0."""
    corpus, path = plan.corpus, plan.corpus.path(FOLDER, "model.json")
    if not plan.kept_parts or not corpus.fs.exists(path):
        return None, 0
    parts = orjson.loads(corpus.fs.cat_file(path))["parts"]
    if parts != plan.parts[: len(parts)] or not set(parts) <= set(plan.kept_parts):
        return None, 0
    return corpus.path(FOLDER, "edges.parquet"), sum(plan.part_rows[: len(parts)])


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
