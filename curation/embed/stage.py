"""The embed stage: one vector per document in embeddings/part-*.parquet (id, vector).

    plan = plan_stage(corpus, STAGE, EmbedConfig(encoder="static"))
    prepare_encoder(plan)                         # global: fit (hashing) or distil (static), once
    for part in plan.parts: embed_part(plan, part)   # map, in parallel, resumable per part
    finish_embeddings(plan)                       # global: move the parts into embeddings/

Truncation: each text is cut to its first ``max_chars`` characters (default 2,000, about 400-500
tokens of English) before encoding; MiniLM then applies its own limit of 256 word pieces, so
for it only the first ~1,000 characters count. Vectors are L2-normalised and stored as float16
by default (half the space; cosine similarities change by less than 1e-3).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.corpus import Corpus, StageRecord, write_bytes_atomic, write_parquet_atomic
from curation.embed.encoders import ENCODERS, Encoder, load_encoder, static_model_path
from curation.embed.hashing import HashingEncoder
from curation.errors import UserError
from curation.stages import StagePlan, finish_stage, run_in_process

STAGE = "embed"
TABLE = "embeddings"
MODEL_FOLDER = "models/embed"
DTYPES = {"float16": (np.float16, pa.float16()), "float32": (np.float32, pa.float32())}


@dataclass(frozen=True)
class EmbedConfig:
    encoder: str = "hashing"
    max_chars: int = 2000
    dtype: str = "float16"
    batch_size: int = 256
    fit_sample: int = 20_000  # documents the hashing encoder learns its IDF and SVD from
    seed: int = 0

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        if self.max_chars < 1 or self.batch_size < 1 or self.fit_sample < 1:
            raise UserError("--max-chars, --batch-size and the fit sample must be at least 1")
        if self.encoder not in ENCODERS and not Path(self.encoder).is_dir():
            raise UserError(f"unknown encoder {self.encoder!r}: use {', '.join(ENCODERS)} or a local model directory")


def _state_path(plan: StagePlan) -> str:
    return f"{plan.staging}/encoder.npz"


def prepare_encoder(plan: StagePlan) -> None:
    """What must exist before the parts are encoded in parallel: the hashing encoder fitted on a
    sample of this corpus, or the static model distilled (both once)."""
    config = EmbedConfig(**plan.config)
    if config.encoder == "static":
        static_model_path()
    if config.encoder != "hashing" or plan.corpus.fs.exists(_state_path(plan)):
        return
    encoder = HashingEncoder(seed=config.seed).fit(plan.sample_texts(config.fit_sample, config.seed, config.max_chars))
    buffer = io.BytesIO()
    np.savez(buffer, **encoder.state())
    write_bytes_atomic(plan.corpus.fs, _state_path(plan), buffer.getvalue())


@lru_cache(maxsize=2)
def _encoder(name: str, state_path: str | None, corpus_url: str) -> Encoder:
    """One encoder per worker process, loaded on its first part."""
    state = None
    if state_path is not None:
        corpus = Corpus(corpus_url)
        with corpus.fs.open(state_path, "rb") as handle:
            state = dict(np.load(io.BytesIO(handle.read())))
    return load_encoder(name, state)


def embed_part(plan: StagePlan, part: str) -> None:
    corpus, config = plan.corpus, EmbedConfig(**plan.config)
    target = plan.staged_part(part)
    if corpus.fs.exists(target):
        return
    encoder = _encoder(config.encoder, _state_path(plan) if config.encoder == "hashing" else None, corpus.url)
    numpy_type, arrow_type = DTYPES[config.dtype]
    ids, vectors = [], []
    for batch in corpus.iter_batches("docs", part, columns=["id", "text"], batch_size=config.batch_size):
        texts = [text[: config.max_chars] for text in batch.column("text").to_pylist()]
        ids.append(batch.column("id"))
        vectors.append(encoder.encode(texts).astype(numpy_type))
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, 1), dtype=numpy_type)
    table = pa.table({
        "id": pa.chunked_array(ids, pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel(), arrow_type), matrix.shape[1]),
    })
    write_parquet_atomic(corpus.fs, target, table)


def finish_embeddings(plan: StagePlan) -> StageRecord:
    corpus = plan.corpus
    plan.check_staged_parts("vectors")
    corpus.remove_table(MODEL_FOLDER)
    if corpus.fs.exists(_state_path(plan)):
        corpus.fs.makedirs(corpus.path(MODEL_FOLDER), exist_ok=True)
        corpus.fs.mv(_state_path(plan), corpus.path(MODEL_FOLDER, "hashing.npz"))
    plan.publish_staged_parts(TABLE)
    rows = sum(plan.part_rows)
    dim = read_dimension(corpus)
    return finish_stage(plan, rows, rows, {"dim": dim})


def read_dimension(corpus: Corpus) -> int:
    first = corpus.parts(TABLE)[0]
    with corpus.fs.open(corpus.part_path(TABLE, first), "rb") as handle:
        return pq.ParquetFile(handle).schema_arrow.field("vector").type.list_size


def embed(corpus_url: str, config: EmbedConfig | None = None) -> StageRecord:
    """The whole stage in this process (no Prefect, no Dask)."""
    return run_in_process(corpus_url, STAGE, config or EmbedConfig(), embed_part, finish_embeddings, prepare_encoder)


def read_vectors(corpus: Corpus, part: str, dtype=np.float32) -> tuple[pa.ChunkedArray, np.ndarray]:
    """(ids, vectors) of one embeddings part."""
    table = corpus.read_part(TABLE, part, ["id", "vector"])
    vector = table["vector"].combine_chunks()
    return table["id"], vector.flatten().to_numpy().reshape(len(vector), vector.type.list_size).astype(dtype)


def embeddings_fingerprint(corpus: Corpus) -> str:
    """Changes whenever the embeddings do: an input fingerprint of the stages that read them."""
    record = corpus.stage(STAGE)
    if record is None or not corpus.parts(TABLE):
        raise UserError(f"{corpus.url} has no embeddings yet; run `curate embed {corpus.url}` first")
    return f"{record.config_fingerprint}-{record.input_fingerprint}"
