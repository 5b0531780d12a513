"""A mixture as token files a trainer opens directly, from the ids of the tokens stage: per domain

    data/<domain>/tokens.bin, .idx   --format megatron: Megatron-LM's indexed dataset (MMIDIDX), one
                                     sequence per document, as its IndexedDatasetBuilder writes it;
                                     the prefix data/<domain>/tokens is what --data-path names
    data/<domain>/shard.*.mds        --format mds: a MosaicML Streaming stream (tokens, id), its
                                     index.json beside
    data/<domain>/documents.parquet  lineage: id, tokens, file, offset (the document's first token
                                     in tokens.bin, or its sample number in the stream)

Documents are written in corpus order, a selection's repeats as adjacent copies: both trainers
shuffle their samples themselves (Megatron's GPTDataset by its seed, StreamingDataset by its
shuffle). Every phase of a schedule draws from the same documents, so a phase differs only by its
blend weights. The driver reads one docs part of ids at a time.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.catalog import Catalog
from curation.corpus import Corpus
from curation.errors import UserError
from curation.tokens import TOKEN_IDS

TOKEN_FORMATS = ("megatron", "mds")
DOCUMENTS = "documents.parquet"
DOCUMENTS_SCHEMA = pa.schema([("id", pa.string()), ("tokens", pa.int64()), ("file", pa.string()), ("offset", pa.int64())])
# Megatron-LM's MMIDIDX index (megatron.core.datasets.indexed_dataset): header, version, dtype code.
INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}
MDS_SHARD_BYTES = 1 << 26
LENGTHS = "tokens.lengths"  # the spilled lengths, while a domain is written
CHUNK = 1 << 20  # index entries written at a time


class _Lineage:
    """documents.parquet of one domain, written as the documents are."""

    def __init__(self, corpus: Corpus, folder: str):
        self.handle = corpus.fs.open(f"{folder}/{DOCUMENTS}", "wb")
        self.writer = pq.ParquetWriter(self.handle, DOCUMENTS_SCHEMA, compression="zstd")

    def add(self, ids: pa.Array, lengths: np.ndarray, file: str, offsets: np.ndarray) -> None:
        files = pa.repeat(pa.scalar(file, pa.string()), len(ids))
        self.writer.write_table(pa.Table.from_arrays([ids, pa.array(lengths), files, pa.array(offsets)],
                                                     schema=DOCUMENTS_SCHEMA))

    def close(self) -> None:
        self.writer.close()
        self.handle.close()


class MegatronWriter:
    """tokens.bin and tokens.idx of one domain. The documents' lengths go to a file beside as they
    come, so the driver holds one chunk of them, not one number per document of the mixture."""

    def __init__(self, corpus: Corpus, folder: str, relative: str, dtype: np.dtype):
        self.folder, self.relative, self.dtype, self.fs = folder, relative, dtype, corpus.fs
        corpus.fs.makedirs(folder, exist_ok=True)
        self.bin = corpus.fs.open(f"{folder}/tokens.bin", "wb")
        self.spill = corpus.fs.open(f"{folder}/{LENGTHS}", "wb")
        self.lineage = _Lineage(corpus, folder)
        self.documents, self.written = 0, 0

    def add(self, ids: pa.Array, tokens: pa.ListArray) -> None:
        lengths = np.diff(tokens.offsets.to_numpy()).astype(np.int64)
        self.bin.write(tokens.flatten().to_numpy().astype(self.dtype, copy=False).tobytes())
        self.spill.write(lengths.astype(np.int32).tobytes())
        self.lineage.add(ids, lengths, f"{self.relative}/tokens.bin", self.written + _starts(lengths))
        self.documents += len(lengths)
        self.written += int(lengths.sum())

    def close(self) -> list[dict]:
        for handle in (self.bin, self.spill, self.lineage):
            handle.close()
        with self.fs.open(f"{self.folder}/tokens.idx", "wb") as index:
            index.write(INDEX_HEADER + struct.pack("<Q", INDEX_VERSION) + struct.pack("<B", DTYPE_CODES[self.dtype]))
            index.write(struct.pack("<Q", self.documents) + struct.pack("<Q", self.documents + 1))
            for lengths in self._spilled():
                index.write(lengths.tobytes())
            before = 0
            for lengths in self._spilled():
                index.write(((before + _starts(lengths)) * self.dtype.itemsize).tobytes())
                before += int(lengths.sum())
            for first in range(0, self.documents + 1, CHUNK):  # document_indices: one sequence per document
                index.write(np.arange(first, min(first + CHUNK, self.documents + 1), dtype=np.int64).tobytes())
        self.fs.rm(f"{self.folder}/{LENGTHS}")
        return [{"file": f"{self.relative}/tokens.bin", "rows": self.documents, "tokens": self.written},
                {"file": f"{self.relative}/tokens.idx"}]

    def _spilled(self):
        with self.fs.open(f"{self.folder}/{LENGTHS}", "rb") as spill:
            while chunk := spill.read(4 * CHUNK):
                yield np.frombuffer(chunk, np.int32)


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Each document's first token, counted from the first document's."""
    return np.concatenate([[0], np.cumsum(lengths[:-1], dtype=np.int64)]).astype(np.int64)


class MdsWriter:
    """One MosaicML Streaming stream (tokens, id) in data/<domain>/, by streaming's own MDSWriter."""

    def __init__(self, corpus: Corpus, folder: str, relative: str, dtype: np.dtype):
        try:
            from streaming import MDSWriter
        except Exception as error:  # streaming imports torchvision, which fails to load beside some torch builds
            raise UserError(f"--format mds needs MosaicML Streaming (pip install 'curation[mds]'): {error}") from None
        if corpus.fs.protocol not in ("file", "local", ("file", "local")):
            raise UserError("--format mds writes to a local corpus only (streaming's MDSWriter uploads by itself)")
        self.relative = relative
        self.writer = MDSWriter(out=folder, columns={"tokens": f"ndarray:{dtype.name}", "id": "str"},
                                size_limit=MDS_SHARD_BYTES)
        self.lineage = _Lineage(corpus, folder)
        self.samples, self.tokens = 0, 0

    def add(self, ids: pa.Array, tokens: pa.ListArray) -> None:
        lengths = np.diff(tokens.offsets.to_numpy()).astype(np.int64)
        flat, bounds = tokens.flatten().to_numpy(), np.concatenate([[0], np.cumsum(lengths)])
        for number, doc in enumerate(ids.to_pylist()):
            self.writer.write({"tokens": flat[bounds[number]:bounds[number + 1]], "id": doc})
        self.lineage.add(ids, lengths, f"{self.relative}/index.json", self.samples + np.arange(len(lengths)))
        self.samples += len(lengths)
        self.tokens += int(lengths.sum())

    def close(self) -> list[dict]:
        self.writer.finish()
        self.lineage.close()
        return [{"file": f"{self.relative}/index.json", "rows": self.samples, "tokens": self.tokens}]


WRITERS = {"megatron": MegatronWriter, "mds": MdsWriter}


def token_ids_dtype(corpus: Corpus, fmt: str) -> np.dtype:
    """The tokens stage's dtype; it must be current (made from these documents)."""
    if not corpus.is_current("tokens"):
        raise UserError(f"--format {fmt} writes the tokens stage's ids: run `curate tokens {corpus.url}` first"
                        + (" (it ran on other documents)" if corpus.stage("tokens") else ""))
    return np.dtype(corpus.stage("tokens").details["dtype"])


def write_token_files(corpus: Corpus, plan, staging: str) -> dict[str, list[dict]]:
    """Every domain's files under ``staging``; returns each domain's [{file, rows, tokens}]."""
    config = plan.config
    dtype = token_ids_dtype(corpus, config.format)
    writers = {domain: WRITERS[config.format](corpus, f"{staging}/data/{stats.folder}", f"data/{stats.folder}", dtype)
               for domain, stats in plan.domains.items()}
    documents = f"SELECT id, domain, copies FROM ({config.documents_sql(plan.tokens_sql)}) d"
    for part in corpus.parts("docs"):
        with Catalog(corpus, part) as catalog:
            chosen = catalog.query(documents)
        if not chosen.num_rows:
            continue
        table = corpus.read_part(TOKEN_IDS, part)
        ids, tokens = table["id"].combine_chunks(), table["ids"].combine_chunks()
        rows = pc.index_in(chosen["id"], ids).to_numpy()
        copies = chosen["copies"].to_numpy()
        domain_of = chosen["domain"].to_numpy(zero_copy_only=False)
        order = np.argsort(rows, kind="stable")  # corpus order inside the part
        for domain in np.unique(domain_of):
            inside = order[domain_of[order] == domain]
            taken = pa.array(np.repeat(rows[inside], copies[inside]))
            writers[domain].add(ids.take(taken), tokens.take(taken))
    return {domain: writer.close() for domain, writer in writers.items()}


class TokenDomain:
    """One domain of a megatron-format mixture, read back without loading it: the index's
    lengths and pointers and the tokens memory-mapped, the ids from the lineage when asked."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.lengths, self.pointers, self.dtype = read_index(folder / "tokens.idx")
        self.tokens = np.memmap(folder / "tokens.bin", dtype=self.dtype, mode="r") if len(self.lengths) else np.zeros(0)
        self.starts = self.pointers // self.dtype.itemsize  # each document's first token in tokens.bin
        self._ids: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    def document(self, number: int) -> np.ndarray:
        return self.tokens[self.starts[number]:self.starts[number] + self.lengths[number]]

    def id(self, number: int) -> str:
        if self._ids is None:
            self._ids = pq.read_table(self.folder / DOCUMENTS, columns=["id"])["id"].combine_chunks()
        return self._ids[number].as_py()

    def at(self, position: int) -> tuple[str, int]:
        """The document holding token ``position`` of tokens.bin, and the token's offset in it."""
        if not 0 <= position < int(self.lengths.sum()):
            raise IndexError(f"{self.folder}/tokens.bin has no token {position}")
        number = int(np.searchsorted(self.starts, position, side="right")) - 1
        return self.id(number), position - int(self.starts[number])


def read_index(path: Path) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """(sequence lengths, byte pointers, dtype) of an MMIDIDX index."""
    with open(path, "rb") as handle:
        head = handle.read(len(INDEX_HEADER) + 8 + 1 + 8 + 8)
    if not head.startswith(INDEX_HEADER):
        raise UserError(f"{path} is not a Megatron-LM index (MMIDIDX)")
    code, sequences = head[len(INDEX_HEADER) + 8], struct.unpack("<Q", head[len(INDEX_HEADER) + 9:][:8])[0]
    dtype = next(d for d, c in DTYPE_CODES.items() if c == code)
    lengths = np.memmap(path, np.int32, "r", offset=len(head), shape=(sequences,)) if sequences else np.zeros(0, np.int32)
    pointers = (np.memmap(path, np.int64, "r", offset=len(head) + 4 * sequences, shape=(sequences,))
                if sequences else np.zeros(0, np.int64))
    return lengths, pointers, dtype
