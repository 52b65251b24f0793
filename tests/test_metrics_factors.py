"""ImageNet-X factor accuracies and error ratios against the `imagenet_x` package itself."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imagenet_x
from imagenet_x.aggregate import compute_factor_accuracies

from clipstudy.errors import SchemaError
from clipstudy.metrics import IMAGENET_X_FACTORS, error_ratio, error_ratios, factor_accuracies

FACTORS = list(imagenet_x.FACTORS)


def test_factor_list_matches_package():
    assert list(IMAGENET_X_FACTORS) == FACTORS


def _synthetic(seed: int, n: int = 400, one_hot: bool = False, empty_factor: str | None = "style"):
    rng = np.random.default_rng(seed)
    if one_hot:
        m = np.zeros((n, len(FACTORS)), dtype=int)
        m[np.arange(n), rng.integers(0, len(FACTORS), n)] = 1
    else:
        m = (rng.random((n, len(FACTORS))) < rng.uniform(0.05, 0.5, len(FACTORS))).astype(int)
    frame = pd.DataFrame(m, columns=FACTORS)
    if empty_factor:
        frame[empty_factor] = 0
    # correctness depends on factors, so ratios differ from 1
    p = 0.8 - 0.4 * frame["pose"] - 0.2 * frame["texture"]
    return rng.random(n) < p.to_numpy(), frame


def _package(correct, frame) -> pd.DataFrame:
    """Per-factor table from imagenet_x's own aggregate function (its input format: one row per
    (model, image) with the factor columns and a boolean `is_correct`)."""
    all_df = frame.assign(model="m", is_correct=np.asarray(correct, dtype=bool), **{"class": 0})
    return compute_factor_accuracies(all_df, FACTORS, "is_correct")


@pytest.mark.parametrize("seed,one_hot", [(0, False), (1, False), (2, True), (3, True)])
def test_factor_accuracies_and_error_ratios_match_package(seed, one_hot):
    correct, frame = _synthetic(seed, one_hot=one_hot)
    ref = _package(correct, frame)
    ref_ratio = imagenet_x.error_ratio(ref)
    ours = error_ratios(correct, frame).set_index("factor")
    assert list(ours.index) == FACTORS
    np.testing.assert_allclose(ours["accuracy"], ref.loc["m", FACTORS].astype(float), equal_nan=True)
    np.testing.assert_allclose(ours["error_ratio"], ref_ratio.loc["m", FACTORS].astype(float), equal_nan=True)
    assert ours["overall_accuracy"].iloc[0] == pytest.approx(ref.loc["m", "average"])
    assert np.isnan(ours.loc["style", "accuracy"]) and ours.loc["style", "count"] == 0
    np.testing.assert_array_equal(ours["count"], frame.sum().to_numpy())
    np.testing.assert_array_equal(
        factor_accuracies(correct, frame)["accuracy"].fillna(-1), ours["accuracy"].fillna(-1).to_numpy()
    )


def test_against_package_pipeline_on_real_annotations(tmp_path):
    """Fake predictions for the 50k val images, scored by imagenet_x.get_factor_accuracies on the
    package's multi-factor annotations (one-hot "top" annotations are covered synthetically above)."""
    which = "multi"
    from imagenet_x.utils import get_annotation_path

    labels = pd.read_csv(get_annotation_path() / "filename_label.csv")
    rng = np.random.default_rng(0)
    pred = np.where(rng.random(len(labels)) < 0.7, labels["label"], rng.integers(0, 1000, len(labels)))
    (tmp_path / "preds").mkdir()
    pd.DataFrame(
        {"file_name": labels["file_name"], "predicted_class": pred, "predicted_probability": 0.5}
    ).to_csv(tmp_path / "preds" / "fake.csv", index=False)
    ref = imagenet_x.get_factor_accuracies(str(tmp_path / "preds"), which_factor=which)

    ann = imagenet_x.load_annotations(which_factor=which)
    by_file = dict(zip(labels["file_name"], pred))
    correct = ann["file_name"].map(by_file).to_numpy() == ann["class"].to_numpy()
    ours = error_ratios(correct, ann).set_index("factor")  # extra columns (class, file_name, ...) ignored
    np.testing.assert_allclose(ours["accuracy"], ref.loc["fake", FACTORS].astype(float))
    np.testing.assert_allclose(ours["error_ratio"], imagenet_x.error_ratio(ref).loc["fake", FACTORS].astype(float))
    assert ours["overall_accuracy"].iloc[0] == pytest.approx(ref.loc["fake", "average"])


def test_edge_cases():
    frame = pd.DataFrame({"pose": [1, 1, 0, 0], "color": [0, 1, 1, 0]})
    # all correct: accuracies 1, error ratios 0/0 = NaN, as in the package
    allc = error_ratios(np.ones(4, bool), frame)
    assert (allc["accuracy"] == 1).all() and allc["error_ratio"].isna().all()
    ref = imagenet_x.error_ratio(
        compute_factor_accuracies(
            frame.reindex(columns=FACTORS, fill_value=0).assign(model="m", is_correct=True), FACTORS, "is_correct"
        )
    )
    assert ref.loc["m", ["pose", "color"]].isna().all()
    # none correct: accuracy 0 and ratio 1 (the package returns NaN here, as it groups only correct rows)
    none = error_ratios(np.zeros(4, bool), frame)
    assert (none["accuracy"] == 0).all() and (none["error_ratio"] == 1).all()
    # hand case: pose images 0,1; color images 1,2; correct = [1, 0, 1, 1]
    hand = error_ratios([1, 0, 1, 1], frame).set_index("factor")
    assert hand.loc["pose", "accuracy"] == 0.5 and hand.loc["color", "accuracy"] == 0.5
    assert hand.loc["pose", "error_ratio"] == pytest.approx(0.5 / 0.25)
    assert error_ratio(0.5, 0.75) == pytest.approx(2.0)


def test_factor_bad_input():
    frame = pd.DataFrame({"pose": [1, 0], "color": [0, 2]})
    with pytest.raises(SchemaError, match="color"):
        factor_accuracies([True, False], frame)
    with pytest.raises(SchemaError, match="shape"):
        factor_accuracies([True, False], frame, factor_names=["pose", "shape"])
    with pytest.raises(ValueError, match="rows"):
        factor_accuracies([True], frame[["pose"]])
    with pytest.raises(TypeError, match="DataFrame"):
        factor_accuracies([True, False], np.eye(2))
