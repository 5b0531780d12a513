"""Tokenize: every document's token ids, once, with GPT-2's BPE or any Hugging Face tokenizer.json
(`curate tokens DIR [--tokenizer gpt2|PATH] [--separator eos|TOKEN|none]`), on the workers, part
by part, resumable. A separator (the tokenizer's end-of-text token by default) ends each
document, as Megatron-LM's preprocess_data.py --append-eod does, and is counted in its tokens.

    attrs/tokens/part-*.parquet   id, tokens (count, separator included): the ``tokens`` view
    token_ids/part-*.parquet      id, ids (list of uint16, or int32 for vocabularies over 65,500),
                                  row-aligned with docs; what `curate mix --format megatron|mds` writes

Budgets count with ``tokens.tokens`` once this stage is current, otherwise with an estimate of one
token per 4 characters (``tokens_sql``; its error against GPT-2 is measured in the README).
Special tokens are not added. A tokenizer that fails on a document names the document and stops:
nothing is truncated or dropped silently.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curation.corpus import Corpus, parquet_writer_atomic
from curation.errors import UserError
from curation.model_cache import models_dir
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part, one_thread_per_task

CHARS_PER_TOKEN = 4
ESTIMATE = "estimate: characters / 4"
TOKEN_IDS = "token_ids"
BATCH = 1024
# Megatron-LM's DType.optimal_dtype: uint16 below 65,500 distinct tokens, int32 otherwise.
UINT16_VOCAB = 65_500
# End-of-text tokens by the names tokenizers give them (GPT-2 and Llama 3, Llama 2 and Mistral, Gemma, T5).
EOS_NAMES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|im_end|>")


class TokensConfig(StageConfig):
    tokenizer: str = Field("gpt2", description="gpt2 (GPT-2's BPE, fetched by scripts/fetch-models) or a "
                                                "tokenizer.json (a file, or a folder holding one).")
    separator: str = Field("eos", description="Appended to every document: eos (the tokenizer's end-of-text "
                                              "token), a token of the vocabulary, or none.")
    dtype: Literal["auto", "uint16", "int32"] = Field(
        "auto", description="Of the token ids: auto takes uint16 when the vocabulary fits, int32 otherwise.")

    @model_validator(mode="after")
    def _tokenizer_loads(self) -> TokensConfig:
        Tokenization.of(self)  # a missing tokenizer, separator or too small a dtype fails here, before any work
        return self


@lru_cache(maxsize=2)
def load_tokenizer(name: str):
    from tokenizers import Tokenizer
    from tokenizers.implementations import ByteLevelBPETokenizer

    if name == "gpt2":
        folder = models_dir() / "gpt2"
        if not (folder / "encoder.json").is_file():
            raise UserError(f"no GPT-2 tokenizer in {folder}; run scripts/fetch-models (or give --tokenizer PATH)")
        return ByteLevelBPETokenizer(str(folder / "encoder.json"), str(folder / "vocab.bpe"))
    path = Path(name)
    path = path / "tokenizer.json" if path.is_dir() else path
    if not path.is_file():
        raise UserError(f"tokenizer is gpt2 or a tokenizer.json (or a folder with one), not {name!r}")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # the tokenizers library raises plain Exceptions with the parser's message
        raise UserError(f"tokenizer {path} does not load: {str(error).splitlines()[0]}") from None


class Tokenization:
    """A loaded tokenizer with its separator id and dtype: ``encode(ids, texts)`` gives the
    documents' token ids as one Arrow list array."""

    def __init__(self, tokenizer, name: str, separator: int | None, dtype: np.dtype):
        self.tokenizer, self.name, self.separator, self.dtype = tokenizer, name, separator, dtype

    @classmethod
    def of(cls, config: TokensConfig) -> Tokenization:
        return _tokenization(config.tokenizer, config.separator, config.dtype)

    @property
    def arrow_type(self) -> pa.DataType:
        return pa.list_(pa.from_numpy_dtype(self.dtype))

    def encode(self, ids: pa.Array, texts: pa.Array) -> pa.ListArray:
        try:
            encodings = self.tokenizer.encode_batch(texts.to_pylist(), add_special_tokens=False)
        except Exception:
            self._name_the_document(ids, texts)
            raise
        suffix = [] if self.separator is None else [self.separator]
        documents = [e.ids + suffix for e in encodings]
        offsets = np.zeros(len(documents) + 1, np.int32)
        np.cumsum([len(d) for d in documents], out=offsets[1:])
        flat = np.fromiter(chain.from_iterable(documents), self.dtype, int(offsets[-1]))
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))

    def _name_the_document(self, ids: pa.Array, texts: pa.Array) -> None:
        for doc, text in zip(ids.to_pylist(), texts.to_pylist(), strict=True):
            try:
                self.tokenizer.encode(text, add_special_tokens=False)
            except Exception as error:
                raise UserError(f"tokenizer {self.name} fails on document {doc}: {str(error).splitlines()[0]}") from None


@lru_cache(maxsize=4)
def _tokenization(name: str, separator: str, dtype: str) -> Tokenization:
    tokenizer = load_tokenizer(name)
    vocabulary = tokenizer.get_vocab_size(with_added_tokens=True)
    if dtype == "auto":
        dtype = "uint16" if vocabulary < UINT16_VOCAB else "int32"
    if dtype == "uint16" and vocabulary > np.iinfo(np.uint16).max + 1:
        raise UserError(f"tokenizer {name} has {vocabulary:,} tokens, more than uint16 holds (65,536); "
                        "give --dtype int32 (or auto)")
    return Tokenization(tokenizer, name, _separator_id(tokenizer, name, separator), np.dtype(dtype))


def _separator_id(tokenizer, name: str, separator: str) -> int | None:
    if separator == "none":
        return None
    if separator == "eos":
        found = next((tokenizer.token_to_id(t) for t in EOS_NAMES if tokenizer.token_to_id(t) is not None), None)
        if found is None:
            raise UserError(f"tokenizer {name} has none of the end-of-text tokens {', '.join(EOS_NAMES)}; "
                            "give --separator TOKEN or --separator none")
        return found
    found = tokenizer.token_to_id(separator)
    if found is None:
        raise UserError(f"separator {separator!r} is not a token of tokenizer {name}")
    return found


def tokenize_part(plan: StagePlan, part: str) -> None:
    corpus = plan.corpus
    counts, ids = plan.staged_part(part), plan.staged_part(part, "ids")
    if corpus.fs.exists(counts) and corpus.fs.exists(ids):
        return
    one_thread_per_task()
    tokenization = Tokenization.of(plan.config)
    counts_schema = pa.schema([("id", pa.string()), ("tokens", pa.int64())])
    ids_schema = pa.schema([("id", pa.string()), ("ids", tokenization.arrow_type)])
    with parquet_writer_atomic(corpus.fs, ids, ids_schema) as ids_out, \
         parquet_writer_atomic(corpus.fs, counts, counts_schema) as counts_out:
        for batch in corpus.iter_batches("docs", part, ["id", "text"], batch_size=BATCH):
            tokens = tokenization.encode(batch.column("id"), batch.column("text"))
            ids_out.write_table(pa.Table.from_arrays([batch.column("id"), tokens], schema=ids_schema))
            lengths = pa.array(np.diff(tokens.offsets.to_numpy()).astype(np.int64))
            counts_out.write_table(pa.Table.from_arrays([batch.column("id"), lengths], schema=counts_schema))


def finish_tokens(plan: StagePlan) -> StageResult:
    plan.check_staged_parts(TOKEN_IDS, "ids")
    plan.publish_staged_parts(f"attrs/{plan.name}")
    plan.corpus.publish(f"{plan.staging}/ids", TOKEN_IDS)
    tokenization = Tokenization.of(plan.config)
    table = f"attrs/{plan.name}"
    total = sum(pc.sum(plan.corpus.read_part(table, part, ["tokens"])["tokens"]).as_py() or 0 for part in plan.parts)
    rows = sum(plan.part_rows)
    return StageResult(rows, rows, {"tokens": total, "dtype": str(tokenization.dtype), "separator": tokenization.separator,
                                    "vocabulary": tokenization.tokenizer.get_vocab_size(with_added_tokens=True)})


STAGE = Stage(
    name="tokens",
    config=TokensConfig,
    writes=("attrs/{name}", TOKEN_IDS),
    steps=(Step(tokenize_part, over=each_part, kept={"out": "attrs/{name}", "ids": TOKEN_IDS}), Step(finish_tokens)),
)


def tokens_sql(corpus: Corpus) -> tuple[str, str]:
    """(the SQL expression for a document's tokens over the ``corpus`` view, what it counts with)."""
    if corpus.is_current("tokens"):
        return "tokens.tokens", corpus.stage("tokens").config["tokenizer"]
    return f"greatest(1, ceil(length(text) / {CHARS_PER_TOKEN}))::BIGINT", ESTIMATE
