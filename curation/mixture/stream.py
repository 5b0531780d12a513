"""Reading a mixture as a trainer does: a deterministic stream of documents that follows the
schedule, resumable from any step.

    for doc in stream("corpus/mixtures/demo", start_step=0):
        doc["step"], doc["phase"], doc["domain"], doc["id"], doc["text"], doc["tokens"]

A step is one document. Step s belongs to the phase whose [first_step, first_step + steps) holds
it, and its domain is drawn with that phase's probabilities from a uniform number fixed by (seed,
s // BLOCK): the draws never depend on what was read before, so resuming at step k replays only
the domain draws before k (cheap, vectorised) to know how far each domain has been read, and then
continues exactly as an uninterrupted stream would. Each domain is read in its (already shuffled)
order and starts over when it runs out: that is an epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq

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


class _DomainRows:
    """A domain's rows in order from ``position``, starting over at the end."""

    def __init__(self, root: Path, info: dict, fmt: str, position: int):
        self.root, self.parts, self.format = root, info["parts"], fmt
        self.total = sum(part["rows"] for part in self.parts)
        self._rows = self._from(position % self.total)

    def _read(self, part: dict) -> Iterator[dict]:
        path = self.root / part["file"]
        if self.format == "jsonl":
            with open(path, "rb") as handle:
                for line in handle:
                    yield orjson.loads(line)
        else:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
                yield from batch.to_pylist()

    def _from(self, position: int) -> Iterator[dict]:
        skip = position
        while True:
            for part in self.parts:
                if skip >= part["rows"]:
                    skip -= part["rows"]
                    continue
                rows = self._read(part)
                for _ in range(skip):
                    next(rows)
                skip = 0
                yield from rows

    def next(self) -> dict:
        return next(self._rows)


def stream(manifest: str | Path | dict, start_step: int = 0, root: str | Path | None = None) -> Iterator[dict]:
    """Documents from ``start_step`` to the end of the schedule (``manifest["steps"]``)."""
    document, folder = load_manifest(manifest)
    root = Path(root) if root is not None else folder
    if root is None:
        raise ValueError("give root= (the mixture folder) with a manifest dict")
    domains = list(document["domains"])
    if not 0 <= start_step <= document["steps"]:
        raise ValueError(f"start_step must be in 0..{document['steps']}, not {start_step}")
    read = np.zeros(len(domains), dtype=np.int64)
    for block in range(start_step // BLOCK):
        read += np.bincount(_draws(document, block), minlength=len(domains))
    first_block = start_step // BLOCK
    read += np.bincount(_draws(document, first_block)[: start_step - first_block * BLOCK], minlength=len(domains))
    readers = {}
    phase_ends = np.cumsum([p["steps"] for p in document["phases"]])
    for block in range(first_block, (document["steps"] + BLOCK - 1) // BLOCK):
        draws = _draws(document, block)
        for offset in range(max(0, start_step - block * BLOCK), len(draws)):
            step, number = block * BLOCK + offset, int(draws[offset])
            domain = domains[number]
            if domain not in readers:
                readers[domain] = _DomainRows(root, document["domains"][domain], document["format"], int(read[number]))
            row = readers[domain].next()
            yield {"step": step, "phase": int(np.searchsorted(phase_ends, step, side="right")), "domain": domain, **row}
