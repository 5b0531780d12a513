"""The minhash stage: fuzzy deduplication with MinHash-LSH, verified candidates and
representative clusters.

    run(corpus_url, MinhashConfig(threshold=0.8))

Map: normalised word n-gram shingles, MinHash signatures and LSH band keys per docs part.
The rest is partitioned through the staging area, so no process holds more than its share of
the corpus's band rows, pairs or edges (``partition_rows``):

    shuffle_bands .. verify   candidate pairs from shared bands, each verified against the
                              threshold with the full signatures or the shingle sets (peers
                              skip this and lose precision): curation.minhash.pairs
    star_round, label_nodes   connected components of the verified pairs, in rounds:
                              curation.minhash.components
    ship_members .. mark_part components split into clusters around the document the keep
                              policy prefers, and the attrs: curation.minhash.clusters

attrs/minhash says, for every document, its cluster, whether it is kept, and which document it
duplicates at what similarity.

The signatures, bands and verified pairs are kept in models/minhash (curation.minhash.model).
A run with ``against=OLD`` numbers OLD's documents first and its own after them, reuses OLD's
bands and verified pairs, and so marks its documents as a run over OLD and new together would.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, field_validator, model_validator

from curation.corpus import Corpus, write_parquet_atomic
from curation.errors import UserError
from curation.fingerprint import fingerprint
from curation.minhash import model
from curation.minhash.clusters import choose_representatives, mark_part, member_partitions, ship_members
from curation.minhash.components import (
    converged,
    done_rounds,
    known_row_groups,
    label_nodes,
    partitions,
    rounds,
    shuffle_known,
    star_round,
)
from curation.minhash.model import numbering
from curation.minhash.pairs import attach_first, band_buckets, every_slot, find_candidates, new_slots, shuffle_bands, verify
from curation.minhash.shingles import shingle_hashes
from curation.minhash.signatures import MinHashParams, band_keys, bands_rows_for, minhash_signatures
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part

BATCH = 2048


class MinhashConfig(StageConfig):
    threshold: float = Field(0.8, gt=0.0, le=1.0,
                             description="Jaccard similarity from which two documents are near-duplicates.")
    ngram: int = Field(5, ge=1, description="Words per shingle.")
    bands: int = Field(14, ge=1, description="LSH bands (FineWeb's 14 x 8 by default).")
    rows: int = Field(8, ge=1, description="Rows per band.")
    num_perm: int | None = Field(None, ge=1, exclude=True,
                                 description="Instead of bands and rows: this many permutations, "
                                             "split into bands x rows for the threshold.")
    seed: int = Field(1, description="Seed of the permutations.")
    scope: Literal["global", "source"] = Field(
        "global", description="global: near-duplicates across the corpus; source: within one source.")
    keep: str = Field("first", description="Which of a cluster survives: first, longest or best:<stage>.<column>.")
    verify: Literal["exact", "estimate"] = Field(
        "exact", description="Check candidates by true shingle Jaccard, or by the signatures' estimate.")
    against: str | None = Field(
        None, description="An earlier corpus whose kept MinHash tables (models/minhash) the new documents "
                          "are compared with; its documents come first.")
    # The answer does not depend on it, so it is not part of the config's fingerprint.
    partition_rows: int = Field(
        2_000_000, ge=1, exclude=True,
        description="Rows per task of the global steps (about: band rows, or documents for the components; "
                    "it bounds a task's memory).")

    @model_validator(mode="before")
    @classmethod
    def _bands_from_num_perm(cls, values: dict) -> dict:
        """bands x rows chosen for the threshold when only a number of permutations is given."""
        if not isinstance(values, dict) or values.get("num_perm") is None:
            return values
        if values.get("bands") is not None or values.get("rows") is not None:
            raise ValueError("give num_perm or bands and rows, not both")
        # Verification removes false candidates, so they cost only a check; a missed pair is
        # lost for good. Weighting them 1:19 picks FineWeb's 14 x 8 for 112 permutations at 0.8.
        bands, rows = bands_rows_for(float(values.get("threshold", 0.8)), int(values["num_perm"]),
                                     false_positive_weight=0.05)
        return {**values, "bands": bands, "rows": rows}

    @field_validator("keep")
    @classmethod
    def _keep_rule(cls, keep: str) -> str:
        if keep not in ("first", "longest") and not _best_column(keep):
            raise ValueError(f"must be first, longest or best:<stage>.<column>, not {keep!r}")
        return keep

    @field_validator("against")
    @classmethod
    def _against_named(cls, against: str | None) -> str | None:
        if against is not None and not against:
            raise ValueError("needs the path or URL of an earlier corpus")
        return against

    @property
    def params(self) -> MinHashParams:
        return MinHashParams(self.ngram, self.bands, self.rows, self.seed)


def against_fingerprint(config: MinhashConfig) -> list[str]:
    """What a run reads outside its corpus: the older corpus's MinHash model."""
    return [fingerprint(model.read_model(config.against, config.model_dump())[1])] if config.against else []


def check_against(corpus: Corpus, config: MinhashConfig) -> None:
    """Fail early, with one clear line, when ``against`` cannot serve a run over ``corpus``."""
    against_fingerprint(config)
    if config.against and Corpus.open(config.against).root == corpus.root:
        raise UserError(f"against names the corpus being deduplicated ({corpus.url})")


def _best_column(keep: str) -> tuple[str, str] | None:
    if not keep.startswith("best:") or "." not in keep[5:]:
        return None
    stage, column = keep[5:].split(".", 1)
    return (stage, column) if stage and column else None


# -- map: signatures and bands of one part -------------------------------------------------
def signature_part(plan: StagePlan, part: str) -> None:
    corpus, params = plan.corpus, plan.config.params
    signatures_path = f"{plan.staging}/signatures/{part}.parquet"
    bands_path = f"{plan.staging}/bands/{part}.parquet"
    base = plan.part_offsets()[part]
    signature_batches, band_batches = [], []
    rows = 0
    for batch in corpus.iter_batches("docs", part, columns=["id", "text", "source"], batch_size=BATCH):
        hashes, offsets = shingle_hashes(batch.column("text"), params.ngram)
        signatures = minhash_signatures(hashes, offsets, params)
        shingles = np.diff(offsets)
        signature_batches.append(
            pa.table(
                {
                    "id": batch.column("id"),
                    "source": batch.column("source"),
                    "chars": pc.utf8_length(batch.column("text")).cast(pa.int64()),
                    "shingles": pa.array(shingles, pa.int32()),
                    # 16 bits of each minhash are plenty to compare (a chance equality costs
                    # 1/65536 of a row) and take a quarter of the space the model keeps.
                    "signature": pa.FixedSizeListArray.from_arrays(
                        pa.array(signatures.ravel().astype(np.uint16)), params.num_perm),
                }
            )
        )
        docs = base + rows + np.flatnonzero(shingles > 0)  # no shingles, no bands: unique by rule
        keys = band_keys(signatures[shingles > 0], params)
        band_batches.append(
            pa.table(
                {
                    "band": pa.array(np.tile(np.arange(params.bands, dtype=np.int16), len(docs))),
                    "key": pa.array(keys.ravel()),
                    "doc": pa.array(np.repeat(docs, params.bands)),
                    "source": pc.take(batch.column("source"), pa.array(np.repeat(docs - base - rows, params.bands))),
                }
            )
        )
        rows += batch.num_rows
    write_parquet_atomic(corpus.fs, signatures_path, pa.concat_tables(signature_batches))
    write_parquet_atomic(corpus.fs, bands_path, pa.concat_tables(band_batches))


def publish_duplicates(plan: StagePlan) -> StageResult:
    """Publish attrs/minhash and, for a run over its own corpus, the model (signatures, bands and
    every verified pair); count what was kept, a part at a time."""
    corpus, config, known = plan.corpus, plan.config, numbering(plan)
    plan.check_staged_parts("attrs")
    kept = 0
    for part in plan.parts:
        with corpus.fs.open(plan.staged_part(part), "rb") as handle:
            kept += pc.sum(pq.read_table(handle, columns=["keep"])["keep"]).as_py() or 0
    verified = [f"{plan.staging}/verified/{slot}.parquet" for slot in known.slots.new]
    details = {"candidate_pairs": _rows(corpus, [path for slot in known.slots.new
                                                 for path in _files(corpus, f"{plan.staging}/first/{slot}")]),
               "verified_pairs": _rows(corpus, verified), "band_buckets": len(band_buckets(plan)),
               "component_rounds": done_rounds(plan)}
    plan.publish_staged_parts("attrs/minhash")
    if not config.against:
        model.keep_tables(plan, ([known.known_edges[1]] if known.known_edges else []) + verified)
    rows = sum(plan.part_rows)
    return StageResult(rows, kept, details)


def _files(corpus: Corpus, folder: str) -> list[str]:
    return sorted(corpus.fs.ls(folder, detail=False)) if corpus.fs.isdir(folder) else []


def _rows(corpus: Corpus, paths: list[str]) -> int:
    total = 0
    for path in paths:
        with corpus.fs.open(path, "rb") as handle:
            total += pq.ParquetFile(handle).metadata.num_rows
    return total


STAGE = Stage(
    name="minhash",
    config=MinhashConfig,
    reasons=("near_duplicate",),
    writes=("attrs/{name}", model.FOLDER),
    outside=against_fingerprint,
    check=check_against,
    steps=(Step(signature_part, over=each_part, kept={kind: f"{model.FOLDER}/{kind}" for kind in ("signatures", "bands")}),
           Step(shuffle_bands, over=every_slot, unit="parts"),
           Step(find_candidates, over=band_buckets, unit="buckets"),
           Step(attach_first, over=every_slot, unit="parts"),
           Step(verify, over=new_slots, unit="parts"),
           Step(shuffle_known, over=known_row_groups, unit="row groups"),
           Step(star_round, over=rounds, until=converged, unit="partitions"),
           Step(label_nodes, over=partitions, unit="partitions"),
           Step(ship_members, over=every_slot, unit="parts"),
           Step(choose_representatives, over=member_partitions, unit="partitions"),
           Step(mark_part, over=each_part),
           Step(publish_duplicates)),
)
