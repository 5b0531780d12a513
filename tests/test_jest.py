"""JEST's selection (Evans et al. 2024): the chunked joint sampler finds a constructed best sub-batch far more
often than chance and beats independent top-k on batch learnability when examples interact; the
per-example form is top-k or a temperature sample; the batch sampler feeds a real DataLoader."""

from __future__ import annotations

import numpy as np
import pytest

from curation.mixture.jest import (
    JestBatchSampler,
    JestSelector,
    batch_score,
    example_scores,
    joint_sample,
    select_per_example,
    sigmoid_pair_losses,
)


def _planted(rng: np.random.Generator, size: int = 64, group: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Scores where one hidden group is worth most together: its members' pairs score high."""
    members = rng.choice(size, group, replace=False)
    scores = rng.normal(0, 0.05, (size, size))
    scores[np.ix_(members, members)] += 1.0
    return scores, np.sort(members)


def test_the_joint_sampler_finds_the_planted_sub_batch():
    """The first chunk is uniform (4 of 16 here); from then on the sampler should fill the
    sub-batch from the planted group, which a random sub-batch does only by chance."""
    rng = np.random.default_rng(0)
    later_all_planted = random_all_planted = 0
    joint, uniform, later_overlap = [], [], []
    for _ in range(200):
        scores, members = _planted(rng)
        chosen = joint_sample(scores, n_chunks=4, filter_ratio=0.75, rng=rng)
        random_pick = rng.choice(64, 16, replace=False)
        assert len(chosen) == 16 and len(set(chosen.tolist())) == 16
        later_all_planted += np.isin(chosen[4:], members).all()
        later_overlap.append(np.isin(chosen[4:], members).mean())
        random_all_planted += np.isin(random_pick[4:], members).all()
        joint.append(batch_score(scores, chosen))
        uniform.append(batch_score(scores, random_pick))
    print(f"later picks all planted {later_all_planted}/200, overlap {np.mean(later_overlap):.3f}")
    assert later_all_planted > 80 and random_all_planted == 0 and np.mean(later_overlap) > 0.85
    assert np.mean(joint) > 3 * np.mean(uniform)


def test_joint_selection_beats_independent_top_k_when_examples_interact():
    """High individual scores on near-duplicates (their pairs cancel) against a group that is
    only worth it together: top-k by the diagonal takes the duplicates, the joint sampler does not."""
    rng = np.random.default_rng(1)
    joint, independent = [], []
    for _ in range(50):
        scores = rng.normal(0, 0.05, (64, 64))
        duplicates, group = rng.permutation(64)[:16], rng.permutation(64)[16:32]
        scores[duplicates, duplicates] += 2.0
        scores[np.ix_(duplicates, duplicates)] -= 0.5 * (1 - np.eye(16))
        scores[np.ix_(group, group)] += 0.5
        joint.append(batch_score(scores, joint_sample(scores, n_chunks=4, filter_ratio=0.75, rng=rng)))
        independent.append(batch_score(scores, select_per_example(np.diag(scores), 16, "topk")))
    assert np.mean(joint) > np.mean(independent) + 50


def test_sigmoid_pair_losses_and_learnability():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = rng.normal(size=(8, 16))
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    losses = sigmoid_pair_losses(x, y, temperature=10.0, bias=-10.0)
    logit = 10.0 * x[2] @ y[5] - 10.0
    assert losses.shape == (8, 8) and np.isclose(losses[2, 5], np.log1p(np.exp(logit)))  # a negative pair
    assert np.isclose(losses[3, 3], np.log1p(np.exp(-(10.0 * x[3] @ y[3] - 10.0))))  # a positive pair
    # Matching a caption better lowers its positive term and raises its negatives'.
    assert sigmoid_pair_losses(x, x)[0, 0] < losses[0, 0] and sigmoid_pair_losses(x, x)[1, 0] > 0
    learner, reference = rng.random(10), rng.random(10)
    assert np.allclose(example_scores(learner, reference), learner - reference)
    assert np.allclose(example_scores(None, reference, "easy_reference"), -reference)
    with pytest.raises(ValueError):
        example_scores(learner, reference, "hardest")


def test_per_example_selection_is_top_k_or_a_temperature_sample():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=1000)
    top = set(select_per_example(scores, 100, "topk").tolist())
    assert top == set(np.argsort(-scores)[:100].tolist())
    assert set(select_per_example(scores, 100, "sample", temperature=1e-6, rng=rng).tolist()) == top
    hot = select_per_example(scores, 100, "sample", temperature=1e6, rng=rng)
    assert abs(scores[hot].mean()) < 0.35  # near a uniform sample's mean of 0
    warm = select_per_example(scores, 100, "sample", temperature=1.0, rng=rng)
    assert scores[hot].mean() < scores[warm].mean() < scores[list(top)].mean()


def test_the_batch_sampler_feeds_a_dataloader():
    torch = pytest.importorskip("torch")
    values = torch.arange(1000, dtype=torch.float32)
    learner = np.linspace(0, 2, 1000)  # later items are harder for the learner ...
    reference = np.linspace(0, 1, 1000)  # ... and the reference learned them: learnability grows
    sampler = JestBatchSampler(1000, 100, JestSelector(filter_ratio=0.8, mode="topk"),
                               learner_loss=lambda i: learner[i], reference_loss=lambda i: reference[i], seed=0)
    batches = list(torch.utils.data.DataLoader(values, batch_sampler=sampler))
    assert len(batches) == 10 and all(len(b) == 20 for b in batches)
    chosen = torch.cat(batches).numpy()
    assert len(set(chosen.tolist())) == 200 and chosen.mean() > 700  # random would be ~500
