"""JEST's reference model offline: train a tiny byte-level LM on a curated subset of the corpus,
then cache every document's loss under it in attrs/reference_loss (the reference is frozen, so
its losses are computed once; a trainer then pays only for its learner's losses).

    curate train-reference DIR --where "quality_docs.keep AND exact_dedup.keep" --name reference
    curate score DIR --scorer reference_loss --set model=DIR/models/reference
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import orjson
import pyarrow as pa

from curation.corpus import Corpus, write_bytes_atomic
from curation.duck import sql_file
from curation.errors import UserError
from scorers.base import Scorer

CHECKPOINT = "model.pt"


def train_reference(corpus_url: str, where: str, name: str, steps: int = 300, sample: int = 20_000,
                    seed: int = 0) -> dict:
    """Train on up to ``sample`` documents passing ``where``; models/<name>/ keeps the model."""
    import torch

    from curation import trainer

    corpus = Corpus.open(corpus_url)
    texts = corpus.sql(sql_file("reference_texts.sql", where=where, seed=str(int(seed)), limit=str(int(sample))))["text"].to_pylist()
    if len(texts) < 10:
        raise UserError(f"only {len(texts)} documents pass --where {where}; a reference model needs at least 10")
    model = trainer.train_lm(texts, steps=steps, seed=seed)
    buffer = io.BytesIO()
    torch.save(trainer.save(model), buffer)
    folder = corpus.path("models", name)
    corpus.fs.makedirs(folder, exist_ok=True)
    write_bytes_atomic(corpus.fs, f"{folder}/{CHECKPOINT}", buffer.getvalue())
    metrics = {"documents": len(texts), "steps": steps,
               "mean_loss_on_training_documents": float(trainer.sequence_losses(model, texts[:1000]).mean())}
    metadata = {"where": where, "steps": steps, "sample": sample, "seed": seed, "model": model.settings,
                "docs": corpus.docs_fingerprint(), "metrics": metrics}
    write_bytes_atomic(corpus.fs, f"{folder}/metadata.json", orjson.dumps(metadata, option=orjson.OPT_INDENT_2))
    return metrics


@lru_cache(maxsize=2)
def _model(folder: str):
    import torch

    from curation import trainer

    return trainer.load(torch.load(Path(folder) / CHECKPOINT, weights_only=True))


class ReferenceLossScorer(Scorer):
    """Mean next-byte loss under a reference LM (JEST's cached reference losses)."""

    name = "reference_loss"

    def __init__(self, model: str | None = None):
        if not model or not (Path(model) / CHECKPOINT).is_file():
            raise UserError(f"reference_loss needs --set model=DIR holding {CHECKPOINT} (not {model!r}); "
                            "`curate train-reference` makes one")
        self.folder = model

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([("loss", pa.float32())])

    def score(self, batch: pa.RecordBatch) -> pa.Table:
        from curation import trainer

        losses = trainer.sequence_losses(_model(self.folder), batch.column("text").to_pylist())
        return pa.table({"loss": losses.astype("float32")})
