"""Lab effects over seeds and images (issue 15): the interval, its words, seeded recipes, fair-lab guards."""
import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clipstudy import effects as E
from clipstudy.profiles import LAB, SMOKE_LAB


def test_image_resamples_are_shared_and_deterministic():
    a, b = E.image_resamples(50, 20), E.image_resamples(50, 20)
    assert a.shape == (20, 50) and (a == b).all() and a.min() >= 0 and a.max() < 50
    assert not (E.image_resamples(51, 20)[:, :50] == a).all()
    hits = np.r_[np.ones(30), np.zeros(20)]
    boot = E.image_boot(hits, n_boot=500)
    assert boot.shape == (500,) and abs(boot.mean() - 0.6) < 0.02
    # a custom statistic over paired arrays sees the same resamples as the default mean
    same = E.image_boot((hits, hits), lambda x, y: (x * y).mean(), n_boot=500)
    assert np.allclose(same, boot)
    with pytest.raises(ValueError):
        E.image_boot((hits, hits[:10]), lambda x, y: 0.0)


def test_seed_interval_matches_a_hand_computed_welch_t():
    t, b = [0.5, 0.6, 0.7], [0.40, 0.42, 0.38]
    e = E.seed_image_effect(t, b)
    vt, vb = np.var(t, ddof=1) / 3, np.var(b, ddof=1) / 3
    df = (vt + vb) ** 2 / (vt ** 2 / 2 + vb ** 2 / 2)
    half = stats.t.ppf(0.975, df) * np.sqrt(vt + vb)
    assert e["effect"] == pytest.approx(0.2)
    assert e["ci_low"] == pytest.approx(0.2 - half) and e["ci_high"] == pytest.approx(0.2 + half)
    assert e["n"] == 6 and e["df"] == pytest.approx(df)


def test_image_variance_widens_the_interval_and_one_seed_gives_none():
    rng = np.random.default_rng(0)
    t, b = [0.61, 0.62, 0.60], [0.50, 0.51, 0.52]
    tb = [E.image_boot(rng.random(200) < p) for p in t]
    bb = [E.image_boot(rng.random(200) < p) for p in b]
    seeds_only, both = E.seed_image_effect(t, b), E.seed_image_effect(t, b, tb, bb)
    assert both["se_image"] > 0.02  # ~sqrt(2 * 0.25 / 200 / 3)
    assert (both["ci_high"] - both["ci_low"]) > (seeds_only["ci_high"] - seeds_only["ci_low"])
    one = E.seed_image_effect([0.6], b)
    assert one["effect"] == pytest.approx(0.6 - 0.51) and np.isnan(one["ci_low"]) and np.isnan(one["ci_high"])


def _simulated(effect, n_img=300, seeds=3, sd_seed=0.02, rng=None):
    """Per-seed accuracies and image bootstraps of two recipes on the same images (difficulty shared)."""
    difficulty = rng.normal(0, 1.5, n_img)
    out = []
    for p in (0.6 + effect, 0.6):
        vals, boots = [], []
        for _ in range(seeds):
            logit = np.log(p / (1 - p)) + rng.normal(0, sd_seed * 5)
            hits = (rng.random(n_img) < 1 / (1 + np.exp(-(logit - difficulty)))).astype(float)
            vals.append(hits.mean())
            boots.append(E.image_boot(hits, n_boot=200))
        out.append((vals, boots))
    return out


def test_interval_covers_a_null_effect_and_detects_a_real_one():
    rng = np.random.default_rng(1)
    cover = []
    for _ in range(60):
        (tv, tb), (bv, bb) = _simulated(0.0, rng=rng)
        cover.append(E.covers_zero(E.seed_image_effect(tv, bv, tb, bb)))
    assert np.mean(cover) >= 0.85  # nominal 95%
    found = []
    for _ in range(30):
        (tv, tb), (bv, bb) = _simulated(0.2, rng=rng)
        found.append(not E.covers_zero(E.seed_image_effect(tv, bv, tb, bb)))
    assert np.mean(found) >= 0.8


def test_lab_effects_from_seeded_values_carry_n_interval_and_flags():
    recipes = pd.DataFrame({"recipe": ["base", "arch-vit", "data-diverse"],
                            "factor": ["base", "architecture", "data"]})
    vals = pd.DataFrame({"recipe": np.repeat(["base", "arch-vit", "data-diverse"], 3), "seed": [0, 1, 2] * 3,
                         "value": [0.50, 0.52, 0.51, 0.30, 0.31, 0.29, 0.51, 0.49, 0.53]})
    rows = E.lab_seed_effects(vals, recipes, "natural shifts", "top1",
                              flags={"data-diverse": "data-diverse trains on the lab-sketch shift"})
    eff = E.effects_frame(rows).set_index("factor")
    vit, div = eff.loc["architecture"], eff.loc["training distribution"]
    assert vit["effect"] == pytest.approx(-0.21) and vit["n"] == 6 and vit["ci_high"] < 0
    assert "flagged: data-diverse trains on the lab-sketch shift" in div["comparison"]
    assert E.covers_zero(div) and E.effect_words(div).startswith("no detectable effect")
    assert E.effect_words(vit).startswith("-0.210 (n=6, 95% CI [")
    # lab_effects dispatches on a seed column; without seeds it keeps the old single-run behaviour
    assert E.lab_effects(vals, recipes, "natural shifts", "top1")[0]["n"] == 6
    one = vals[vals.seed == 0]
    assert np.isnan(E.lab_effects(one, recipes, "natural shifts", "top1")[0]["ci_low"])
    md = E.factor_summary(eff.reset_index())
    assert "no detectable effect" in md and "n=6, 95% CI" in md


def test_recipe_contrast_with_seeds_gives_intervals():
    t = pd.DataFrame({"model": np.repeat(["base", "loss-siglip"], 6), "seed": [0, 0, 1, 1, 2, 2] * 2,
                      "value": [0.4, 0.42, 0.41, 0.43, 0.40, 0.44, 0.6, 0.62, 0.61, 0.6, 0.63, 0.59]})
    eff = E.recipe_contrast(t, {"loss-siglip": "contrastive loss"}, "value", "r@1", "retrieval")
    r = eff.iloc[0]
    assert r["n"] == 6 and r["effect"] == pytest.approx(0.6083333 - 0.4166667) and r["ci_low"] > 0


def test_effect_words_without_interval_and_unmeasured():
    assert E.effect_words(dict(effect=0.1)) == "+0.100 (no interval)"
    assert E.effect_words(dict(effect=np.nan)) == "not measured"
    assert not E.covers_zero(dict(ci_low=np.nan, ci_high=1.0))


# ------------------------------------------------------------------ seeded recipes and a fair lab


def test_seeded_recipes_have_their_own_weights_and_parents():
    from clipstudy.lab import zoo

    r1 = zoo.recipe("base#1")
    assert r1.seed == 1 and r1.name == "base" and zoo.label(r1) == "base#1"
    assert zoo.paths("base", SMOKE_LAB)[0] != zoo.paths("base#1", SMOKE_LAB)[0]
    assert zoo.model_key(zoo.recipe("base"), LAB) != zoo.model_key(r1, LAB)
    assert [x.seed for x in zoo.seeded("base", LAB)] == [0, 1, 2]
    assert LAB.seeds >= 3 and SMOKE_LAB.seeds >= 2
    ft = zoo.parent_of(zoo.recipe("finetuned#2"))
    assert ft.name == "base" and ft.seed == 2
    # the number of seeds a profile trains does not change any one model's key
    p = SMOKE_LAB
    assert zoo.model_key(r1, p) == zoo.model_key(r1, dataclasses.replace(p, seeds=5))
    assert zoo.spec("base#2", SMOKE_LAB).name == "lab:base#2@smoke"
    with pytest.raises(ValueError):
        zoo.recipe("base#x")


def test_the_vit_recipe_states_its_longer_training():
    from clipstudy.lab import zoo

    vit, base = zoo.recipe("arch-vit"), zoo.recipe("base")
    p = LAB
    assert vit.steps_scale > 1 and p.n_steps(vit.size, vit.steps_scale) > p.n_steps(base.size, base.steps_scale)
    assert f"{vit.steps_scale:g}x" in vit.notes
    assert zoo.spec(vit, p).samples_seen == p.n_steps(vit.size, vit.steps_scale) * p.batch_size


def test_prompt_ensemble_names_no_test_shift_and_keeps_the_vocabulary():
    from clipstudy.lab import captions

    words = {w.strip(".") for t in captions.ZS_TEMPLATES + captions.SINGLE_TEMPLATE for w in t.split()}
    assert not words & set(captions.SHIFT_WORDS)
    assert len(captions.ZS_TEMPLATES) >= 4
    for t in captions.ZS_TEMPLATES:  # every prompt word is in the closed vocabulary (no <unk>)
        assert captions.UNK not in captions.tokenizer([t.format("cube")])[0].tolist()


def test_shift_flags_follow_the_training_world():
    from clipstudy.lab import evaluate as lab_eval

    assert lab_eval.shift_flag("data-diverse", "lab-sketch") and lab_eval.shift_flag("data-diverse#1", "background")
    assert not lab_eval.shift_flag("base", "lab-sketch") and not lab_eval.shift_flag("data-narrow", "background")
    assert not lab_eval.shift_flag("data-diverse", "lab-v2") and not lab_eval.shift_flag("data-diverse", "pose")


def test_parity_flags_an_undertrained_recipe():
    from clipstudy.lab import evaluate as lab_eval

    acc = pd.DataFrame({"recipe": ["base"] * 2 + ["arch-vit"] * 2 + ["arch-convnext"] * 2,
                        "dataset": "lab-val", "accuracy": [0.70, 0.68, 0.25, 0.26, 0.66, 0.67]})
    p = lab_eval.parity(acc).set_index("recipe")
    assert bool(p.loc["arch-vit", "undertrained"]) and not bool(p.loc["arch-convnext", "undertrained"])
    assert p.loc["arch-vit", "gap"] == pytest.approx(0.255 - 0.69)


def test_factor_er_does_not_move_with_accuracy_along_the_trend():
    """Models on one logit-linear trend have ER 0 on the factor, though their error ratios differ a lot."""
    from scipy.special import expit, logit

    from clipstudy.axes import visual_factors as V
    from clipstudy.metrics import error_ratio

    ctrl = np.array([0.5, 0.7, 0.9, 0.97])
    acc = expit(0.8 * logit(ctrl) - 0.6)  # every model sits exactly on the trend
    t = pd.DataFrame({"model": list("abcd"), "factor": "pose", "accuracy": acc, "control_accuracy": ctrl})
    er = V.lab_factor_er(t)
    assert np.allclose(er["er"], 0, atol=1e-9) and er["fit_n"].iloc[0] == 4
    ratios = error_ratio(acc, ctrl)
    assert np.ptp(ratios) > 0.5  # the raw error ratio moves with accuracy alone
    # one model above the trend gets a positive ER
    t2 = t.assign(accuracy=np.r_[acc[:3], min(1.0, acc[3] + 0.02)])
    assert V.lab_factor_er(t2)["er"].iloc[3] > 0


def test_factor_matrix_keeps_scenes_together_and_bootstraps_er():
    from clipstudy.axes import visual_factors as V

    factor = np.repeat(["none", "pose", "color"], 4)
    correct = np.array([1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0])
    m, names = V.lab_factor_matrix(correct, factor)
    assert names == ["none", "color", "pose"] and m.shape == (4, 3)
    assert m[:, 0].tolist() == [1, 1, 0, 1] and m[:, 2].tolist() == [0, 1, 0, 0]
    fits = pd.DataFrame({"factor": ["color", "pose"], "fit_slope": [1.0, 1.0], "fit_intercept": [0.0, 0.0],
                         "fit_n": [5, 5]})
    boot = V.lab_factor_er_boot(m, names, fits, n_boot=300)
    # slope 1, intercept 0: ER = acc_factor - acc_control, averaged over the two factors
    assert abs(boot.mean() - ((0.75 - 0.75) + (0.25 - 0.75)) / 2) < 0.06
    with pytest.raises(ValueError):
        V.lab_factor_matrix(correct[:-1], factor[:-1])


def test_ood_effects_and_gaps_keep_seeds_apart():
    from clipstudy.axes import ood

    t = pd.DataFrame(dict(model=np.repeat(["base", "arch"], 6), seed=np.tile(np.repeat([0, 1, 2], 2), 2),
                          method="mcm", ood=["near", "far"] * 6,
                          auroc=[0.6, 0.8, 0.62, 0.82, 0.58, 0.78, 0.5, 0.6, 0.52, 0.62, 0.49, 0.58]))
    g = ood.near_far_gap(t)
    assert len(g) == 6 and g.loc[g["model"] == "base", "gap"].to_numpy() == pytest.approx([0.2, 0.2, 0.2])
    allood = t.groupby(["model", "seed", "method"], as_index=False)["auroc"].mean().assign(ood="all")
    e = ood.recipe_effects(allood, {"arch": "architecture"}).iloc[0]
    base_m = np.mean([0.7, 0.72, 0.68])
    arch_m = np.mean([0.55, 0.57, 0.535])
    assert e["effect"] == pytest.approx(arch_m - base_m) and e["n"] == 6 and e["ci_high"] < 0


def test_er_replicates_hold_the_line_and_resample_images_together():
    from clipstudy.axes import shifts

    rng = np.random.default_rng(3)
    hits = {("a", "lab-val"): rng.random(400) < 0.7, ("a", "lab-sketch"): rng.random(400) < 0.5,
            ("b", "lab-val"): rng.random(400) < 0.6, ("b", "lab-sketch"): rng.random(400) < 0.5}
    acc = pd.DataFrame([dict(model=m, dataset=d, correct=c.astype(float), accuracy=c.mean()) for (m, d), c in hits.items()])
    ler = shifts.lab_er_table(acc, shifts=("lab-sketch",))
    boots = shifts.lab_er_replicates(acc, ler, n_boot=400)
    for m in ("a", "b"):
        er = float(ler.loc[ler["model"] == m, "er"].iloc[0])
        assert abs(boots[m].mean() - er) < 0.01 and 0.01 < boots[m].std() < 0.05


def test_merge_flags_joins_and_drops_empty():
    from clipstudy.lab import evaluate as lab_eval

    m = lab_eval.merge_flags({"a": "x", "b": ""}, {"a": "y", "c": "z"})
    assert m == {"a": "x; y", "c": "z"}
