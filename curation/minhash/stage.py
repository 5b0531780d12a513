"""The minhash stage: fuzzy deduplication with MinHash-LSH, verified candidates and
representative clusters.

    run(corpus_url, MinhashConfig(threshold=0.8))   # curation.stage.run: signature_part over
                                                    # every part, then find_duplicates

Map: normalised word n-gram shingles, MinHash signatures and LSH band keys per docs part.
Global: DuckDB groups the band tables on disk into candidate pairs; each pair is verified
against the threshold with the full signatures (peers skip this and lose precision); connected
components of verified pairs are split into clusters around the document the keep policy
prefers. attrs/minhash says, for every document, its cluster, whether it is kept, and which
document it duplicates at what similarity.

The signatures, bands and verified pairs are kept in models/minhash (curation.minhash.model).
A run with ``against=OLD`` numbers OLD's documents first and its own after them, reuses OLD's
bands and verified pairs, and so marks its documents as a run over OLD and new together would.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from curation.corpus import Corpus, write_parquet_atomic
from curation.duck import connect, quote_list, sql_file
from curation.errors import UserError
from curation.fingerprint import fingerprint
from curation.minhash import model
from curation.minhash.clusters import connected_components, connected_components_sql, representatives
from curation.minhash.documents import Involved, Segment, Similarity, by_part, take
from curation.minhash.shingles import shingle_hashes
from curation.minhash.signatures import MinHashParams, band_keys, bands_rows_for, minhash_signatures
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part

# Above this many verified pairs, components are found by DuckDB rather than in Python.
COMPONENTS_IN_MEMORY_EDGES = 500_000
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
    if corpus.fs.exists(bands_path):
        return  # written last: the part is done
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


# -- global: candidates, verification, clusters ---------------------------------------------
# Memory grows with the documents that have candidates, not with the corpus: only their
# signatures, ids and shingles are ever loaded, and the attrs are written part by part.
def find_duplicates(plan: StagePlan) -> StageResult:
    config = plan.config
    check_against(plan.corpus, config)
    # Pairs verified before: those of the older corpus, or of this corpus's previous run when
    # documents were only appended since. Candidates are then only the pairs with a newer document.
    if config.against:
        old, known_edges = model.against(config.against, config.model_dump())
        first_new = old.end
    else:
        old = None
        known_edges, first_new = model.kept_edges(plan)
    new = Segment(plan.corpus, plan.staging, tuple(plan.parts), tuple(plan.part_rows), start=old.end if old else 0)
    segments = [old, new] if old else [new]

    u, v = _candidates(segments, config, first_new=first_new)
    old_u, old_v = known_edges["u"].to_numpy(), known_edges["v"].to_numpy()
    involved = Involved(segments, np.unique(np.concatenate([u, v, old_u, old_v])), config.params.num_perm)
    u, v = involved.position(u), involved.position(v)
    similarity_of = Similarity(involved, config.ngram, config.threshold, exact=config.verify == "exact")
    similarity = similarity_of.pairs(u, v)
    verified = similarity >= config.threshold
    u, v, similarity = u[verified], v[verified], similarity[verified]

    labels = components(len(involved), np.concatenate([involved.position(old_u), u]),
                        np.concatenate([involved.position(old_v), v]))
    if old:  # components without a new document stay as the old corpus's own run left them
        labels = np.where(np.isin(labels, labels[involved.docs >= new.start]), labels, np.arange(len(labels)))
    similarity_of.prepare(np.flatnonzero(np.bincount(labels, minlength=len(labels))[labels] > 1))
    kept_by, similarity_to_kept = representatives(labels, _priority(config, involved), similarity_of, config.threshold)
    removed = _write_attrs(plan, new, involved, kept_by, similarity_to_kept)

    plan.publish_staged_parts("attrs/minhash")
    if not old:
        edges = pa.table({"u": involved.docs[u], "v": involved.docs[v], "similarity": similarity})
        model.keep_tables(plan, pa.concat_tables([known_edges.cast(model.EDGES_SCHEMA), edges.cast(model.EDGES_SCHEMA)]))
    rows = sum(plan.part_rows)
    return StageResult(rows, rows - removed, {"candidate_pairs": int(verified.size), "verified_pairs": int(verified.sum())})


def components(count: int, u: np.ndarray, v: np.ndarray, in_memory_edges: int | None = None) -> np.ndarray:
    """Connected components of the verified pairs: union-find in this process for up to
    ``in_memory_edges`` edges, DuckDB (out of core, past its memory limit) for more. Both label
    a component by its smallest node."""
    if len(u) <= (COMPONENTS_IN_MEMORY_EDGES if in_memory_edges is None else in_memory_edges):
        return connected_components(count, u, v)
    with connect() as connection:
        connection.register("verified_edges", pa.table({"u": u, "v": v}))
        labelled = connection.sql(f"SELECT node, label FROM {connected_components_sql(connection, 'verified_edges')}").fetchnumpy()
    labels = np.arange(count, dtype=np.int64)
    labels[labelled["node"]] = labelled["label"]
    return labels


def _candidates(segments: list[Segment], config: MinhashConfig, first_new: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (u < v) by document number; with an older corpus, those with a new document."""
    corpus = segments[-1].corpus
    scope = ", source" if config.scope == "source" else ""
    bands = "\n    UNION ALL\n    ".join(
        f"SELECT band, key, doc + {segment.start} AS doc, source "
        f"FROM read_parquet({quote_list([segment.corpus.to_uri(segment.table('bands', p)) for p in segment.parts])})"
        for segment in segments if segment.parts
    ) or "SELECT NULL::SMALLINT AS band, NULL::UBIGINT AS key, NULL::BIGINT AS doc, NULL::VARCHAR AS source LIMIT 0"
    with connect(corpus.fs) as connection:
        query = sql_file("minhash_candidates.sql", bands=bands, scope_columns=scope, first_new=str(first_new))
        pairs = connection.sql(query).fetchnumpy()
    return pairs["u"].astype(np.int64), pairs["v"].astype(np.int64)


def _priority(config: MinhashConfig, involved: Involved) -> np.ndarray:
    """Lower is kept first; ties go to the earlier document (an older corpus comes first)."""
    count = len(involved)
    order = np.arange(count, dtype=np.float64) / max(count, 1)  # in [0, 1): breaks ties
    if config.keep == "first":
        return order
    if config.keep == "longest":
        return -involved.chars.astype(np.float64) + order
    stage, column = _best_column(config.keep)
    scores = []
    for segment, part, local in by_part(involved.segments, involved.docs):
        if not segment.corpus.has_part(f"attrs/{stage}", part):
            raise UserError(f"keep={config.keep}: {segment.corpus.url} has no attrs for stage {stage!r} ({part})")
        try:
            scores.append(take(segment.corpus.read_part(f"attrs/{stage}", part, [column]), local)[column].combine_chunks())
        except (KeyError, pa.ArrowInvalid) as error:
            raise UserError(f"keep={config.keep}: no column {column!r} in attrs/{stage}") from error
    values = pc.fill_null(pa.concat_arrays(scores).cast(pa.float64()), -np.inf).to_numpy(zero_copy_only=False) \
        if scores else np.zeros(0)
    ranks = np.argsort(np.argsort(-values, kind="stable"), kind="stable")  # best score first
    return ranks.astype(np.float64) + order


def _write_attrs(plan: StagePlan, new: Segment, involved: Involved, kept_by: np.ndarray, similarity: np.ndarray) -> int:
    """attrs/minhash part by part: every new document is its own cluster unless it was involved."""
    sizes = np.bincount(kept_by, minlength=len(kept_by))
    removed = 0
    for (part, start), rows in zip(new.part_starts().items(), new.part_rows, strict=True):
        ids = new.read("signatures", part, ["id"])["id"].combine_chunks()
        mine = involved.docs[(involved.docs >= start) & (involved.docs < start + rows)]
        local, positions = mine - start, involved.position(mine)
        cluster_size = np.ones(rows, dtype=np.int32)
        keep = np.ones(rows, dtype=bool)
        near = np.full(rows, np.nan, dtype=np.float32)
        keep[local] = kept_by[positions] == positions
        cluster_size[local] = sizes[kept_by[positions]]
        near[local[~keep[local]]] = similarity[positions][~keep[local]]
        cluster_ids = ids.to_numpy(zero_copy_only=False).astype(object)
        cluster_ids[local] = involved.ids[kept_by[positions]]
        cluster = pa.array(cluster_ids, pa.string())
        write_parquet_atomic(plan.corpus.fs, plan.staged_part(part), pa.table({
            "id": ids,
            "cluster_id": cluster,
            "cluster_size": pa.array(cluster_size),
            "keep": pa.array(keep),
            "duplicate_of": pc.if_else(pa.array(keep), pa.nulls(rows, pa.string()), cluster),
            "similarity": pa.array(near, from_pandas=True),
            "reason": pc.if_else(pa.array(keep), pa.nulls(rows, pa.string()), "near_duplicate"),
        }))
        removed += int((~keep).sum())
    return removed


STAGE = Stage(
    name="minhash",
    config=MinhashConfig,
    reasons=("near_duplicate",),
    writes=("attrs/{name}", model.FOLDER),
    outside=against_fingerprint,
    check=check_against,
    steps=(Step(signature_part, over=each_part, kept={kind: f"{model.FOLDER}/{kind}" for kind in ("signatures", "bands")}),
           Step(find_duplicates)),
)
