"""A distilled DataMan rater: linear models on hashed n-grams and text statistics, trained on a
rater's annotations of a sample, that score a whole corpus at CPU speed.

    rater = DistilledRater().fit(texts, scores, domains)    # scores: n x 14 ints, domains: letters
    predicted, domains = rater.predict(texts)               # n x 14 floats, letters
    rater.save(folder); DistilledRater.load(folder)

Why linear models on hashed features rather than 15 fastText classifiers: one ridge solve fits all
14 criteria at once (they share the features), the solution is closed-form and deterministic, the
model is a few MB instead of 15 x hundreds of MB of fastText buckets, and a regression keeps the
order of the 1-5 scale that a classifier over five labels throws away (Spearman is what counts).
Features: the hashing encoder's LSA of word 1-2-grams (what the text is about: domain, knowledge,
professionalism) plus document statistics (length, lines, word length, character classes: the
structure and fluency criteria). The domain is a ridge one-vs-rest classifier on the same features.
Each output's ridge penalty is chosen on a validation tenth of the training data, then the model
is refit on all of it.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.embed.hashing import HashingEncoder
from scorers.dataman.prompts import COLUMNS

PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
_STATISTICS = ("log chars", "log words", "log lines", "mean word length", "digits", "upper case",
               "punctuation", "whitespace", "lines ending a sentence")


def text_statistics(texts: list[str]) -> np.ndarray:
    """Per text: its size on a log scale and the shares of character classes, vectorised by Arrow."""
    array = pa.array(texts, pa.string())
    chars = pc.utf8_length(array).to_numpy(zero_copy_only=False).astype(np.float64)
    safe = np.maximum(chars, 1)

    def count(pattern: str) -> np.ndarray:
        return pc.count_substring_regex(array, pattern).to_numpy(zero_copy_only=False).astype(np.float64)

    words, lines = count(r"\S+"), count(r"\n") + 1
    columns = [np.log1p(chars), np.log1p(words), np.log1p(lines), (chars - count(r"\s")) / np.maximum(words, 1),
               count(r"\d") / safe, count(r"[[:upper:]]") / safe, count(r"[[:punct:]]") / safe, count(r"\s") / safe,
               count(r"[.!?:]\s*(\n|$)") / lines]
    return np.stack(columns, axis=1)


def _ridge(x: np.ndarray, y: np.ndarray, penalties: np.ndarray) -> np.ndarray:
    """Weights per target column j minimising |x w_j - y_j|^2 + penalties[j] |w_j|^2, from one
    eigendecomposition (x has a bias column that is penalised too, harmlessly: the features are
    standardised and the targets centred)."""
    eigenvalues, eigenvectors = np.linalg.eigh(x.T @ x)
    return eigenvectors @ ((eigenvectors.T @ (x.T @ y)) / (eigenvalues[:, None] + penalties[None, :]))


class DistilledRater:
    def __init__(self, dim: int = 256, seed: int = 0):
        self.dim, self.seed = dim, seed

    def _features(self, texts: list[str]) -> np.ndarray:
        raw = np.hstack([self.encoder_.encode(texts), text_statistics(texts)])
        standard = (raw - self.mean_) / self.scale_
        return np.hstack([standard, np.ones((len(texts), 1))])

    def fit(self, texts: list[str], scores: np.ndarray, domains: list[str]) -> DistilledRater:
        self.encoder_ = HashingEncoder(dim=self.dim, seed=self.seed).fit(texts)
        raw = np.hstack([self.encoder_.encode(texts), text_statistics(texts)])
        self.mean_, self.scale_ = raw.mean(axis=0), np.maximum(raw.std(axis=0), 1e-6)
        x = self._features(texts)
        self.domains_ = np.array(sorted(set(domains)))
        targets = np.hstack([scores.astype(np.float64), (np.array(domains)[:, None] == self.domains_).astype(np.float64)])
        self.offset_ = targets.mean(axis=0)
        y = targets - self.offset_
        order = np.random.default_rng(self.seed).permutation(len(texts))
        validation, train = order[: max(1, len(texts) // 10)], order[max(1, len(texts) // 10) :]

        errors = [((x[validation] @ _ridge(x[train], y[train], np.full(y.shape[1], penalty)) - y[validation]) ** 2).mean(axis=0)
                  for penalty in PENALTIES]
        self.penalties_ = np.array(PENALTIES)[np.argmin(errors, axis=0)]  # one per criterion and domain
        self.weights_ = _ridge(x, y, self.penalties_)
        return self

    def predict(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(n x 14 predicted scores, clipped to 1..5; n domain letters)."""
        outputs = self._features(texts) @ self.weights_ + self.offset_
        scores = np.clip(outputs[:, : len(COLUMNS)], 1, 5)
        return scores, self.domains_[outputs[:, len(COLUMNS) :].argmax(axis=1)]

    # -- on disk ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        encoder = {f"encoder_{key}": value for key, value in self.encoder_.state().items()}
        np.savez(buffer, **encoder, mean=self.mean_, scale=self.scale_, weights=self.weights_, offset=self.offset_,
                 domains=self.domains_, settings=np.array([self.dim, self.seed]), penalties=self.penalties_)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> DistilledRater:
        state = dict(np.load(io.BytesIO(data)))
        rater = cls(*(int(v) for v in state["settings"]))
        rater.encoder_ = HashingEncoder.from_state({key[8:]: value for key, value in state.items() if key.startswith("encoder_")})
        rater.mean_, rater.scale_, rater.weights_ = state["mean"], state["scale"], state["weights"]
        rater.offset_, rater.domains_, rater.penalties_ = state["offset"], state["domains"], state["penalties"]
        return rater
