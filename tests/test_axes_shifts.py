"""The natural-shift tables of clipstudy.axes.shifts: mean ER, the lab's and the live ER against a line, the
records' matched contrasts. Pure functions on small synthetic inputs whose answers are known by construction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from clipstudy.axes import shifts


def _points():
    rows = []
    for model, group, er_v2, er_r, family in [("m1", "zero-shot CLIP", 0.1, 0.3, "vit"),
                                              ("m2", "zero-shot CLIP", 0.0, 0.1, "resnet"),
                                              ("m3", "ImageNet model", 0.0, 0.0, "resnet")]:
        rows += [dict(model=model, group=group, family=family, dataset="imagenet-v2", er=er_v2, source="x"),
                 dict(model=model, group=group, family=family, dataset="imagenet-r", er=er_r, source="x")]
    rows.append(dict(model="m4", group="zero-shot CLIP", family="vit", dataset="imagenet-v2", er=0.5, source="x"))
    return pd.DataFrame(rows)


def test_mean_er_keeps_only_models_scored_on_every_shift():
    m = shifts.mean_er(_points()).set_index("model")
    assert "m4" not in m.index  # only one of the two shifts
    assert m.loc["m1", "er"] == pytest.approx(0.2) and m.loc["m1", "n_shifts"] == 2
    assert m.loc["m1", "group"] == "zero-shot CLIP"


def test_lab_er_zero_on_the_baseline_line_and_known_offset_above_it():
    ids = np.array([0.3, 0.5, 0.7, 0.9])
    ood = expit(0.8 * logit(ids) - 0.5)  # exactly on a logit-linear line
    acc = pd.DataFrame({"model": [f"b{i}" for i in range(4)] * 2 + ["star", "star"],
                        "dataset": ["lab-val"] * 4 + ["lab-sketch"] * 4 + ["lab-val", "lab-sketch"],
                        "accuracy": [*ids, *ood, 0.6, float(expit(0.8 * logit(0.6) - 0.5)) + 0.1]})
    er = shifts.lab_er_table(acc, shifts=["lab-sketch"], baseline=["b0", "b1", "b2", "b3"]).set_index("model")
    assert er.loc[["b0", "b1", "b2", "b3"], "er"].abs().max() < 1e-9
    assert er.loc["star", "er"] == pytest.approx(0.1, abs=1e-9)
    assert er["fit_slope"].iloc[0] == pytest.approx(0.8) and er["fit_n"].iloc[0] == 4
    # one baseline model: no line, NaN ER (not an error, not a number)
    one = shifts.lab_er_table(acc, shifts=["lab-sketch"], baseline=["b0"])
    assert one["er"].isna().all()
    with pytest.raises(ValueError, match="lab-val"):
        shifts.lab_er_table(acc[acc["dataset"] != "lab-val"], shifts=["lab-sketch"])


def test_live_er_uses_the_records_line():
    points = pd.DataFrame({"dataset": ["imagenet-r"], "fit_slope": [1.0], "fit_intercept": [0.0], "fit_n": [10],
                           "fit_r2": [0.9]})
    table = pd.DataFrame({"model": ["a", "a", "a"], "dataset": ["imagenet", "imagenet-r", "objectnet"],
                          "metric": ["top1"] * 3, "value": [0.6, 0.7, 0.4]})
    out = shifts.live_er(table, points).set_index("dataset")
    assert out.loc["imagenet-r", "er"] == pytest.approx(0.1)  # slope 1, intercept 0: predicted = id accuracy
    assert np.isnan(out.loc["objectnet", "er"])  # no line for ObjectNet
    assert shifts.live_er(table, None)["er"].isna().all()


def test_records_effects_matched_contrasts_on_synthetic_points():
    rows = []
    spec = [("zs-vit-a", "zero-shot CLIP", "vit", "openai-wit", 4e8, "clip", 0.30),
            ("zs-rn-a", "zero-shot CLIP", "resnet", "openai-wit", 4e8, "clip", 0.20),
            ("zs-vit-b", "zero-shot CLIP", "vit", "laion2b", 2.3e9, "clip", 0.40),
            ("zs-sig", "zero-shot CLIP", "vit", "webli", 1e10, "siglip", 0.50),
            ("ft-vit-a", "CLIP fine-tuned", "vit", "openai-wit", 4e8, "clip", 0.05)]
    for model, group, fam, data, size, loss, er in spec:
        for ds in ("imagenet-v2", "imagenet-r"):
            rows.append(dict(source="x", model=model, group=group, family=fam, data=data, dataset_size=size,
                             finetuned=group != "zero-shot CLIP", loss=loss, dataset=ds, er=er))
    eff = {r["factor"]: r for r in shifts.records_er_effects(pd.DataFrame(rows))}
    assert eff["architecture"]["effect"] == pytest.approx(0.10)  # vit - resnet within openai-wit
    assert "training distribution" not in eff  # data and size are contrasted over more checkpoints (data_size)
    assert eff["fine-tuning"]["effect"] == pytest.approx(-0.25)  # ft - zs within (vit, openai-wit)
    # one model a group: the effect stands, with no interval and the reason
    assert eff["architecture"]["n_treatment"] == 1 and eff["architecture"]["note"].startswith("n too small")
    assert eff["contrastive loss"]["effect"] == pytest.approx(0.50 - np.mean([0.30, 0.40]))
    assert all(r["source"] == "records" for r in eff.values())
