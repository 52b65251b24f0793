"""Chapter analyses 01-05 (clipstudy.effects; the tables of clipstudy.axes: shifts, visual_factors,
shape_bias, calibration; the shape-bias decisions of clipstudy.metrics.shape_bias).

Pure functions on small synthetic inputs whose answers are known by construction.
"""
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from clipstudy import effects as E
from clipstudy.axes import calibration as C
from clipstudy.axes import shifts
from clipstudy.axes import visual_factors as V
from clipstudy.errors import SchemaError, UnknownNameError
from clipstudy.metrics.shape_bias import lab_shape_bias, live_decisions
from clipstudy.run.evaluate import align


# ---- effects ------------------------------------------------------------------------------------

def test_effect_rejects_unknown_factor_and_source():
    with pytest.raises(UnknownNameError, match="architecture"):
        E.effect("arch", "ax", "m", 1.0, "a vs b", "lab")
    with pytest.raises(UnknownNameError, match="records"):
        E.effect("architecture", "ax", "m", 1.0, "a vs b", "paper")
    row = E.effect("fine-tuning", "ax", "m", 2, "a vs b", "lab")
    assert row["effect"] == 2.0 and isinstance(row["effect"], float)


def test_effects_frame_columns_and_validation():
    empty = E.effects_frame([])
    assert list(empty.columns) == E.COLUMNS + [E.P] and empty.empty  # the p-value column follows, optional
    df = E.effects_frame([E.effect("architecture", "x", "m", 0.5, "c", "lab", p=0.01)])
    assert list(df.columns) == E.COLUMNS + [E.P] and df.loc[0, E.P] == 0.01
    with pytest.raises(SchemaError, match="comparison"):
        E.effects_frame([dict(factor="architecture", axis="x", metric="m", effect=1.0, source="lab")])
    with pytest.raises(UnknownNameError):
        E.effects_frame([dict(factor="colour", axis="x", metric="m", effect=1.0, comparison="c", source="lab")])


def test_group_contrast_means_and_empty_group():
    f = pd.DataFrame({"g": ["a", "a", "b", "b", "b"], "v": [1.0, 3.0, 0.0, 1.0, np.nan]})
    c = E.group_contrast(f, "g", "a", "b", "v")
    assert c == dict(effect=pytest.approx(1.5), n_treatment=2, n_base=2)
    assert np.isnan(E.group_contrast(f, "g", "a", "zzz", "v")["effect"])


def test_matched_contrast_removes_confounding():
    # Within each data source the treatment adds exactly +1, but treatment models mostly sit in the
    # high-value source: the unmatched contrast is inflated, the matched one is exactly 1.
    f = pd.DataFrame({
        "arch": ["vit", "vit", "vit", "rn", "rn", "rn", "vit", "rn"],
        "data": ["hi", "hi", "hi", "lo", "lo", "lo", "lo", "hi"],
        "er": [11.0, 11.0, 11.0, 0.0, 0.0, 0.0, 1.0, 10.0],
    })
    m = E.matched_contrast(f, "arch", "vit", "rn", "er", ["data"])
    assert m["matched"] and m["n_strata"] == 2 and m["effect"] == pytest.approx(1.0)
    u = E.matched_contrast(f, "arch", "vit", "rn", "er")
    assert not u["matched"] and u["effect"] == pytest.approx(8.5 - 2.5)
    # no stratum holds both groups: falls back to the unmatched contrast and says so
    g = f[~((f["arch"] == "vit") & (f["data"] == "lo")) & ~((f["arch"] == "rn") & (f["data"] == "hi"))]
    fb = E.matched_contrast(g, "arch", "vit", "rn", "er", ["data"])
    assert not fb["matched"] and fb["effect"] == pytest.approx(11.0)


def test_lab_effects_maps_recipes_to_factors():
    recipes = pd.DataFrame({"recipe": ["base", "arch-resnet", "data-corr-high", "size-large", "odd"],
                            "factor": ["base", "architecture", "data", "size", "mystery"]})
    vals = pd.DataFrame({"recipe": ["base", "arch-resnet", "data-corr-high", "odd"], "value": [0.5, 0.7, 0.2, 9.0]})
    rows = E.lab_effects(vals, recipes, "ax", "m")
    got = {r["comparison"]: (r["factor"], r["effect"]) for r in rows}
    assert got == {"arch-resnet vs base": ("architecture", pytest.approx(0.2)),
                   "data-corr-high vs base": ("training distribution", pytest.approx(-0.3))}
    assert E.lab_effects(vals[vals["recipe"] != "base"], recipes, "ax", "m") == []


def test_factor_summary_lists_every_factor_with_numbers_or_reasons():
    eff = E.effects_frame([E.effect("fine-tuning", "x", "ER", -0.254, "ft vs zs", "records")])
    md = E.factor_summary(eff, {"contrastive loss": "no SigLIP models here"})
    lines = md.splitlines()
    assert len(lines) == len(E.FACTORS)
    assert "-0.254" in md and "ft vs zs" in md and "no SigLIP models here" in md
    assert sum("not measured" in line for line in lines) == len(E.FACTORS) - 1


# ---- natural shifts -------------------------------------------------------------------------------

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
    assert eff["training distribution"]["effect"] == pytest.approx(0.10)  # laion2b - openai (vit)
    assert eff["fine-tuning"]["effect"] == pytest.approx(-0.25)  # ft - zs within (vit, openai-wit)
    assert eff["contrastive loss"]["effect"] == pytest.approx(0.50 - np.mean([0.30, 0.40]))
    assert all(r["source"] == "records" for r in eff.values())


# ---- visual factors -------------------------------------------------------------------------------

def test_lab_factor_table_error_ratio_against_control():
    factor = ["none"] * 4 + ["pose"] * 4 + ["color"] * 4
    correct = [1, 1, 1, 0] + [1, 0, 0, 0] + [1, 1, 1, 1]
    t = V.lab_factor_table(correct, factor).set_index("factor")
    assert set(t.index) == {"pose", "color"}
    assert t.loc["pose", "accuracy"] == pytest.approx(0.25) and t.loc["pose", "control_accuracy"] == pytest.approx(0.75)
    assert t.loc["pose", "error_ratio"] == pytest.approx(0.75 / 0.25)
    assert t.loc["color", "error_ratio"] == pytest.approx(0.0)
    assert t.loc["pose", "count"] == 4
    with pytest.raises(ValueError, match="control"):
        V.lab_factor_table([1, 0], ["pose", "color"])


def test_imagenet_x_records_effects_and_long_table():
    f = pd.DataFrame({"model": ["c1", "c1", "c2", "c2", "r1", "r1"], "testbed": ["t"] * 6,
                      "group": ["zero-shot CLIP"] * 4 + ["ImageNet model"] * 2,
                      "family": ["vit", "vit", "resnet", "resnet", "resnet", "resnet"],
                      "baseline": [False] * 4 + [True] * 2, "factor": ["pose", "color"] * 3,
                      "er": [0.2, 0.4, 0.1, 0.1, 0.0, 0.0]})
    eff = {r["factor"]: r["effect"] for r in V.records_effects(f)}
    assert eff["architecture"] == pytest.approx(0.3 - 0.1)
    assert eff["training distribution"] == pytest.approx(0.2 - 0.0)
    cvr = pd.DataFrame({"factor": ["pose"], "error_ratio_clip": [1.2], "error_ratio_rest": [1.5], "er_clip": [0.1],
                        "er_rest": [0.0]})
    long = V.records_factor_table(cvr)
    assert len(long) == 2 and set(long["who"]) == {"zero-shot CLIP", "ImageNet models"}


# ---- shape bias -----------------------------------------------------------------------------------

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


# ---- calibration ----------------------------------------------------------------------------------

def _overconfident(n=3000, c=5, seed=0):
    """Labels drawn from softmax(z); the model reports 3*z: overconfident, best temperature ~3."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, c))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(c, p=row) for row in p])
    return 3 * z, y


def test_temperature_scaling_fixes_overconfidence_and_transfers_to_a_same_distribution_set():
    z, y = _overconfident(seed=0)
    z2, y2 = _overconfident(seed=1)
    t = C.calibration_table({"val": (z, y), "v2": (z2, y2)}, "val")
    ece = t.pivot_table(index="set", columns="scaling", values="ece")
    temp = t[(t["set"] == "val") & (t["scaling"] == "id")]["temperature"].iloc[0]
    assert 2.5 < temp < 3.5
    assert ece.loc["val", "id"] < 0.5 * ece.loc["val", "none"]
    tr = C.transfer_table(t, "val").set_index("set")
    assert tr.loc["v2", "gain"] > 0 and abs(tr.loc["v2", "transfer_gap"]) < 0.02
    assert not tr.loc["val", "shifted"] and tr.loc["v2", "shifted"]
    with pytest.raises(ValueError, match="ID set"):
        C.calibration_table({"v2": (z2, y2)}, "val")


def test_id_temperature_does_not_transfer_to_a_differently_scaled_shift():
    z, y = _overconfident(seed=0)
    zs, ys = _overconfident(seed=2)
    tr = C.transfer_table(C.calibration_table({"val": (z, y), "shift": (zs / 9, ys)}, "val"), "val").set_index("set")
    # the shift is underconfident at T=1 already; dividing again by ~3 makes it worse than its oracle
    assert tr.loc["shift", "transfer_gap"] > 0.05


def test_calibration_metrics_and_per_group_and_reliability():
    z = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    y = np.array([0, 1, 1, 1])
    m = C.calibration_metrics(z, y)
    assert m["accuracy"] == pytest.approx(0.75)
    p1 = 1 / (1 + np.exp(-2))
    assert m["confidence"] == pytest.approx(p1) and m["ece"] == pytest.approx(abs(p1 - 0.75))
    g = C.per_group_ece(z, y, ["a", "a", "b", "b"], temperature=1.0).set_index("group")
    assert g.loc["a", "accuracy"] == 1.0 and g.loc["b", "accuracy"] == 0.5 and g.loc["a", "gain"] == 0.0
    r = C.reliability_frame({"s": (z, y)}, temperature=2.0, n_bins=5)
    assert len(r) == 10 and set(r["scaling"]) == {"none", "id"} and r["count"].sum() == 8
