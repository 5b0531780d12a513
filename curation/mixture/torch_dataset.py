"""A torch IterableDataset over a mixture's stream (needs torch; the rest of curation does not).

    from curation.mixture.torch_dataset import MixtureDataset
    loader = torch.utils.data.DataLoader(MixtureDataset("corpus/mixtures/demo"), batch_size=8,
                                         num_workers=2, collate_fn=list)

With several DataLoader workers, worker w of n yields the steps s with s % n == w, so together
they yield every step once and the loader's order interleaves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from torch.utils.data import IterableDataset, get_worker_info

from curation.mixture.stream import stream


class MixtureDataset(IterableDataset):
    def __init__(self, manifest: str | Path, start_step: int = 0):
        self.manifest, self.start_step = manifest, start_step

    def __iter__(self) -> Iterator[dict]:
        worker = get_worker_info()
        workers, number = (worker.num_workers, worker.id) if worker is not None else (1, 0)
        for document in stream(self.manifest, self.start_step):
            if document["step"] % workers == number:
                yield document
