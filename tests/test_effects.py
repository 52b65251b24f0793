"""clipstudy.effects: effect rows and frames, group and matched contrasts, lab effects, the factor summary;
records effects: n and 95% bootstrap intervals (paired and grouped), verdicts, and the chapters'
records contrasts on the shared files (shape bias, LMM vs encoder, model-vs-human, LAION grid)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipstudy import effects as E
from clipstudy.axes import summary
from clipstudy.errors import SchemaError, UnknownNameError


def test_paired_effect_is_the_mean_of_pair_differences():
    f = pd.DataFrame({"model": list("aabbcc"), "prompts": ["x", "y"] * 3, "v": [0.5, 0.7, 0.2, 0.1, 0.9, 1.0]})
    r = E.paired_effect(f, "model", "prompts", "y", "x", "v")
    diffs = [0.7 - 0.5, 0.1 - 0.2, 1.0 - 0.9]
    assert r["effect"] == pytest.approx(np.mean(diffs)) and r["n"] == 3
    assert min(diffs) - 1e-12 <= r["ci_low"] <= r["effect"] <= r["ci_high"] <= max(diffs) + 1e-12
    again = E.paired_effect(f, "model", "prompts", "y", "x", "v")
    assert (again["ci_low"], again["ci_high"]) == (r["ci_low"], r["ci_high"])
    one = E.paired_effect(f[f["model"] == "a"], "model", "prompts", "y", "x", "v")
    assert one["n"] == 1 and np.isnan(one["ci_low"])  # one pair: no interval


def test_grouped_effect_matches_hand_matched_means():
    f = pd.DataFrame({"model": ["v1", "v1", "v2", "v2", "r1", "r1", "r2", "r2"],
                      "family": ["vit"] * 4 + ["resnet"] * 4, "prompts": ["a", "b"] * 4,
                      "v": [0.6, 0.7, 0.8, 0.9, 0.2, 0.1, 0.4, 0.3]})
    r = E.grouped_effect(f, "family", "vit", "resnet", "v", match=["prompts"])
    by_prompt = [np.mean([0.6, 0.8]) - np.mean([0.2, 0.4]), np.mean([0.7, 0.9]) - np.mean([0.1, 0.3])]
    assert r["effect"] == pytest.approx(np.mean(by_prompt))
    assert (r["n"], r["n_treatment"], r["n_base"], r["n_strata"]) == (4, 2, 2, 2)
    assert r["ci_low"] <= r["effect"] <= r["ci_high"]
    lone = E.grouped_effect(f[f["model"] != "v2"], "family", "vit", "resnet", "v", match=["prompts"])
    assert lone["n_treatment"] == 1 and np.isnan(lone["ci_low"])  # a group of one model: no interval


def test_verdict_and_direction_words():
    assert E.verdict(-0.2, -0.3, -0.1, "negative") == "agrees"
    assert E.verdict(-0.2, -0.3, -0.1, +1) == "disagrees"
    assert E.verdict(0.01, -0.1, 0.1, "positive") == "inconclusive"
    assert E.verdict(0.2, np.nan, np.nan, "positive") == "not measured"
    assert E.direction_words(dict(effect=0.2, ci_low=0.1, ci_high=0.3), "up", "down") == "up"
    assert "covers zero" in E.direction_words(dict(effect=0.2, ci_low=-0.1, ci_high=0.3))
    assert "no interval" in E.direction_words(dict(effect=-0.2, ci_low=np.nan, ci_high=np.nan))


def test_intervals_travel_to_the_summary(tmp_path):
    """Chapter 10 reads n and the interval with no special case; lab rows without them still load."""
    from clipstudy.axes.core import EFFECTS, Axis

    x = Axis("x", "shape bias", "04_x")
    rows = [E.effect("fine-tuning", "shape bias", "shape bias", -0.19, "ft vs zs", "records", n=3, ci=(-0.23, -0.16)),
            dict(factor="fine-tuning", axis="shape bias", metric="shape bias", effect=0.2, comparison="lab ft",
                 source="lab")]
    EFFECTS.write(tmp_path, E.effects_frame(rows), x)
    eff, problems = summary.read_effects(tmp_path, [x])
    assert not problems and list(eff.columns[:9]) == E.COLUMNS
    h = summary.headline(eff).set_index("source")
    assert h.loc["records", "n"] == 3 and h.loc["records", "ci_low"] == pytest.approx(-0.23)
    assert np.isnan(h.loc["lab", "n"])
    text = E.factor_summary(eff)
    assert "n=3, 95% CI [-0.230, -0.160]" in text


# ------------------------------------------------------------------ chapter contrasts on the shared files


@pytest.fixture(scope="module")
def sb(shared_data):
    from clipstudy.axes import shape_bias as SB

    return SB.records_table(SB.records_decisions(shared_data))


def test_shape_bias_records_effects(sb):
    from clipstudy.axes import shape_bias as SB

    ft = SB.finetune_pairs(sb)
    assert set(ft["zs_base"]) == {"ViT_L_14_openai", "ViT_L_14_336_openai"} and len(ft) == 3
    rows = {(r["factor"], r["comparison"][:12]): r for r in SB.records_shape_bias_effects(sb)}
    f = rows[("fine-tuning", "ImageNet-fin")]
    assert f["effect"] == pytest.approx(ft["difference"].mean()) and f["n"] == 3
    a = rows[("architecture", "ViT vs ResNe")]
    assert a["n"] == 4  # OpenAI's RN50, RN101 vs ViT-L/14, ViT-L/14-336
    zs = SB.zero_shot(sb)
    p = rows[("test-time prompts", "one template")]
    w = zs.pivot_table(index="model", columns="prompts", values="shape_bias")
    assert p["effect"] == pytest.approx((w["one-template"] - w["ensemble80"]).mean()) and p["n"] == 7


def test_lmm_encoder_pairs(sb):
    from clipstudy.axes import lmm as M

    pairs = M.lmm_encoder_pairs(sb[sb["source"] == "vlm_shapebias"])
    llava = pairs[(pairs["lmm"] == "llava_1_5_7b") & (pairs["question"] == "vqa")].iloc[0]
    enc = sb[(sb["model"] == "ViT_L_14_336_openai") & (sb["prompts"] == "ensemble80")]["shape_bias"].item()
    me = sb[(sb["model"] == "llava_1_5_7b") & (sb["prompts"] == "vqa")]["shape_bias"].item()
    assert llava["sb_encoder"] == enc and llava["difference"] == pytest.approx(me - enc)
    rows = M.records_lmm_effects(pairs)
    assert rows[0]["n"] == pairs[(pairs["question"] == "vqa")]["difference"].notna().sum()
    assert rows[1]["n"] == 2 and rows[1]["effect"] == pytest.approx(
        pairs[(pairs["question"] == "vqa") & (pairs["family"] == "llava_1_5")]["difference"].mean())


def test_laion_grid_effects_pair_neighbours(shared_data):
    from clipstudy import records
    from clipstudy.axes import shifts

    g = records.scaling.grid(records.load("scaling_laws_openclip", shared_data))
    rows = shifts.grid_effects(g, "imagenet", "ImageNet top-1", "natural shifts")
    assert all(r["n"] == 9 for r in rows)
    w = g.assign(data=g["data"].astype(str)).pivot_table(index=["arch", "samples_seen_pretty"], columns="data",
                                                         values="imagenet", observed=True)
    assert rows[0]["effect"] == pytest.approx((w["laion400m"] - w["laion80m"]).mean())


def test_model_vs_human_architecture_effects(shared_data):
    from clipstudy import records
    from clipstudy.axes import visual_factors as V

    d = V.mvh_decisions(shared_data)
    da = records.dataset_accuracy(records.ood_accuracy_table(d), exclude=True)
    ec = records.error_consistency_summary(records.error_consistency_table(d), d)
    rows = V.mvh_effects(da, ec)
    assert [r["n"] for r in rows] == [16, 16, 17, 17]
    clip = da[da["source"] == "model_vs_human_clip"].pivot_table(index="dataset", columns="model", values="accuracy")
    assert rows[0]["effect"] == pytest.approx((clip["clip-14"] - clip["clip"]).mean())


def test_records_ready_names_missing_folders(tmp_path, monkeypatch):
    from clipstudy import chapter

    shown = []
    monkeypatch.setattr(chapter, "notice", lambda title, body: shown.append(body))
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path))
    (tmp_path / "records" / "open_clip").mkdir(parents=True)
    assert chapter.records_ready() is True and not shown
    assert chapter.records_ready("open_clip", "vlm_shapebias") is False
    assert "`vlm_shapebias/`" in shown[-1] and "clipstudy fetch records" in shown[-1]


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
