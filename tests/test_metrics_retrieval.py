"""Retrieval recall (clipstudy.metrics.retrieval) against brute force."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from clipstudy.metrics import retrieval_recall


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
