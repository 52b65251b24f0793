"""Accuracy (clipstudy.metrics.classification) against brute force."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from clipstudy.metrics import accuracy


def _brute_topk(scores, labels, k):
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.mean([labels[i] in order[i] for i in range(len(labels))])


@pytest.mark.parametrize("k", [1, 2, 5])
def test_accuracy_topk_brute_force(k):
    rng = np.random.default_rng(k)
    for scores in (rng.normal(size=(300, 8)), np.round(rng.normal(size=(300, 8)))):  # random, heavy ties
        labels = rng.integers(0, 8, 300)
        assert accuracy(scores, labels, k=k) == pytest.approx(_brute_topk(scores, labels, k))
        assert accuracy(torch.as_tensor(scores), torch.as_tensor(labels), k=k) == pytest.approx(
            _brute_topk(scores, labels, k)
        )


def test_accuracy_predictions_ties_and_edges():
    assert accuracy(np.array([0, 1, 2, 2]), [0, 1, 2, 0]) == 0.75
    assert accuracy(torch.tensor([3, 3]), torch.tensor([3, 3])) == 1.0
    # ties go to the lower class index, as argmax does
    assert accuracy(np.zeros((4, 3)), [0, 0, 1, 2]) == 0.5
    assert accuracy(np.zeros((4, 3)), [0, 0, 1, 2], k=2) == 0.75
    assert accuracy(np.random.default_rng(0).normal(size=(5, 3)), [0, 1, 2, 0, 1], k=3) == 1.0
    assert accuracy(np.ones((3, 1)), [0, 0, 0]) == 1.0  # single class
    with pytest.raises(ValueError, match="k > 1"):
        accuracy(np.array([0, 1]), [0, 1], k=2)
    with pytest.raises(ValueError, match="length"):
        accuracy(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        accuracy(np.zeros((2, 2)), [0, 2])
    with pytest.raises(ValueError, match="empty"):
        accuracy(np.zeros((0, 2)), [])
    with pytest.raises(ValueError, match="positive"):
        accuracy(np.zeros((2, 2)), [0, 1], k=0)
