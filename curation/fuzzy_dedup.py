"""Fuzzy deduplication with MinHash-LSH, verified candidates and representative clusters.

    plan = plan_stage(corpus, STAGE, FuzzyDedupConfig())
    for part in plan.parts: signature_part(plan, part)     # map, in parallel
    find_duplicates(plan)                                 # global

Map: normalised word n-gram shingles, MinHash signatures and LSH band keys per docs part.
Global: DuckDB groups the band tables on disk into candidate pairs; each pair is verified
against the threshold with the full signatures (peers skip this and lose precision); connected
components of verified pairs are split into clusters around the document the keep policy
prefers. attrs/minhash says, for every document, its cluster, whether it is kept, and which
document it duplicates at what estimated similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.corpus import Corpus, StageRecord, write_parquet_atomic
from curation.duck import connect, quote_list, sql_file
from curation.errors import UserError
from curation.minhash.clusters import connected_components, representatives
from curation.minhash.shingles import shingle_hashes
from curation.minhash.signatures import MinHashParams, band_keys, bands_rows_for, minhash_signatures
from curation.stages import StagePlan, finish_stage, run_in_process

STAGE = "minhash"
SCOPES = ("global", "source")
VERIFY = ("exact", "estimate")
# Exact verification only looks at pairs whose estimate is within this of the threshold: the
# estimate's standard deviation is about 0.04 at 112 permutations.
EXACT_MARGIN = 0.15
BATCH = 2048

SIGNATURES_COLUMNS = ["id", "source", "chars", "shingles", "signature"]


@dataclass(frozen=True)
class FuzzyDedupConfig:
    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1
    threshold: float = 0.8
    scope: str = "global"
    keep: str = "first"  # first | longest | best:<stage>.<column>
    verify: str = "exact"  # exact (true shingle Jaccard) | estimate (from the signatures)

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise UserError(f"fuzzy dedup scope must be one of {', '.join(SCOPES)}, not {self.scope!r}")
        if not 0.0 < self.threshold <= 1.0:
            raise UserError(f"the similarity threshold must be in (0, 1], not {self.threshold}")
        if self.keep not in ("first", "longest") and not _best_column(self.keep):
            raise UserError(f"--keep must be first, longest or best:<stage>.<column>, not {self.keep!r}")
        if self.verify not in VERIFY:
            raise UserError(f"--verify must be one of {', '.join(VERIFY)}, not {self.verify!r}")
        MinHashParams(self.ngram, self.bands, self.rows, self.seed)  # checks sizes

    @property
    def params(self) -> MinHashParams:
        return MinHashParams(self.ngram, self.bands, self.rows, self.seed)


def fuzzy_config(threshold: float = 0.8, bands: int | None = None, rows: int | None = None,
                 num_perm: int | None = None, **options) -> FuzzyDedupConfig:
    """A config from what a user gives: bands and rows, or a number of permutations from which
    bands x rows are chosen for the threshold, or neither (FineWeb's 14 x 8)."""
    if num_perm is not None:
        if bands or rows:
            raise UserError("give --num-perm or --bands/--rows, not both")
        # Verification removes false candidates, so they cost only a check; a missed pair is
        # lost for good. Weighting them 1:19 picks FineWeb's 14 x 8 for 112 permutations at 0.8.
        bands, rows = bands_rows_for(threshold, num_perm, false_positive_weight=0.05)
    defaults = FuzzyDedupConfig()
    return FuzzyDedupConfig(threshold=threshold, bands=bands or defaults.bands, rows=rows or defaults.rows, **options)


def _best_column(keep: str) -> tuple[str, str] | None:
    if not keep.startswith("best:") or "." not in keep[5:]:
        return None
    stage, column = keep[5:].split(".", 1)
    return (stage, column) if stage and column else None


# -- map: signatures and bands of one part -------------------------------------------------
def signature_part(plan: StagePlan, part: str) -> None:
    corpus, params = plan.corpus, FuzzyDedupConfig(**plan.config).params
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
                    "signature": pa.FixedSizeListArray.from_arrays(pa.array(signatures.ravel()), params.num_perm),
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
def find_duplicates(plan: StagePlan) -> tuple[int, int]:
    config = FuzzyDedupConfig(**plan.config)
    u, v = _candidates(plan, config)
    involved = Involved(plan, config, np.union1d(u, v))
    u, v = involved.position(u), involved.position(v)

    if config.verify == "exact":
        near = _similarity(involved.signatures, u, v) >= config.threshold - EXACT_MARGIN
        u, v = u[near], v[near]
        similarity_of = ExactShingles(plan, config, involved, np.union1d(u, v)).similarity
    else:
        def similarity_of(doc: int, others: np.ndarray) -> np.ndarray:
            return _similarity(involved.signatures, np.full(len(others), doc), others)

    pair_similarity = np.array([similarity_of(a, np.array([b]))[0] for a, b in zip(u.tolist(), v.tolist(), strict=True)])
    verified = pair_similarity >= config.threshold
    labels = connected_components(len(involved.docs), u[verified], v[verified])
    kept_by, similarity = representatives(labels, _priority(plan, config, involved), similarity_of, config.threshold)
    removed = _write_attrs(plan, involved, kept_by, similarity)
    rows = sum(plan.part_rows)
    finish_stage(plan, rows, rows - removed, {"candidate_pairs": int(len(u)), "verified_pairs": int(verified.sum())})
    return rows, rows - removed


def _candidates(plan: StagePlan, config: FuzzyDedupConfig) -> tuple[np.ndarray, np.ndarray]:
    corpus = plan.corpus
    bands = [corpus.to_uri(f"{plan.staging}/bands/{p}.parquet") for p in plan.parts]
    scope = ", source" if config.scope == "source" else ""
    with connect(corpus.fs) as connection:
        pairs = connection.sql(sql_file("minhash_candidates.sql", bands=quote_list(bands), scope_columns=scope)).fetchnumpy()
    return pairs["u"].astype(np.int64), pairs["v"].astype(np.int64)


class Involved:
    """The documents that have at least one candidate, by global number (``docs``, sorted),
    with their ids, lengths and signatures, read part by part from the staging area."""

    def __init__(self, plan: StagePlan, config: FuzzyDedupConfig, docs: np.ndarray):
        self.docs = docs
        ids, chars, signatures = [], [], []
        for part, local in _by_part(plan, docs):
            table = _take(_read(plan.corpus, f"{plan.staging}/signatures/{part}.parquet", ["id", "chars", "signature"]), local)
            ids += table["id"].to_pylist()
            chars.append(table["chars"].to_numpy())
            # 16 bits of each minhash are plenty to compare (a chance equality costs 1/65536 of
            # a row) and halve the memory.
            signatures.append(table["signature"].combine_chunks().flatten().to_numpy().astype(np.uint16))
        self.ids = np.array(ids, dtype=object)
        self.chars = np.concatenate(chars) if chars else np.zeros(0, dtype=np.int64)
        values = np.concatenate(signatures) if signatures else np.zeros(0, dtype=np.uint16)
        self.signatures = values.reshape(len(docs), config.params.num_perm)

    def position(self, docs: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.docs, docs)


def _by_part(plan: StagePlan, docs: np.ndarray):
    """(part, row numbers inside that part) for the parts that hold any of ``docs`` (sorted)."""
    for (part, start), rows in zip(plan.part_offsets().items(), plan.part_rows, strict=True):
        inside = docs[(docs >= start) & (docs < start + rows)]
        if len(inside):
            yield part, inside - start


class ExactShingles:
    """Shingles of the documents that need exact verification, as sorted arrays (a Python set
    would take 30 times the memory)."""

    def __init__(self, plan: StagePlan, config: FuzzyDedupConfig, involved: Involved, positions: np.ndarray):
        self.shingles: dict[int, np.ndarray] = {}
        offsets = plan.part_offsets()
        for part, local in _by_part(plan, involved.docs[positions]):
            texts = _take(plan.corpus.read_part("docs", part, ["text"]), local)["text"]
            hashes, bounds = shingle_hashes(texts.combine_chunks(), config.ngram)
            for i, doc in enumerate(involved.position(local + offsets[part]).tolist()):
                self.shingles[doc] = np.unique(hashes[bounds[i] : bounds[i + 1]])

    def similarity(self, doc: int, others: np.ndarray) -> np.ndarray:
        mine = self.shingles[doc]
        out = np.empty(len(others), dtype=np.float32)
        for k, other in enumerate(others.tolist()):
            theirs = self.shingles[other]
            common = len(np.intersect1d(mine, theirs, assume_unique=True))
            union = len(mine) + len(theirs) - common
            out[k] = common / union if union else 1.0
        return out


def _similarity(sig: np.ndarray, u: np.ndarray, v: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    out = np.empty(len(u), dtype=np.float32)
    for start in range(0, len(u), chunk):
        stop = start + chunk
        out[start:stop] = (sig[u[start:stop]] == sig[v[start:stop]]).mean(axis=1)
    return out


def _priority(plan: StagePlan, config: FuzzyDedupConfig, involved: Involved) -> np.ndarray:
    """Lower is kept first; ties go to the earlier document in corpus order."""
    count = len(involved.docs)
    order = np.arange(count, dtype=np.float64) / max(count, 1)  # in [0, 1): breaks ties
    if config.keep == "first":
        return order
    if config.keep == "longest":
        return -involved.chars.astype(np.float64) + order
    stage, column = _best_column(config.keep)
    if not plan.corpus.parts(f"attrs/{stage}"):
        raise UserError(f"--keep {config.keep}: the corpus has no attrs for stage {stage!r}")
    try:
        scores = pa.concat_arrays([
            _take(plan.corpus.read_part(f"attrs/{stage}", part, [column]), local)[column].combine_chunks()
            for part, local in _by_part(plan, involved.docs)
        ]) if count else pa.array([], pa.float64())
    except (KeyError, pa.ArrowInvalid) as error:
        raise UserError(f"--keep {config.keep}: no column {column!r} in attrs/{stage}") from error
    values = pc.fill_null(scores.cast(pa.float64()), -np.inf).to_numpy(zero_copy_only=False)
    ranks = np.argsort(np.argsort(-values, kind="stable"), kind="stable")  # best score first
    return ranks.astype(np.float64) + order


def _write_attrs(plan: StagePlan, involved: Involved, kept_by: np.ndarray, similarity: np.ndarray) -> int:
    """attrs/minhash part by part: every document is its own cluster unless it was involved."""
    sizes = np.bincount(kept_by, minlength=len(kept_by))
    removed = 0
    offsets = plan.part_offsets()
    for part, rows in zip(plan.parts, plan.part_rows, strict=True):
        ids = _read(plan.corpus, f"{plan.staging}/signatures/{part}.parquet", ["id"])["id"].combine_chunks()
        local = involved.docs[(involved.docs >= offsets[part]) & (involved.docs < offsets[part] + rows)] - offsets[part]
        positions = involved.position(local + offsets[part])
        cluster_size = np.ones(rows, dtype=np.int32)
        keep = np.ones(rows, dtype=bool)
        near = np.full(rows, np.nan, dtype=np.float32)
        keep[local] = kept_by[positions] == positions
        cluster_size[local] = sizes[kept_by[positions]]
        near[local[~keep[local]]] = similarity[positions][~keep[local]]
        cluster_ids = ids.to_numpy(zero_copy_only=False).astype(object)
        cluster_ids[local] = involved.ids[kept_by[positions]]
        cluster = pa.array(cluster_ids, pa.string())
        plan.corpus.write_part(f"attrs/{STAGE}", part, pa.table({
            "id": ids,
            "cluster_id": cluster,
            "cluster_size": pa.array(cluster_size),
            "keep": pa.array(keep),
            "duplicate_of": pc.if_else(pa.array(keep), pa.nulls(rows, pa.string()), cluster),
            "similarity": pa.array(near, from_pandas=True),
        }))
        removed += int((~keep).sum())
    return removed


def _take(table: pa.Table, rows: np.ndarray) -> pa.Table:
    return table.take(pa.array(rows))


def _read(corpus: Corpus, path: str, columns: list[str]) -> pa.Table:
    with corpus.fs.open(path, "rb") as handle:
        return pq.read_table(handle, columns=columns)


def fuzzy_dedup(corpus_url: str, config: FuzzyDedupConfig | None = None) -> StageRecord:
    """The whole stage in this process (no Prefect, no Dask)."""
    return run_in_process(corpus_url, STAGE, config or FuzzyDedupConfig(), signature_part, find_duplicates)
