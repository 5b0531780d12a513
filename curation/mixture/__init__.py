"""Training mixtures: domain weights, upsampling schedules, the emitted mixture a trainer reads.

    from curation.mixture import stream
    for doc in stream("corpus/mixtures/demo"): ...

schedule (weights, phases) -> plan (tokens, epochs, draw probabilities) -> emit (data/, manifest)
-> stream (what a trainer iterates; torch_dataset wraps it for a DataLoader). jest is the other
trainer-side part: online batch selection inside the training loop.
"""

from curation.mixture.stream import load_manifest, stream

__all__ = ["load_manifest", "stream"]
