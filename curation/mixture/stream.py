"""Reading a mixture as a trainer does: a deterministic stream of documents that follows the
schedule, or of packed token sequences, resumable from any step.

    for doc in stream("corpus/mixtures/demo", start_step=0):
        doc["step"], doc["phase"], doc["domain"], doc["id"], doc["text"], doc["tokens"]
    for sequence in stream("corpus/mixtures/tokens", seq_len=2048):    # a --format megatron mixture
        sequence["step"], sequence["phase"], sequence["ids"], sequence["documents"]

A step is one document. Step s belongs to the phase whose [first_step, first_step + steps) holds
it, and its domain is drawn with that phase's probabilities from a uniform number fixed by (seed,
s // BLOCK): the draws never depend on what was read before, so resuming at step k replays only
the domain draws before k (cheap, vectorised) to know how far each domain has been read, and then
continues exactly as an uninterrupted stream would. Each domain is read in its (already shuffled)
order and starts over when it runs out: that is an epoch. Token files are in corpus order, so
their documents are visited in a permutation seeded by (seed, domain, epoch) instead.

With ``seq_len=N`` the documents of that stream, in that order, are one run of tokens cut into
sequences of N: step k is tokens [kN, (k+1)N), with each document that starts or continues in it
(``documents``: domain, id, where in the sequence it starts, and from which of its tokens). A
sequence may span two phases; its phase is that of its first token. The last, partial sequence
is dropped, as Megatron-LM does. Resuming at step k replays the document lengths before token kN
from the index, not the tokens.

``share=(w, n)`` yields only the steps s with s % n == w (a DataLoader worker's share), and reads
or decodes no other step's document.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq

from curation.mixture.token_files import TokenDomain

BLOCK = 4096


def load_manifest(manifest: str | Path | dict) -> tuple[dict, Path | None]:
    """A manifest dict, or a path to manifest.json or to the mixture folder."""
    if isinstance(manifest, dict):
        return manifest, None
    path = Path(manifest)
    path = path / "manifest.json" if path.is_dir() else path
    return orjson.loads(path.read_bytes()), path.parent


def _draws(manifest: dict, block: int) -> np.ndarray:
    """Domain numbers for the steps of one block."""
    domains = list(manifest["domains"])
    first, last = block * BLOCK, min((block + 1) * BLOCK, manifest["steps"])
    steps = np.arange(first, last)
    uniform = np.random.default_rng([manifest["seed"], block]).random(BLOCK)[: len(steps)]
    draws = np.empty(len(steps), dtype=np.int64)
    for phase in manifest["phases"]:
        inside = (steps >= phase["first_step"]) & (steps < phase["first_step"] + phase["steps"])
        cumulative = np.cumsum([phase["probabilities"].get(d, 0.0) for d in domains])
        draws[inside] = np.minimum(np.searchsorted(cumulative / cumulative[-1], uniform[inside], side="right"),
                                   len(domains) - 1)
    return draws


def _blocks(document: dict, first_block: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(steps, domain numbers, positions in the domain's order) block by block from ``first_block``."""
    count = len(document["domains"])
    read = np.zeros(count, dtype=np.int64)
    for block in range(first_block):
        read += np.bincount(_draws(document, block), minlength=count)
    for block in range(first_block, (document["steps"] + BLOCK - 1) // BLOCK):
        draws = _draws(document, block)
        positions = np.empty(len(draws), dtype=np.int64)
        for number in np.unique(draws):
            inside = draws == number
            positions[inside] = read[number] + np.arange(int(inside.sum()))
            read[number] += int(inside.sum())
        yield block * BLOCK + np.arange(len(draws)), draws, positions


class _DomainRows:
    """A text domain's rows in order, starting over at the end. Rows are asked for in increasing
    positions; those between are passed over undecoded."""

    def __init__(self, root: Path, info: dict, fmt: str):
        self.root, self.parts, self.format = root, info["parts"], fmt
        self.total = sum(part["rows"] for part in self.parts)
        self.position, self._batch, self._index = 0, None, 0

    def _cycle(self, first: int) -> Iterator:
        """Undecoded rows batch by batch (lines of JSONL, or Arrow record batches), from part ``first`` on."""
        for number in itertools.chain(range(first, len(self.parts)), itertools.cycle(range(len(self.parts)))):
            path = self.root / self.parts[number]["file"]
            if self.format == "jsonl":
                with open(path, "rb") as handle:
                    yield handle.readlines()
            else:
                yield from pq.ParquetFile(path).iter_batches(batch_size=1024)

    def _seek(self, position: int) -> None:
        """To the first row of the part holding ``position`` (of any epoch)."""
        rest = position % self.total
        number = 0
        while rest >= self.parts[number]["rows"]:
            rest -= self.parts[number]["rows"]
            number += 1
        self._batches, self._batch, self._index, self.position = self._cycle(number), None, 0, position - rest

    def row(self, position: int) -> dict:
        if self._batch is None or position - self.position >= self.total:
            self._seek(position)
        skip = position - self.position
        while self._batch is None or self._index + skip >= len(self._batch):
            if self._batch is not None:
                skip -= len(self._batch) - self._index
            self._batch, self._index = next(self._batches), 0
        self._index += skip + 1
        self.position = position + 1
        if self.format == "jsonl":
            return orjson.loads(self._batch[self._index - 1])
        return self._batch.slice(self._index - 1, 1).to_pylist()[0]


class _TokenRows:
    """A token domain's documents in a seeded permutation per epoch."""

    def __init__(self, folder: Path, seed: int, number: int):
        self.domain, self.seed, self.number = TokenDomain(folder), seed, number
        self._orders: dict[int, np.ndarray] = {}

    def documents(self, positions: np.ndarray) -> np.ndarray:
        size = len(self.domain)
        epochs, numbers = np.divmod(positions, size)
        for epoch in np.unique(epochs):
            if epoch not in self._orders:
                self._orders = {int(epoch): np.random.default_rng([self.seed, self.number, int(epoch)]).permutation(size)}
            inside = epochs == epoch
            numbers[inside] = self._orders[int(epoch)][numbers[inside]]
        return numbers

    def row(self, position: int) -> dict:
        number = int(self.documents(np.array([position]))[0])
        ids = self.domain.document(number)
        return {"id": self.domain.id(number), "tokens": len(ids), "ids": np.array(ids)}


def _readers(document: dict, root: Path) -> list:
    domains = document["domains"].values()
    if document["format"] == "megatron":
        return [_TokenRows(root / info["path"], document["seed"], n) for n, info in enumerate(domains)]
    if document["format"] == "mds":
        raise ValueError("an mds mixture is read with streaming.StreamingDataset (its manifest's exports.mds_streams)")
    return [_DomainRows(root, info, document["format"]) for info in domains]


def stream(manifest: str | Path | dict, start_step: int = 0, root: str | Path | None = None,
           seq_len: int | None = None, share: tuple[int, int] = (0, 1)) -> Iterator[dict]:
    """Documents (or, with ``seq_len``, packed sequences) from ``start_step`` to the end of the
    schedule; only the steps of ``share``."""
    document, folder = load_manifest(manifest)
    root = Path(root) if root is not None else folder
    if root is None:
        raise ValueError("give root= (the mixture folder) with a manifest dict")
    worker, workers = share
    if not 0 <= worker < workers:
        raise ValueError(f"share is (worker, workers) with 0 <= worker < workers, not {share}")
    if seq_len is not None:
        if document["format"] != "megatron":
            raise ValueError("seq_len packs token files: emit the mixture with --format megatron")
        if seq_len < 1 or start_step < 0:
            raise ValueError(f"seq_len must be positive and start_step not negative, not {seq_len} and {start_step}")
        return _sequences(document, _readers(document, root), start_step, seq_len, share)
    if not 0 <= start_step <= document["steps"]:
        raise ValueError(f"start_step must be in 0..{document['steps']}, not {start_step}")
    return _documents(document, _readers(document, root), start_step, share)


def _phase_ends(document: dict) -> np.ndarray:
    return np.cumsum([p["steps"] for p in document["phases"]])


def _documents(document: dict, readers: list, start_step: int, share: tuple[int, int]) -> Iterator[dict]:
    domains, phase_ends = list(document["domains"]), _phase_ends(document)
    worker, workers = share
    for steps, numbers, positions in _blocks(document, start_step // BLOCK):
        for step, number, position in zip(steps.tolist(), numbers.tolist(), positions.tolist(), strict=True):
            if step >= start_step and step % workers == worker:
                yield {"step": step, "phase": int(np.searchsorted(phase_ends, step, side="right")),
                       "domain": domains[number], **readers[number].row(position)}


def _sequences(document: dict, readers: list, start_step: int, seq_len: int, share: tuple[int, int]) -> Iterator[dict]:
    domains, phase_ends = list(document["domains"]), _phase_ends(document)
    worker, workers = share
    first = start_step * seq_len  # the first token wanted
    position = 0  # of the first token of the block's first document
    pieces: list[tuple] = []
    for steps, numbers, positions in _blocks(document, 0):
        documents, lengths = np.empty(len(steps), dtype=np.int64), np.empty(len(steps), dtype=np.int64)
        for number in np.unique(numbers):
            inside = numbers == number
            documents[inside] = readers[number].documents(positions[inside])
            lengths[inside] = readers[number].domain.lengths[documents[inside]]
        starts = position + np.concatenate([[0], np.cumsum(lengths[:-1])])
        position += int(lengths.sum())
        if position <= first:
            continue
        for i in range(int(np.searchsorted(starts + lengths, first, side="right")), len(steps)):
            start, end = int(starts[i]), int(starts[i] + lengths[i])
            token = max(start, first)
            while token < end:
                sequence, stop = token // seq_len, min(end, (token // seq_len + 1) * seq_len)
                if sequence % workers == worker:
                    pieces.append((int(steps[i]), int(numbers[i]), int(documents[i]), token - start, stop - token,
                                   token - sequence * seq_len))
                    if stop == (sequence + 1) * seq_len:
                        yield _sequence(sequence, pieces, readers, domains, phase_ends)
                        pieces = []
                token = stop


def _sequence(sequence: int, pieces: list[tuple], readers: list, domains: list[str], phase_ends: np.ndarray) -> dict:
    ids = np.concatenate([readers[n].domain.document(d)[offset:offset + length] for _, n, d, offset, length, _ in pieces])
    return {"step": sequence, "phase": int(np.searchsorted(phase_ends, pieces[0][0], side="right")), "ids": ids,
            "documents": [{"domain": domains[n], "id": readers[n].domain.id(d), "start": place, "offset": offset}
                          for _, n, d, offset, _, place in pieces]}
