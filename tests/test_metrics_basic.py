"""Accuracy, effective robustness, shape bias and retrieval recall against brute force."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.special import expit, logit

from clipstudy.metrics import (
    LogitFit, accuracy, effective_robustness, logit_fit, retrieval_recall, shape_bias, shape_texture_hits,
)

# ---------------------------------------------------------------- accuracy


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


# ---------------------------------------------------------------- effective robustness


def test_effective_robustness_on_and_above_the_line():
    slope, intercept = 1.3, -0.9
    base_id = np.array([0.55, 0.62, 0.70, 0.76, 0.81])
    base_ood = expit(slope * logit(base_id) + intercept)
    er, fit = effective_robustness(base_id, base_ood, base_id, base_ood)
    assert isinstance(fit, LogitFit)
    assert fit.slope == pytest.approx(slope) and fit.intercept == pytest.approx(intercept)
    assert fit.n == 5 and fit.r2 == pytest.approx(1.0)
    np.testing.assert_allclose(er, 0.0, atol=1e-12)
    on_line = expit(slope * logit(0.74) + intercept)
    er2, _ = effective_robustness([0.74, 0.74, 0.74], [on_line + 0.05, on_line, on_line - 0.02], base_id, base_ood)
    np.testing.assert_allclose(er2, [0.05, 0.0, -0.02], atol=1e-12)
    assert fit(0.74) == pytest.approx(on_line)
    assert er2.shape == (3,)


def test_logit_fit_noisy_and_clipping():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.9, 40)
    y = expit(0.8 * logit(x) - 0.5 + rng.normal(0, 0.1, 40))
    fit = logit_fit(torch.as_tensor(x), y)
    ref = np.polyfit(logit(x), logit(y), 1)
    assert (fit.slope, fit.intercept) == pytest.approx(tuple(ref))
    assert 0 < fit.r2 < 1
    assert np.isfinite(fit(np.array([0.0, 1.0]))).all()  # logit clipped at 0 and 1
    er, _ = effective_robustness([1.0], [1.0], [0.0, 0.5, 1.0], [0.1, 0.3, 1.0])
    assert np.isfinite(er).all()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.slope = 2.0


def test_effective_robustness_bad_input():
    with pytest.raises(ValueError, match="percentages"):
        effective_robustness([76.2], [50.0], [70.0, 80.0], [40.0, 55.0])
    with pytest.raises(ValueError, match="NaN"):
        logit_fit([0.7, np.nan, 0.8], [0.5, 0.6, 0.7])
    er, _ = effective_robustness([0.7, np.nan], [0.5, 0.5], [0.6, 0.8], [0.4, 0.6])
    assert np.isfinite(er[0]) and np.isnan(er[1])  # a point without an accuracy gets NaN, not an error
    with pytest.raises(ValueError, match="at least 2"):
        logit_fit([0.7], [0.5])
    with pytest.raises(ValueError, match="same ID accuracy"):
        logit_fit([0.7, 0.7], [0.5, 0.6])
    with pytest.raises(ValueError, match="length"):
        logit_fit([0.7, 0.8], [0.5])
    with pytest.raises(ValueError, match="shape"):
        effective_robustness([0.7, 0.8], [0.5], [0.6, 0.8], [0.4, 0.6])


# ---------------------------------------------------------------- shape bias


def test_shape_bias_hand_cases():
    shape = ["cat", "cat", "dog", "car", "car", "bird"]
    texture = ["dog", "cat", "cat", "bird", "bird", "car"]
    # image 1 is not a conflict (shape == texture) and is ignored even though the decision hits it
    decisions = ["cat", "cat", "cat", "bird", "boat", "bird"]
    # conflict images 0, 2, 3, 4, 5: shape hits at 0, 5; texture hits at 2, 3; image 4 hits neither
    assert shape_texture_hits(decisions, shape, texture) == {
        "shape_hits": 2, "texture_hits": 2, "other": 1, "n_conflict": 5
    }
    assert shape_bias(decisions, shape, texture) == 0.5
    assert shape_bias(["cat", "dog"], ["cat", "dog"], ["dog", "cat"]) == 1.0
    assert shape_bias(["dog", "boat"], ["cat", "dog"], ["dog", "cat"]) == 0.0
    assert shape_bias(np.array([0, 1, 2]), torch.tensor([0, 1, 1]), np.array([1, 2, 2])) == 2 / 3


def test_shape_bias_nan_without_hits_and_bad_input():
    assert np.isnan(shape_bias(["boat"], ["cat"], ["dog"]))
    assert np.isnan(shape_bias(["cat"], ["cat"], ["cat"]))  # no conflict images at all
    assert np.isnan(shape_bias([], [], []))
    with pytest.raises(ValueError, match="length"):
        shape_bias(["cat"], ["cat", "dog"], ["dog", "cat"])
    with pytest.raises(TypeError, match="mix"):
        shape_bias([0, 1], ["cat", "dog"], ["dog", "cat"])


# ---------------------------------------------------------------- retrieval


def _brute_recall(sim, image_to_texts, ks):
    n_img, n_txt = sim.shape
    owner = {t: i for i, ts in enumerate(image_to_texts) for t in ts}
    out = {}
    for k in ks:
        hits = [bool(set(np.argsort(-sim[i], kind="stable")[:k]) & set(image_to_texts[i])) for i in range(n_img)]
        out[f"image_to_text_R@{k}"] = np.mean(hits)
    for k in ks:
        hits = [owner[j] in np.argsort(-sim[:, j], kind="stable")[:k] for j in range(n_txt)]
        out[f"text_to_image_R@{k}"] = np.mean(hits)
    return out


@pytest.mark.parametrize("ties", [False, True])
def test_retrieval_recall_brute_force(ties):
    rng = np.random.default_rng(int(ties))
    n_img, caps = 40, 5
    perm = rng.permutation(n_img * caps)  # captions scattered over the text columns
    image_to_texts = [list(perm[i * caps : (i + 1) * caps]) for i in range(n_img)]
    sim = rng.normal(size=(n_img, n_img * caps))
    for i, ts in enumerate(image_to_texts):
        sim[i, ts] += rng.uniform(0, 2)  # some signal
    if ties:
        sim = np.round(sim)
    ks = (1, 5, 10)
    ours = retrieval_recall(sim, image_to_texts, ks)
    ref = _brute_recall(sim, image_to_texts, ks)
    assert ours.keys() == ref.keys()
    for key in ref:
        assert ours[key] == pytest.approx(ref[key]), key
    assert retrieval_recall(torch.as_tensor(sim, dtype=torch.float32), image_to_texts, ks) == pytest.approx(ours)


def test_retrieval_recall_hand_case_and_bad_input():
    # 2 images, 3 texts: texts 0, 2 caption image 0; text 1 captions image 1
    sim = np.array([[0.1, 0.9, 0.5], [0.2, 0.8, 0.3]])
    r = retrieval_recall(sim, [[0, 2], [1]], ks=(1, 2))
    assert r["image_to_text_R@1"] == 0.5  # image 0's best text is 1 (wrong); image 1's is 1 (right)
    assert r["image_to_text_R@2"] == 1.0
    # text 0 -> image 1 (wrong), text 1 -> image 0 (wrong), text 2 -> image 0 (right)
    assert r["text_to_image_R@1"] == pytest.approx(1 / 3)
    assert r["text_to_image_R@2"] == 1.0
    with pytest.raises(ValueError, match="no image"):
        retrieval_recall(sim, [[0], [1]])
    with pytest.raises(ValueError, match="already assigned"):
        retrieval_recall(sim, [[0, 2], [2, 1]])
    with pytest.raises(ValueError, match="out of range"):
        retrieval_recall(sim, [[0, 2], [3]])
    with pytest.raises(ValueError, match="entries"):
        retrieval_recall(sim, [[0, 1, 2]])
