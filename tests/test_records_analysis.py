"""Analyses of the real records: frames a chapter can plot, and the known qualitative results."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logit

from clipstudy import records
from clipstudy.metrics import IMAGENET_X_FACTORS


@pytest.fixture(scope="module")
def er(shared_data):
    return records.natural_shift_er(shared_data)


def test_er_frame_is_plot_ready(er):
    assert set(er["dataset"]) == {"imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a"}  # no ObjectNet baseline
    assert set(er["group"]) == {records.ZS_CLIP, records.CLIP_FT, records.IMAGENET}
    for col in ("model", "id_acc", "ood_acc", "predicted", "er", "fit_slope", "fit_intercept"):
        assert er[col].notna().all(), col
    assert np.allclose(er["ood_acc"] - er["predicted"], er["er"])


def test_er_baseline_is_timm_imagenet_models(er, shared_data):
    t = records.load("timm", shared_data)
    t = t[(t["group"] == records.IMAGENET) & (t["metric"] == "acc1")]
    for shift, g in er.groupby("dataset"):
        both = t[t["dataset"].isin(["imagenet", shift])].groupby("model").size().eq(2).sum()
        assert g["fit_n"].iloc[0] == both
        # the fit line passes through predicted(id): check one point by hand in logit space
        row = g.iloc[0]
        a, b = row["fit_slope"], row["fit_intercept"]
        assert logit(row["predicted"]) == pytest.approx(a * logit(row["id_acc"]) + b, abs=1e-6)


@pytest.mark.parametrize("shift", ["imagenet-r", "imagenet-sketch"])
def test_zero_shot_clip_is_effectively_robust_and_ft_less_so(er, shift):
    g = er[er["dataset"] == shift].groupby("group")["er"].mean()
    assert g[records.ZS_CLIP] > 0                       # above the ImageNet-model line
    assert g[records.CLIP_FT] < g[records.ZS_CLIP]      # fine-tuning on ImageNet loses much of it


def test_er_summary_groupings(er):
    for by in ("data", "data_scale", "family"):
        s = records.er_summary(er[er["group"] == records.ZS_CLIP], by)
        assert {"dataset", "group", by, "er_mean", "n"} <= set(s.columns)
        assert s["n"].sum() == (er["group"] == records.ZS_CLIP).sum()


def test_imagenet_x_factors(shared_data):
    f = records.imagenet_x_factors(shared_data)
    assert set(f["factor"]) == set(IMAGENET_X_FACTORS)
    assert np.allclose(f["error_ratio"], (1 - f["acc"]) / (1 - f["overall_acc"]))
    assert not f.loc[f["baseline"], "group"].eq(records.ZS_CLIP).any()
    c = records.imagenet_x_clip_vs_rest(f)
    assert len(c) == 16 and (c["n_clip"] == 4).all()
    assert c["er_gap"].is_monotonic_decreasing
    assert c["clip_more_robust"].equals(c["er_gap"] > 0)


def test_shape_bias_humans_far_above_cnns(shared_data):
    s = records.texture_vs_shape_bias(shared_data).set_index("subject")
    assert s.loc["humans", "n_conflict"] == 10 * s.loc["vgg", "n_conflict"]
    assert s.loc["vgg", "n_conflict"] == 1200  # 1280 images, 80 without a cue conflict
    cnn = s.loc[["alexnet", "googlenet", "vgg"], "shape_bias"]
    assert s.loc["humans", "shape_bias"] > cnn.max() + 0.3      # qualitative: humans are shape-biased
    humans = s[(s["kind"] == "subject") & (s["group"] == records.HUMAN)]
    assert len(humans) == 10 and (humans["shape_bias"] > cnn.max()).all()


def test_retrieval_vs_classification(shared_data):
    r = records.retrieval_vs_classification(shared_data)
    assert set(r["dataset"]) == {"flickr30k", "mscoco"}
    assert r["model"].nunique() >= 119
    assert not r.loc[r["finetune_data"].eq("mscoco"), "in_fit"].any()
    c = records.retrieval_correlations(r)
    assert len(c) == 12 and c["pearson_r"].between(-1, 1).all()
    assert (c["pearson_r"] > 0).all()  # retrieval rises with ImageNet accuracy
    res = records.retrieval_residuals(r)
    assert {"dataset", "metric", "data", "residual_mean", "n"} <= set(res.columns)
    fit = r[r["in_fit"]].groupby(["dataset", "metric"])["residual"].mean()
    assert np.allclose(fit, 0, atol=1e-9)  # least-squares residuals average to zero
