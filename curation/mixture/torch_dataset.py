"""A torch IterableDataset over a mixture's stream (needs torch; the rest of curation does not).

    from curation.mixture.torch_dataset import MixtureDataset
    loader = torch.utils.data.DataLoader(MixtureDataset("corpus/mixtures/demo"), batch_size=8,
                                         num_workers=2, collate_fn=list)
    loader = torch.utils.data.DataLoader(MixtureDataset("corpus/mixtures/tokens", seq_len=2048),
                                         batch_size=8, num_workers=2, collate_fn=list)

With several DataLoader workers, worker w of n reads only the steps s with s % n == w (the
stream's ``share``): together they yield every step once, and the loader's order interleaves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from torch.utils.data import IterableDataset, get_worker_info

from curation.mixture.stream import stream


class MixtureDataset(IterableDataset):
    def __init__(self, manifest: str | Path, start_step: int = 0, seq_len: int | None = None):
        self.manifest, self.start_step, self.seq_len = manifest, start_step, seq_len

    def __iter__(self) -> Iterator[dict]:
        worker = get_worker_info()
        share = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        return stream(self.manifest, self.start_step, seq_len=self.seq_len, share=share)
