"""JEST: joint example selection (Evans et al. 2024, arXiv:2406.17711), for a trainer to call each step.

From a super-batch of B examples, keep a sub-batch of b = (1 - filter_ratio) * B that is jointly
most learnable, scored by a learner and a frozen reference model:

    learnability   = learner loss - reference loss   (the default: worth learning, and learnable)
    easy_reference = - reference loss
    hard_learner   = learner loss

Two forms of loss:
- pairwise (B x B): a contrastive batch loss that decomposes into pairwise terms, e.g. the sigmoid
  loss over paired embeddings (``sigmoid_pair_losses``). Then an example's worth depends on what
  else is chosen, and ``joint_sample`` draws the sub-batch in ``n_chunks`` chunks, each from
  softmax(c_k(A)) with c_k(A) = S_kk + sum over a in A of (S_ak + S_ka), given the chunks before.
- per example (B): a language model's mean token loss per sequence. S is then diagonal and joint
  selection reduces to independent selection (the paper's limit case): the top b, or a sample from softmax(score / T)
  (Gumbel-top-k).

    selector = JestSelector(filter_ratio=0.8, seed=0)
    chosen = selector.select(learner_losses, reference_losses)     # indices into the super-batch
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

SCORES = ("learnability", "easy_reference", "hard_learner")


def example_scores(learner: np.ndarray | None, reference: np.ndarray | None, score: str = "learnability") -> np.ndarray:
    """The score matrix (pairwise) or vector (per example) from the two models' losses."""
    if score == "learnability":
        return np.asarray(learner, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    if score == "easy_reference":
        return -np.asarray(reference, dtype=np.float64)
    if score == "hard_learner":
        return np.asarray(learner, dtype=np.float64)
    raise ValueError(f"score is one of {', '.join(SCORES)}, not {score!r}")


def sigmoid_pair_losses(x: np.ndarray, y: np.ndarray, temperature: float = 10.0, bias: float = -10.0) -> np.ndarray:
    """SigLIP's pairwise terms: l_ij = log(1 + exp(z_ij (-t x_i.y_j - b))), z_ii = 1, z_ij = -1."""
    logits = temperature * (x @ y.T) + bias
    z = 2 * np.eye(len(x)) - 1
    return np.logaddexp(0, -z * logits)


def _gumbel_top(logits: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` indices without replacement, each next one with probability softmax(logits)
    over those left (Gumbel-top-k; -inf logits are never taken)."""
    keys = logits + rng.gumbel(size=len(logits))
    return np.argsort(-keys, kind="stable")[:count]


def joint_sample(scores: np.ndarray, n_chunks: int = 16, filter_ratio: float = 0.8,
                 rng: np.random.Generator | None = None, normalize: bool = False) -> np.ndarray:
    """The paper's chunked sampler over a B x B score matrix. The first chunk is uniform; each later
    chunk is drawn from softmax of the conditional scores given the chunks before. ``normalize``
    divides the logits by 2|A| + 1 (the reimplementation's choice; the paper's is unverified)."""
    rng = rng or np.random.default_rng()
    size = len(scores)
    chunk = max(1, round(size * (1 - filter_ratio)) // n_chunks)
    chosen = rng.choice(size, chunk, replace=False)
    diagonal = np.diag(scores).copy()
    for _ in range(1, n_chunks):
        taken = np.zeros(size, dtype=bool)
        taken[chosen] = True
        logits = diagonal + scores[taken].sum(axis=0) + scores[:, taken].sum(axis=1)
        if normalize:
            logits = logits / (2 * taken.sum() + 1)
        logits[taken] = -np.inf
        chosen = np.concatenate([chosen, _gumbel_top(logits, chunk, rng)])
    return chosen


def select_per_example(scores: np.ndarray, count: int, mode: str = "sample", temperature: float = 1.0,
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """Independent selection: the ``count`` best (``topk``) or a sample without replacement from softmax(score / T)."""
    if mode == "topk":
        return np.argsort(-scores, kind="stable")[:count]
    if mode == "sample":
        return _gumbel_top(scores / temperature, count, rng or np.random.default_rng())
    raise ValueError(f"mode is topk or sample, not {mode!r}")


def batch_score(scores: np.ndarray, chosen: np.ndarray) -> float:
    """A sub-batch's total score: the sum of S over its pairs (its diagonal, per example)."""
    return float(scores[np.ix_(chosen, chosen)].sum()) if scores.ndim == 2 else float(scores[chosen].sum())


class JestSelector:
    """Chooses the sub-batch from a super-batch's losses: pairwise (B x B) losses go to the joint
    sampler, per-example (B) losses to independent selection."""

    def __init__(self, score: str = "learnability", filter_ratio: float = 0.8, n_chunks: int = 16,
                 mode: str = "sample", temperature: float = 1.0, normalize: bool = False, seed: int = 0):
        if score not in SCORES:
            raise ValueError(f"score is one of {', '.join(SCORES)}, not {score!r}")
        if not 0 <= filter_ratio < 1:
            raise ValueError(f"filter_ratio is in [0, 1), not {filter_ratio}")
        self.score, self.filter_ratio, self.n_chunks = score, filter_ratio, n_chunks
        self.mode, self.temperature, self.normalize = mode, temperature, normalize
        self.rng_ = np.random.default_rng(seed)

    def select(self, learner_losses: np.ndarray | None, reference_losses: np.ndarray | None) -> np.ndarray:
        scores = example_scores(learner_losses, reference_losses, self.score)
        if scores.ndim == 2:
            return joint_sample(scores, self.n_chunks, self.filter_ratio, self.rng_, self.normalize)
        count = max(1, round(len(scores) * (1 - self.filter_ratio)))
        return select_per_example(scores, count, self.mode, self.temperature, self.rng_)


class JestBatchSampler:
    """Batches of dataset indices chosen by JEST, for ``DataLoader(dataset, batch_sampler=...)``:
    each super-batch is drawn from a seeded permutation (a new one each epoch), scored by
    ``learner_loss(indices)`` and ``reference_loss(indices)`` (e.g. a lookup in cached
    reference losses, attrs/reference_loss), and the chosen sub-batch is yielded."""

    def __init__(self, size: int, super_batch: int, selector: JestSelector,
                 learner_loss: Callable[[np.ndarray], np.ndarray] | None,
                 reference_loss: Callable[[np.ndarray], np.ndarray] | None, seed: int = 0):
        self.size, self.super_batch, self.selector = size, super_batch, selector
        self.learner_loss, self.reference_loss, self.seed = learner_loss, reference_loss, seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.size // self.super_batch

    def __iter__(self) -> Iterator[list[int]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        self.epoch += 1
        for start in range(0, len(self) * self.super_batch, self.super_batch):
            candidates = order[start : start + self.super_batch]
            learner = self.learner_loss(candidates) if self.learner_loss else None
            reference = self.reference_loss(candidates) if self.reference_loss else None
            yield candidates[self.selector.select(learner, reference)].tolist()
