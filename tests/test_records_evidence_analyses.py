"""The records analyses of Evidence III on constructed frames whose answers are known: paired and grouped bootstraps
with the n < 5 rule, the ER baseline refit, prompts, training data and size, the fine-tuning regression (cross-checked
with sklearn and the normal equations) and 3D corruptions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from clipstudy import effects as E
from clipstudy import records
from clipstudy.metrics.robustness import LogitFit
from clipstudy.records import baselines as B
from clipstudy.records import contrasts, corruptions, data_size, finetunes, prompt_sets

N_BOOT = 500


def _line(slope: float, intercept: float, x) -> np.ndarray:
    return expit(slope * logit(np.asarray(x, float)) + intercept)


# ---- contrasts: one bootstrap, the n < 5 rule ----------------------------------------------------------------

def test_paired_constant_shift_and_small_n():
    base = np.linspace(0.3, 0.8, 6)
    f = pd.DataFrame({"model": [f"m{i}" for i in range(6)] * 2, "set": ["a"] * 6 + ["b"] * 6,
                      "value": np.r_[base, base + 0.02]})
    r = contrasts.paired(f, "model", "set", "b", "a", "value", n_boot=N_BOOT)
    assert r["effect"] == pytest.approx(0.02) and r["n"] == r["n_treatment"] == r["n_base"] == 6
    assert r["ci_low"] == pytest.approx(0.02) and r["ci_high"] == pytest.approx(0.02) and r["note"] == ""
    assert r["p"] == pytest.approx(1 / N_BOOT)  # every resample is above 0
    small = contrasts.paired(f[f["model"].isin(["m0", "m1", "m2", "m3"])], "model", "set", "b", "a", "value")
    assert small["effect"] == pytest.approx(0.02) and small["n"] == 4
    assert np.isnan([small["ci_low"], small["ci_high"], small["p"]]).all()
    assert small["note"].startswith("n too small: 4 model pairs (under 5")


def test_grouped_is_effects_bootstrap_with_the_rule():
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"model": [f"t{i}" for i in range(6)] + [f"b{i}" for i in range(7)],
                      "g": ["t"] * 6 + ["b"] * 7, "er": np.r_[rng.normal(0.1, 0.02, 6), rng.normal(0.0, 0.02, 7)]})
    r = contrasts.grouped(f, "g", "t", "b", "er", n_boot=N_BOOT)
    ref = E.grouped_effect(f, "g", "t", "b", "er", n_boot=N_BOOT)
    assert r["effect"] == pytest.approx(f[f.g == "t"].er.mean() - f[f.g == "b"].er.mean())
    assert (r["ci_low"], r["ci_high"], r["p"]) == (ref["ci_low"], ref["ci_high"], ref["p"])
    assert (r["n"], r["n_treatment"], r["n_base"], r["note"]) == (13, 6, 7, "")
    two = contrasts.grouped(f.iloc[4:], "g", "t", "b", "er")  # 2 vs 7
    assert two["n_treatment"] == 2 and np.isnan(two["ci_low"]) and np.isnan(two["p"])
    assert two["note"] == "n too small: 2 models in t (under 5, no interval)"


# ---- the ER baseline refit -----------------------------------------------------------------------------------

def _imagenet_models(prefix, xs, slope, intercept, **cols):
    rows = []
    for i, x in enumerate(xs):
        m = f"{prefix}{i}"
        rows += [{"model": m, "metric": "acc1", "dataset": "imagenet", "value": x, **cols},
                 {"model": m, "metric": "acc1", "dataset": "imagenet-sketch",
                  "value": float(_line(slope, intercept, x)), **cols}]
    return pd.DataFrame(rows)


def test_baseline_refit_known_answer():
    """Two populations on known logit lines; a CLIP's ER under each, and its move, are known in closed form. A
    non-network testbed model far off the line is left out of the testbed's fit."""
    xs = np.linspace(0.3, 0.85, 9)
    timm = _imagenet_models("t", xs, 1.2, -0.5, group=records.IMAGENET, data="imagenet-1k")
    tb = _imagenet_models("s", xs, 0.8, -0.3, group=records.IMAGENET, model_type="Supervised on ImageNet-1K")
    odd = _imagenet_models("rf", [0.5], 0.1, 2.0, group=records.IMAGENET, model_type="Random Forests")
    bt = B.timm_baseline(timm, shifts=("imagenet-sketch",))
    bb = B.testbed_baseline(pd.concat([tb, odd]), shifts=("imagenet-sketch",))
    assert (bt.fits["imagenet-sketch"].slope, bt.fits["imagenet-sketch"].intercept) == pytest.approx((1.2, -0.5))
    assert (bb.fits["imagenet-sketch"].slope, bb.fits["imagenet-sketch"].intercept) == pytest.approx((0.8, -0.3))
    assert bb.fits["imagenet-sketch"].n == 9 and "rf0" not in bb.models["imagenet-sketch"]
    clips = pd.DataFrame({"model": [f"c{i}" for i in range(6)], "dataset": "imagenet-sketch",
                          "id_acc": np.linspace(0.4, 0.8, 6), "ood_acc": np.linspace(0.3, 0.6, 6)})
    s = B.sensitivity(clips, [bt, bb])
    er_t = clips["ood_acc"] - _line(1.2, -0.5, clips["id_acc"])
    er_b = clips["ood_acc"] - _line(0.8, -0.3, clips["id_acc"])
    assert np.allclose(s["er_timm"], er_t) and np.allclose(s["er_testbed"], er_b)
    assert np.allclose(s["diff_testbed"], er_b - er_t)
    summ = B.sensitivity_summary(s, [bt, bb], n_boot=N_BOOT)
    assert summ["effect"].item() == pytest.approx(float(np.mean(er_b - er_t)))
    assert summ["n"].item() == 6 and summ["ci_low"].item() <= summ["effect"].item() <= summ["ci_high"].item()
    assert summ["max_abs_move"].item() == pytest.approx(float(np.max(np.abs(er_b - er_t))))
    assert summ["slope"].item() == pytest.approx(0.8) and summ["reference_slope"].item() == pytest.approx(1.2)
    few = B.sensitivity_summary(B.sensitivity(clips.iloc[:3], [bt, bb]), [bt, bb])
    assert few["note"].item().startswith("n too small") and np.isnan(few["ci_low"].item())


def test_timm_baseline_is_the_line_natural_shift_er_uses(shared_data):
    timm = records.load("timm", shared_data)
    pts = records.natural_shift_er(shared_data, shifts=("imagenet-sketch",))
    fit = B.timm_baseline(timm, shifts=("imagenet-sketch",)).fits["imagenet-sketch"]
    assert (fit.slope, fit.intercept, fit.n) == (pytest.approx(pts["fit_slope"].iloc[0]),
                                                 pytest.approx(pts["fit_intercept"].iloc[0]), pts["fit_n"].iloc[0])


# ---- prompts -------------------------------------------------------------------------------------------------

IDENTITY = B.Baseline("identity", {"imagenet-sketch": LogitFit(1.0, 0.0, 10, 1.0),
                                   "imagenet-r": LogitFit(1.0, 0.0, 10, 1.0)})


def _freq_frame(n_models: int, gain: dict[str, float]) -> pd.DataFrame:
    """Frequency-style rows: each model's accuracy under `class`, plus `gain[set]` on every dataset."""
    rows = []
    for i in range(n_models):
        for ps in ("class", "simple", "ensemble"):
            for ds, a in (("imagenet", 0.5), ("imagenet-sketch", 0.3), ("imagenet-r", 0.4)):
                rows.append({"model": f"m{i}", "prompt_set": ps, "dataset": ds, "metric": "acc1",
                             "value": a + 0.01 * i + gain[ps] * (2 if ds == "imagenet-r" else 1),
                             "checkpoint_kind": "other", "gelu_built": False, "family": "vit", "data": "cc3m",
                             "dataset_size": 3.3e6, "loss": "clip", "released_by": "x"})
    return pd.DataFrame(rows)


def test_prompt_effects_known_answer():
    """Under an identity line ER = ood - id, so ensemble's +0.03 everywhere (+0.06 on R) moves top-1 by 0.03 and the
    mean ER over Sketch and R by (0 + 0.03) / 2; simple vs class moves nothing."""
    f = _freq_frame(6, {"class": 0.0, "simple": 0.0, "ensemble": 0.03})
    table = prompt_sets.prompt_table(prompt_sets.prompt_points(f, IDENTITY))
    eff = prompt_sets.prompt_effects(table, n_boot=N_BOOT).set_index(["treatment", "metric"])
    top1 = eff.loc[("ensemble", prompt_sets.TOP1)]
    assert top1["effect"] == pytest.approx(0.03) and top1["ci_low"] == pytest.approx(0.03) and top1["n"] == 6
    assert eff.loc[("ensemble", prompt_sets.ER_MEAN), "effect"] == pytest.approx(0.015)
    assert eff.loc[("ensemble", "ER imagenet-r"), "effect"] == pytest.approx(0.03)
    assert eff.loc[("simple", prompt_sets.TOP1), "effect"] == pytest.approx(0.0, abs=1e-12)
    small = prompt_sets.prompt_effects(prompt_sets.prompt_table(prompt_sets.prompt_points(
        _freq_frame(3, {"class": 0.0, "simple": 0.0, "ensemble": 0.03}), IDENTITY)))
    assert small["note"].str.startswith("n too small").all() and small["ci_low"].isna().all()


def test_class_effects_are_effects_bootstrap_per_class():
    rng = np.random.default_rng(3)
    models, classes = [f"m{i}" for i in range(7)], [f"c{j}" for j in range(5)]
    rows = [{"model": m, "class": c, "dataset": "imagenet", "prompt_set": ps, "value": rng.uniform()}
            for m in models for c in classes for ps in ("simple", "ensemble")]
    pc = pd.DataFrame(rows)
    ce = prompt_sets.class_effects(pc, n_boot=N_BOOT, seed=5)
    w = pc.pivot_table(index=["model", "class"], columns="prompt_set", values="value")
    d = (w["ensemble"] - w["simple"]).unstack("class")
    for c in classes:
        ref = E.bootstrap_mean(d[c].to_numpy(), n_boot=N_BOOT, seed=5)
        got = ce[ce["class"] == c].iloc[0]
        assert got["effect"] == pytest.approx(ref["effect"])
        assert (got["ci_low"], got["ci_high"], got["p"]) == pytest.approx((ref["ci_low"], ref["ci_high"], ref["p"]))
        assert got["share_helped"] == pytest.approx((d[c] > 0).mean())
    assert list(ce["effect"]) == sorted(ce["effect"], reverse=True) and list(ce["rank"]) == [1, 2, 3, 4, 5]
    top = prompt_sets.top_classes(ce, k=1)
    assert top.loc[top["direction"] == "helps", "class"].item() == d.mean().idxmax()
    assert top.loc[top["direction"] == "hurts", "class"].item() == d.mean().idxmin()
    few = prompt_sets.class_effects(pc[pc["model"].isin(models[:3])])
    assert few["ci_low"].isna().all() and few["note"].str.startswith("n too small").all()


# ---- training data and size ----------------------------------------------------------------------------------

def _tags(family="vit", data="laion2b", size=2.32e9):
    return {"family": family, "data": data, "dataset_size": size, "samples_seen": np.nan, "loss": "clip",
            "resolution": 224, "group": records.ZS_CLIP}


def test_data_size_counts_a_checkpoint_once_and_names_what_it_leaves_out():
    oc_rows, fr_rows = [], []
    oc_models = {("ViT-B-32", "tagA"): _tags(), ("RN50", "openai"): _tags("resnet", "openai-wit", 4e8),
                 ("RN50-quickgelu", "openai"): _tags("resnet", "openai-wit", 4e8),
                 ("ViT-B-32", "tagG"): _tags(data="laion400m", size=4e8),
                 ("ViT-B-32-quickgelu", "tagG"): _tags(data="laion400m", size=4e8)}
    for (a, p), t in oc_models.items():
        for ds, v in (("imagenet", 0.6), ("imagenet-sketch", 0.4), ("imagenet-r", 0.5)):
            oc_rows.append({"model": f"{a}/{p}", "arch": a, "pretrained": p, "metric": "acc1", "dataset": ds,
                            "value": v, **t})
    fr_models = {"ViT-B-32/tagA": ("open_clip", False, _tags()), "ViT-B-32/tagG": ("open_clip", True, _tags()),
                 "fileX": ("other", False, _tags(data="cc3m", size=3.3e6))}
    for m, (kind, gelu, t) in fr_models.items():
        for ds, v in (("imagenet", 0.5), ("imagenet-sketch", 0.2), ("imagenet-r", 0.3)):
            fr_rows.append({"source": "frequency_determines_performance", "model": m, "prompt_set": "ensemble",
                            "metric": "acc1", "dataset": ds, "value": v, "checkpoint_kind": kind, "gelu_built": gelu,
                            "released_by": "someone", **t})
    pts = data_size.data_size_points(pd.DataFrame(fr_rows), pd.DataFrame(oc_rows), IDENTITY)
    out = data_size.left_out(pts).set_index(["source", "model"])["why_out"]
    assert out[("open_clip", "RN50/openai")] == data_size.WHY_TWIN
    assert out[("open_clip", "ViT-B-32/tagG")] == data_size.WHY_TWIN
    assert out[("frequency_determines_performance", "ViT-B-32/tagA")] == data_size.WHY_COUNTED
    assert out[("frequency_determines_performance", "ViT-B-32/tagG")] == data_size.WHY_GELU
    m = data_size.per_model(pts).set_index("model")
    assert sorted(m.index) == ["RN50-quickgelu/openai", "ViT-B-32-quickgelu/tagG", "ViT-B-32/tagA", "fileX"]
    assert m.loc["ViT-B-32/tagA", "source"] == "open_clip"
    assert m.loc["ViT-B-32/tagA", "er"] == pytest.approx(((0.4 - 0.6) + (0.5 - 0.6)) / 2)  # open_clip's value
    assert m.loc["fileX", "size_100m"] == "<100M" and m.loc["fileX", "size_1b"] == "<1B"
    eff = data_size.data_size_effects(m, n_boot=N_BOOT).set_index("comparison")
    assert eff["note"].str.startswith("n too small").all() and eff["ci_low"].isna().all()
    big = eff[eff.index.str.startswith(">=1B")].iloc[0]  # ViT stratum: tagA vs the quickgelu tagG and fileX
    assert (big["n_treatment"], big["n_base"], big["n_strata"]) == (1, 2, 1)  # a model in no shared stratum takes no part
    assert big["effect"] == pytest.approx(-0.15 - (-0.15 + -0.25) / 2)


# ---- fine-tuning: the regression -----------------------------------------------------------------------------

def _hparams(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"model": [f"model_{i}" for i in range(n)], "log10_lr": rng.uniform(-6, -4, n),
                         "epochs": rng.integers(4, 17, n).astype(float), "mixup": rng.uniform(0, 0.9, n),
                         "label_smoothing": rng.uniform(0, 0.25, n),
                         "aug": rng.choice(["none", "rand-n0", "rand-n1", "rand-n2"], n, p=[.4, .3, .2, .1])})


TRUE = {"intercept": 0.01, "log10_lr": -0.04, "epochs": -0.002, "mixup": 0.01, "label_smoothing": -0.03,
        "aug[rand-n0]": -0.02, "aug[rand-n1]": -0.025, "aug[rand-n2]": -0.03}


def _y(h: pd.DataFrame) -> np.ndarray:
    x = finetunes.design(h)
    return x.to_numpy() @ np.array([TRUE[c] for c in x.columns])


def test_er_regression_recovers_known_coefficients():
    h = _hparams(60)
    h["er"] = _y(h)
    reg = finetunes.er_regression(h, n_boot=200).set_index("term")
    for term, beta in TRUE.items():
        assert reg.loc[term, "effect"] == pytest.approx(beta, abs=1e-10), term
        assert reg.loc[term, "ci_low"] == pytest.approx(beta, abs=1e-9) == reg.loc[term, "ci_high"], term
    assert reg["r2"].iloc[0] == pytest.approx(1.0)
    assert reg.loc["aug[rand-n2]", "n_level"] == (h["aug"] == "rand-n2").sum()
    assert set(reg.loc[reg.index.str.startswith("aug"), "reference"]) == {"none"}


def test_er_regression_point_estimates_match_sklearn_and_the_normal_equations():
    from sklearn.linear_model import LinearRegression

    h = _hparams(71, seed=2)
    h["er"] = _y(h) + np.random.default_rng(4).normal(0, 0.01, len(h))
    reg = finetunes.er_regression(h, n_boot=300)
    x = finetunes.design(h)
    sk = LinearRegression(fit_intercept=False).fit(x.to_numpy(), h["er"].to_numpy())
    normal = np.linalg.solve(x.T.to_numpy() @ x.to_numpy(), x.T.to_numpy() @ h["er"].to_numpy())
    assert np.allclose(reg["effect"], sk.coef_, atol=1e-10) and np.allclose(reg["effect"], normal, atol=1e-9)
    assert reg["r2"].iloc[0] == pytest.approx(sk.score(x.to_numpy(), h["er"].to_numpy()))
    covered = (reg["ci_low"] <= reg["term"].map(TRUE)) & (reg["term"].map(TRUE) <= reg["ci_high"])
    assert covered.sum() >= 6  # 95% intervals: most of the 8 cover the truth
    rare = h.copy()
    rare.loc[rare["aug"] == "rand-n2", "aug"] = "rand-n1"
    rare.loc[rare.index[:3], "aug"] = "rand-n2"  # a level held by 3 models
    r = finetunes.er_regression(rare, n_boot=100).set_index("term")
    assert r.loc["aug[rand-n2]", "note"].startswith("n too small: 3 models")
    assert np.isnan(r.loc["aug[rand-n2]", "ci_low"])


def test_soups_er_against_a_known_line():
    so = pd.DataFrame({"model": ["model_0", "model_1"], "imagenet": [0.7, 0.8], "imagenet-sketch": [0.4, 0.5],
                       "imagenet-r": [0.6, 0.6], "objectnet": [0.5, 0.5], "imagenet-v2": [0.6, 0.7],
                       "imagenet-a": [0.2, 0.3]})
    for c in finetunes.HPARAMS:
        so[c] = [np.nan, 1e-5] if c in ("lr", "wd") else np.nan
    er = finetunes.soups_er(finetunes.soups_points(so, IDENTITY)).set_index("model")
    assert er.loc["model_0", "er"] == pytest.approx(((0.4 - 0.7) + (0.6 - 0.7)) / 2)  # objectnet: no line
    assert er.loc["model_1", "n_shifts"] == 2 and er["shifts"].iloc[0] == "imagenet-sketch, imagenet-r"
    assert er.loc["model_1", "log10_lr"] == pytest.approx(-5)


# ---- 3D corruptions ------------------------------------------------------------------------------------------

def _rb(clean: list[float], acc: list[float], archs: list[str]) -> pd.DataFrame:
    rows = []
    for i, (c, a, arch) in enumerate(zip(clean, acc, archs)):
        for corr in ("fog_3d", "flash"):
            rows.append({"model": f"m{i}", "benchmark": "3dcc", "corruption": corr, "severity": 1, "value": a,
                         "architecture": arch, "family": "vit" if arch.startswith("DeiT") else "resnet",
                         "paper": "", "clean_acc": c, "corruptions_acc": np.nan, "corruptions_acc_3d": a,
                         "additional_data": False})
    return pd.DataFrame(rows)


def test_corruption_er_known_line_and_small_group():
    """Ten models on logit(acc) = 0.9 logit(clean) - 0.4, and two at the same clean accuracy 0.3 above and below it
    in logit: the fit is the line, their logit ER is +-0.3 and their ER (in accuracy) is known."""
    clean = list(np.linspace(0.55, 0.82, 10)) + [0.7, 0.7]
    line = 0.9 * logit(np.array(clean)) - 0.4
    acc = list(expit(line[:10])) + [float(expit(line[10] + 0.3)), float(expit(line[11] - 0.3))]
    archs = ["ResNet-50"] * 8 + ["AlexNet", "WideResNet-50-2", "DeiT Small", "DeiT Base"]
    er = corruptions.corruption_er(_rb(clean, acc, archs)).set_index("model")
    assert er["fit_slope"].iloc[0] == pytest.approx(0.9) and er["fit_intercept"].iloc[0] == pytest.approx(-0.4)
    assert er.loc["m10", "er_logit"] == pytest.approx(0.3) and er.loc["m11", "er_logit"] == pytest.approx(-0.3)
    assert er.loc["m10", "er"] == pytest.approx(float(expit(line[10] + 0.3) - expit(line[10])))
    assert er.loc[[f"m{i}" for i in range(10)], "er"].abs().max() < 1e-12
    c = corruptions.architecture_contrast(er.reset_index(), n_boot=N_BOOT)
    assert (c["n_treatment"], c["n_base"]) == (2, 8) and np.isnan(c["ci_low"])
    assert c["note"] == "n too small: 2 models in DeiT (under 5, no interval)"
    assert c["effect"] == pytest.approx(er.loc[["m10", "m11"], "er"].mean())  # the 8 ResNet-50s sit on the line
    table = corruptions.corruption_table(_rb(clean, acc, archs))
    assert list(table["n"]) == [12, 12] and table["mean"].iloc[0] == pytest.approx(np.mean(acc))


def test_corruption_er_on_the_records(shared_data):
    rb = records.load("robustbench", shared_data)
    er = corruptions.corruption_er(rb)
    assert len(er) == 12 and (er["n_cells"] == 60).all() and er["fit_n"].iloc[0] == 12
    assert (er["acc"] - er["published"]).abs().max() < 1e-4
    assert abs(er["er"].mean()) < 0.02  # residuals of a fit over these same 12 models
    c = corruptions.architecture_contrast(er)
    assert (c["n_treatment"], c["n_base"]) == (2, 8) and c["note"].startswith("n too small")
