"""Shape bias (clipstudy.metrics.shape_bias): hand cases, the lab's conflict-image counts and the live decisions
(with clipstudy.run.evaluate.align's row order), on inputs whose answers are known by construction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from clipstudy.errors import SchemaError
from clipstudy.metrics import shape_bias, shape_texture_hits
from clipstudy.metrics.shape_bias import lab_shape_bias, live_decisions
from clipstudy.run.evaluate import align


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


def test_lab_shape_bias_counts_conflict_images_only():
    factors = pd.DataFrame({"shape_label": [0, 1, 2, 3, 4], "texture_label": [5, 6, 7, 8, 4]})
    # shape, shape, texture, other, (no conflict: ignored)
    out = lab_shape_bias([0, 1, 7, 9, 4], factors)
    assert out["n_conflict"] == 4 and out["shape_hits"] == 2 and out["texture_hits"] == 1 and out["other"] == 1
    assert out["shape_bias"] == pytest.approx(2 / 3)
    assert out["shape_acc"] == pytest.approx(0.5) and out["texture_acc"] == pytest.approx(0.25)
    with pytest.raises(SchemaError, match="texture_label"):
        lab_shape_bias([0], pd.DataFrame({"shape_label": [0]}))


def test_live_decisions_classifier_aggregates_and_align_orders_rows():
    import torch

    class Z:  # a classifier result: no head, features are 4-way logits
        head = None

        class encoded:
            features = torch.tensor([[5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, 3.0]])

    agg = lambda p: torch.stack([p[:, :2].mean(1), p[:, 2:].mean(1)], 1)  # noqa: E731
    assert list(live_decisions(Z, agg)) == [0, 1]
    with pytest.raises(ValueError, match="aggregate"):
        live_decisions(Z)
    frame = pd.DataFrame({"key": ["a", "b", "c"], "label": [0, 1, 2]})
    assert list(align(frame, ["c", "a"])["label"]) == [2, 0]
    with pytest.raises(KeyError):
        align(frame, ["zz"])
