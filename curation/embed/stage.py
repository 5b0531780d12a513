"""The embed stage: one vector per document in embeddings/part-*.parquet (id, vector).

    run(corpus_url, EmbedConfig(encoder="static"))   # curation.stage.run:
        prepare_encoder    global: fit (hashing) or distil (static), once
        embed_part         map over the parts, resumable per part
        finish_embeddings  global: publish embeddings/ and models/embed

Truncation: each text is cut to its first ``max_chars`` characters (default 2,000, about 400-500
tokens of English) before encoding; MiniLM then applies its own limit of 256 word pieces, so
for it only the first ~1,000 characters count. Vectors are L2-normalised and stored as float16
by default (half the space; cosine similarities change by less than 1e-3).
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, field_validator

from curation.corpus import Corpus, write_bytes_atomic, write_parquet_atomic
from curation.embed.encoders import ENCODERS, Encoder, load_encoder, static_model_path
from curation.embed.hashing import HashingEncoder
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part, one_thread_per_task

TABLE = "embeddings"
MODEL_FOLDER = "models/embed"
DTYPES = {"float16": (np.float16, pa.float16()), "float32": (np.float32, pa.float32())}


class EmbedConfig(StageConfig):
    encoder: str = Field("hashing", description="hashing (numpy only), static (model2vec distilled from MiniLM), "
                                                "minilm, or a local model directory.")
    max_chars: int = Field(2000, ge=1, description="Each text is cut to its first N characters before encoding.")
    dtype: Literal["float16", "float32"] = Field("float16", description="How vectors are stored.")
    # sentence-transformers sorts the texts of each call by length before it batches them, so a
    # longer call pads less: MiniLM, one core, 1,250 texts of 95-1,500 characters: 16.8 docs/s in
    # calls of 256, 18.3 in one call.
    batch_size: int = Field(4096, ge=1, description="Texts encoded at a time.")
    fit_sample: int = Field(20_000, ge=1, description="Documents the hashing encoder learns its IDF and SVD from.")
    seed: int = Field(0, description="Seed of the fit sample and the hashing encoder.")

    @field_validator("encoder")
    @classmethod
    def _known_encoder(cls, encoder: str) -> str:
        if encoder not in ENCODERS and not Path(encoder).is_dir():
            raise ValueError(f"unknown encoder {encoder!r}: use {', '.join(ENCODERS)} or a local model directory")
        return encoder


def _state_path(plan: StagePlan) -> str:
    return f"{plan.staging}/model/hashing.npz"


def prepare_encoder(plan: StagePlan) -> None:
    """What must exist before the parts are encoded in parallel: the hashing encoder fitted on a
    sample of this corpus, or the static model distilled (both once). After new documents were
    appended, the encoder fitted before is linked back (``Step.kept``), so all vectors share it."""
    config = plan.config
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
    corpus, config = plan.corpus, plan.config
    target = plan.staged_part(part)
    if corpus.fs.exists(target):
        return
    one_thread_per_task()
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


def finish_embeddings(plan: StagePlan) -> StageResult:
    corpus = plan.corpus
    plan.publish_staged_parts(TABLE)
    if corpus.fs.exists(_state_path(plan)):
        corpus.publish(f"{plan.staging}/model", MODEL_FOLDER)
    else:
        corpus.remove_table(MODEL_FOLDER)
    rows = sum(plan.part_rows)
    return StageResult(rows, rows, {"dim": read_dimension(corpus)})


def read_dimension(corpus: Corpus) -> int:
    first = corpus.parts(TABLE)[0]
    with corpus.fs.open(corpus.part_path(TABLE, first), "rb") as handle:
        return pq.ParquetFile(handle).schema_arrow.field("vector").type.list_size


def read_vectors(corpus: Corpus, part: str, dtype=np.float32) -> tuple[pa.ChunkedArray, np.ndarray]:
    """(ids, vectors) of one embeddings part."""
    table = corpus.read_part(TABLE, part, ["id", "vector"])
    return table["id"], _matrix(table["vector"].combine_chunks(), dtype)


def sample_vectors(plan: StagePlan, size: int, seed: int, dtype=np.float32) -> np.ndarray:
    """The vectors of ``plan.sample_rows(size, seed)`` (rounded to ``dtype``) as one float32
    array, filled part by part: the sample and one part's column are all it holds at once."""
    out, filled = None, 0
    for part, rows in plan.sample_rows(size, seed):
        vectors = _matrix(plan.corpus.read_part(TABLE, part, ["vector"])["vector"].combine_chunks().take(rows), dtype)
        if out is None:
            out = np.empty((min(size, sum(plan.part_rows)), vectors.shape[1]), dtype=np.float32)
        out[filled : filled + len(vectors)] = vectors
        filled += len(vectors)
    return out


def _matrix(vector: pa.FixedSizeListArray, dtype) -> np.ndarray:
    return vector.flatten().to_numpy().reshape(len(vector), vector.type.list_size).astype(dtype)


STAGE = Stage(
    name="embed",
    config=EmbedConfig,
    writes=(TABLE, MODEL_FOLDER),
    steps=(Step(prepare_encoder, kept={"model": MODEL_FOLDER}), Step(embed_part, over=each_part, kept={"out": TABLE}),
           Step(finish_embeddings)),
)
