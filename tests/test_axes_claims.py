"""The claims page: verdicts from known intervals, the claim list, and evidence read from chapter outputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipstudy.axes import calibration, claims, evidence, ood, shape_bias, visual_factors
from clipstudy.axes import lmm as multimodal
from clipstudy.axes.core import EFFECTS

SHARED_CLAIMS = Path(__file__).resolve().parents[2] / "shared" / "paper_claims.csv"


@pytest.mark.parametrize("rule,effect,lo,hi,expected", [
    ("positive", 0.2, 0.1, 0.3, "agrees"), ("positive", -0.2, -0.3, -0.1, "disagrees"),
    ("positive", 0.05, -0.1, 0.2, "inconclusive"), ("negative", -0.2, -0.3, -0.1, "agrees"),
    ("negative", 0.2, 0.1, 0.3, "disagrees"), ("negative", 0.0, -0.1, 0.1, "inconclusive"),
    ("differ", -0.2, -0.3, -0.1, "agrees"), ("differ", 0.2, 0.1, 0.3, "agrees"),
    ("differ", 0.0, -0.1, 0.1, "inconclusive"),
    ("near zero", 0.01, -0.02, 0.04, "agrees"), ("near zero", 0.2, 0.1, 0.3, "disagrees"),
    ("near zero", 0.03, -0.04, 0.1, "inconclusive"),
    ("positive", 0.2, np.nan, np.nan, "not measured"), ("differ", np.nan, np.nan, np.nan, "not measured"),
])
def test_verdict_from_known_intervals(rule, effect, lo, hi, expected):
    assert claims.verdict(rule, effect, lo, hi) == expected


@pytest.mark.parametrize("per_source,expected", [
    ({"records": "agrees", "lab": "disagrees"}, "agrees"),        # real models decide
    ({"records": "not measured", "lab": "disagrees"}, "disagrees"),  # the lab where they did not measure
    ({"records": "agrees", "live": "disagrees"}, "inconclusive"),  # real sources contradict each other
    ({"records": "inconclusive", "lab": "agrees"}, "inconclusive"),
    ({}, "not measured"),
])
def test_overall_verdict(per_source, expected):
    assert claims.overall(per_source) == expected


def test_claim_list_matches_the_shared_one_and_every_claim_has_a_rule_and_evidence():
    ours = claims.listing()
    if SHARED_CLAIMS.exists():
        shared = pd.read_csv(SHARED_CLAIMS)
        assert list(ours["id"]) == list(shared["id"]) and list(ours["claim"]) == list(shared["claim"])
    assert set(ours["rule"]) <= set(evidence.RULES)
    from clipstudy.axes import all_axes

    all_axes()
    assert set(ours["id"]) == set(evidence.EVIDENCE)


def test_judge_reads_chapter_outputs_and_words_follow_the_numbers(tmp_path):
    res = tmp_path / "results"
    EFFECTS.write(res, pd.DataFrame([
        _effect("fine-tuning", "shape bias", "shape bias", -0.19, "ImageNet-fine-tuned vs zero-shot", "records", 6,
                -0.23, -0.16),
        _effect("fine-tuning", "shape bias", "shape bias", 0.04, "finetuned vs base", "lab", 3, 0.01, 0.07)]),
        shape_bias.AXIS)
    table, ev = claims.judge_results(res, ids=["C3"])
    (row,) = table.to_dict("records")
    assert row["records_verdict"] == "agrees" and row["lab_verdict"] == "disagrees" and row["verdict"] == "agrees"
    assert row["records"] == "-0.190 [-0.230, -0.160], n=6 model pairs"
    assert row["records_unit"] == "model pairs" and row["lab_unit"] == "seeds x images"
    assert "opposite ways" in row["words"]
    assert set(ev["source"]) == set(claims.SOURCES)


def _effect(factor, axis, metric, effect, comparison, source, n, lo, hi, p=np.nan) -> dict:
    return dict(factor=factor, axis=axis, metric=metric, effect=effect, comparison=comparison, source=source, n=n,
                ci_low=lo, ci_high=hi, p=p)


def test_under_five_models_no_interval_is_claimed(tmp_path):
    """The n < 5 rule: three fine-tuned CLIPs give an effect but no interval, and the verdict says n too small."""
    res = tmp_path / "results"
    EFFECTS.write(res, pd.DataFrame([_effect("fine-tuning", "shape bias", "shape bias", -0.19, "paired", "records", 3,
                                             -0.23, -0.16)]), shape_bias.AXIS)
    table, ev = claims.judge_results(res, ids=["C3"])
    (row,) = table.to_dict("records")
    rec = ev[(ev["source"] == "records")].iloc[0]
    assert np.isnan(rec["ci_low"]) and np.isnan(rec["ci_high"]) and rec["verdict"] == "inconclusive"
    assert row["records_verdict"] == "inconclusive" and "(no interval)" in row["records"]
    assert row["caveat"].startswith("n too small") and "n too small" in row["words"]


def test_holm_known_answer():
    # p = (0.01, 0.04, 0.03, NaN): sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone 0.06
    adj = claims.holm([0.01, 0.04, 0.03, np.nan])
    assert adj[:3] == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adj[3])
    assert claims.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 0.5 * 2 = 1.0, then monotone
    assert claims.family_verdict("differ", [0.1, -0.2], [0.03, 0.2]) == "agrees"
    assert claims.family_verdict("differ", [0.1, -0.2], [0.06, 0.2]) == "inconclusive"
    assert claims.family_verdict("positive", [0.1, -0.2], [0.01, 0.01]) == "inconclusive"  # split
    assert claims.family_verdict("positive", [-0.1, 0.2], [0.01, 0.5]) == "disagrees"


def test_a_family_is_judged_after_holm_not_by_its_strongest_contrast(tmp_path):
    """Three lab contrasts with raw p 0.02, 0.03, 0.04: each alone excludes 0 at 95%, but none survives Holm
    (0.06, 0.06, 0.06), so the family is inconclusive and the page says how many were tried."""
    res = tmp_path / "results"
    rows = [dict(factor="training distribution", axis="visual factors", metric="mean effective robustness over 10",
                 effect=0.05, comparison=f"data-{k} vs base", source="lab", n=6, ci_low=0.005, ci_high=0.095, p=p)
            for k, p in (("a", 0.02), ("b", 0.03), ("c", 0.04))]
    EFFECTS.write(res, pd.DataFrame(rows), visual_factors.AXIS)
    table, ev = claims.judge_results(res, ids=["C7"])
    lab = ev[(ev["source"] == "lab")]
    assert list(lab["role"]) == ["family"] * 3 and lab["p_holm"].to_numpy() == pytest.approx([0.06] * 3)
    assert table.iloc[0]["lab_verdict"] == "inconclusive"
    assert "family of 3 contrasts, 0 differ after Holm" in table.iloc[0]["lab"]
    assert "no effect larger than ±0.045 detected" in table.iloc[0]["words"]
    rows[0]["p"] = 0.001  # 0.003 after Holm: the family differs
    EFFECTS.write(res, pd.DataFrame(rows), visual_factors.AXIS)
    assert claims.judge_results(res, ids=["C7"])[0].iloc[0]["lab_verdict"] == "agrees"


def test_c9_difference_of_drops_is_a_positive_family(tmp_path):
    res = tmp_path / "results"
    rows = [dict(factor="fine-tuning", axis="shape bias", metric=f"shape-bias drop, standard minus {k}", effect=e,
                 comparison=f"finetuned vs finetuned-{k}", source="lab", n=6, ci_low=lo, ci_high=hi, p=p)
            for k, e, lo, hi, p in (("contrastive", 0.08, 0.05, 0.11, 0.001), ("peft", 0.01, -0.02, 0.04, 0.4))]
    EFFECTS.write(res, pd.DataFrame(rows), shape_bias.AXIS)
    table, ev = claims.judge_results(res, ids=["C9"])
    assert table.iloc[0]["lab_verdict"] == "agrees"  # the contrastive drop is smaller, after Holm over 2
    rows[0].update(effect=-0.08, ci_low=-0.11, ci_high=-0.05)
    EFFECTS.write(res, pd.DataFrame(rows), shape_bias.AXIS)
    assert claims.judge_results(res, ids=["C9"])[0].iloc[0]["lab_verdict"] == "disagrees"


def test_records_claims_on_the_shared_imagenet_x(shared_data, tmp_path):
    """C5/C6 resample models, not rows: a CLIP listed in two testbeds is one model, so n counts models and the two
    zero-shot CLIPs are too few for an interval."""
    table, ev = claims.judge_results(tmp_path, ids=["C5", "C6"], records_root=shared_data)
    rec = ev[ev["source"] == "records"].set_index("id")
    from clipstudy import records

    f = records.imagenet_x_factors(shared_data)
    keep = f[(f["group"] == records.ZS_CLIP) | f["baseline"]]
    keep = keep.assign(model=keep["model"].replace({"clip": "vit_b_32_clip_zeroshot", "clipRN50": "resnet50_clip_zeroshot"}))
    per_model = keep.groupby(["model", "factor"])["er"].mean().unstack()  # each model once
    is_clip = keep.groupby("model")["group"].first() == records.ZS_CLIP
    gaps = per_model[is_clip].mean() - per_model[~is_clip].mean()
    assert rec.loc["C5", "effect"] == pytest.approx((gaps > 0).mean() - 0.5)
    assert rec.loc["C6", "effect"] == pytest.approx(gaps[["pose", "partial_view"]].mean())
    assert rec.loc["C5", "n"] == is_clip.sum() == 2 and f"vs {len(per_model) - 2} ImageNet models" in rec.loc["C5", "unit"]
    assert np.isnan(rec.loc["C5", "ci_low"]) and rec.loc["C5", "verdict"] == "inconclusive"
    assert table.set_index("id").loc["C5", "caveat"].startswith("n too small")


def test_pseudo_replicated_rows_count_once():
    er = pd.DataFrame([dict(model=m, clip=c, factor=f, er=v) for m, c, v in
                       (("clipA", True, 1.0), ("clipA", True, 1.0), ("net1", False, 0.5), ("net2", False, 0.7))
                       for f in ("pose", "texture")])
    er = er.groupby(["model", "clip", "factor"], as_index=False)["er"].mean()
    gaps, boot, n_clip, n_base = visual_factors.factor_gaps(er, n_boot=50)
    assert (n_clip, n_base) == (1, 2) and gaps["pose"] == pytest.approx(1.0 - 0.6)


def _answers(seed: int, n_only_lmm: int, n_only_clip: int, n_right: int, n_none: int, n_unscored: int = 0):
    """Per-question answers with the given paired counts: LMM right only, CLIP right only, both right, neither; and
    n_unscored answers naming both or neither class (BOTH / NEITHER), which no paired gain may count."""
    cells = ([("TRUE", False)] * n_only_lmm + [("FALSE", True)] * n_only_clip + [("TRUE", True)] * n_right
             + [("FALSE", False)] * n_none + [("BOTH", True)] * n_unscored)
    return pd.DataFrame([dict(recipe="base", seed=seed, set="lab-val", group="all", key=f"k{seed}-{i}", label=0,
                              match=m, clip_correct=c) for i, (m, c) in enumerate(cells)])


def test_lmm_gain_over_seeds_is_the_mean_with_seed_and_image_variance():
    from scipy import stats

    one = multimodal.lab_lmm_gain(_answers(0, 30, 10, 90, 70, n_unscored=40))
    # paired by hand over the 200 TRUE/FALSE answers (the 40 BOTH answers are not scored): d = (30 - 10) / 200
    d_i = np.r_[np.ones(30), -np.ones(10), np.zeros(160)]
    assert one["effect"] == pytest.approx(0.1) and one["n"] == 200 and one["seeds"] == 1
    se = np.sqrt(d_i.var(ddof=1) / 200)
    assert (one["ci_low"], one["ci_high"]) == pytest.approx((0.1 - stats.norm.ppf(0.975) * se, 0.1 + stats.norm.ppf(0.975) * se))
    three = pd.concat([_answers(0, 30, 10, 90, 70), _answers(1, 50, 10, 90, 50), _answers(2, 10, 10, 90, 90)],
                      ignore_index=True)
    r = multimodal.lab_lmm_gain(three)
    d = np.array([0.1, 0.2, 0.0])
    assert r["effect"] == pytest.approx(d.mean()) and r["seeds"] == 3
    per_var = [multimodal.paired_gain(g)[1] for _, g in three.groupby("seed")]
    half = stats.t.ppf(0.975, 2) * np.sqrt(d.var(ddof=1) / 3 + np.mean(per_var))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert r["ci_high"] - r["ci_low"] > one["ci_high"] - one["ci_low"]  # seeds widen the interval


def test_the_discordant_shares_give_the_per_question_paired_interval():
    """The runner keeps only shares per unit; the variance from them equals the brute-force sample variance of the
    per-image differences, and a table without the shares gives no live row."""
    q = _answers(0, 23, 11, 60, 31, n_unscored=9)
    sh = multimodal.discordant(q)
    d_i = np.r_[np.ones(23), -np.ones(11), np.zeros(91)]  # the 125 TRUE/FALSE answers, by hand
    d, v, n = d_i.mean(), d_i.var(ddof=1) / len(d_i), len(d_i)
    assert sh["paired_gain"] == pytest.approx(d) and sh["lmm_only"] == pytest.approx(23 / 125)
    assert multimodal.paired_interval(sh["lmm_only"], sh["clip_only"], n) == pytest.approx((d, v, n))
    assert multimodal.paired_gain(q) == pytest.approx((d, v, n))
    assert np.isnan(multimodal.paired_gain(q[q["match"] == "BOTH"])[0])  # nothing scored: no gain
    live = pd.DataFrame([dict(model="llava:a", clip_full="all", n_scored=n, **sh),
                         dict(model="llava:a", clip_full="wrong", n_scored=3, paired_gain=1.0, lmm_only=1.0, clip_only=0.0),
                         dict(model="llava:b", clip_full="all", n_scored=n, **multimodal.discordant(_answers(1, 40, 11, 60, 14)))])
    r = multimodal.live_lmm_gain(live)
    assert r["checkpoints"] == 2 and r["effect"] == pytest.approx((d + 29 / 125) / 2)
    assert multimodal.live_lmm_gain(live.drop(columns=["lmm_only"])) is None and multimodal.live_lmm_gain(None) is None
    # one checkpoint under two prompt sets is one checkpoint, not two
    two = pd.concat([live.assign(prompts="openai80"), live.assign(prompts="single", lmm_only=0.9)], ignore_index=True)
    assert multimodal.live_lmm_gain(two)["checkpoints"] == 2
    assert multimodal.live_lmm_gain(two)["effect"] == pytest.approx(r["effect"])


def _questions(seed: int, rng: np.random.Generator, n: int = 1800, n_cls: int = 9) -> pd.DataFrame:
    label = rng.integers(0, n_cls, n)
    clip = rng.random(n) < (0.1 + 0.1 * label)  # low classes are hard for the CLIP
    lmm = rng.random(n) < 0.6
    return pd.DataFrame(dict(recipe="base", seed=seed, set="lab-val", group="all", key=[f"lab-val/{i:06d}" for i in range(n)],
                             label=label, match=np.where(lmm, "TRUE", "FALSE"), clip_correct=clip))


def test_hard_categories_are_chosen_on_held_out_images():
    rng = np.random.default_rng(0)
    q = _questions(0, rng)
    scored = multimodal.hard_category_split(q)
    half = multimodal._half(q.set_index("key").loc[scored["key"], :].reset_index()["key"])
    assert (half == scored["fold"].to_numpy()).all()  # each image is scored in its own half
    assert scored["key"].is_unique  # ... once
    for fold in (0, 1):  # and the classes it is scored on were chosen on the other half only
        other = q[multimodal._half(q["key"]) != fold]
        assert set(scored.loc[scored["fold"] == fold, "label"]) <= set(multimodal.hard_classes(other))
    assert set(scored["label"]) <= {0, 1, 2, 3}  # the CLIP's weakest third (by construction)
    d, v, n = multimodal.paired_gain(scored)
    lm = (scored["match"] == "TRUE").to_numpy(float)
    assert d == pytest.approx(lm.mean() - scored["clip_correct"].mean()) and n == len(scored)
    qs = pd.concat([_questions(s, np.random.default_rng(s)) for s in range(3)], ignore_index=True)
    r = multimodal.hard_category_gain(qs)
    assert r["seeds"] == 3 and r["ci_low"] < r["effect"] < r["ci_high"] and r["effect"] > 0


def test_c13_lab_residual_is_against_the_zero_shot_trend():
    """Zero-shot recipes lie on auroc = 0.5 + 0.5 * acc; the fine-tuned classifier gains 0.1 accuracy and sits 0.02
    below the line, so its change beyond the trend is -0.02 (exactly, per seed)."""
    rows = []
    for seed in range(3):
        for m, acc, clf in (("base", 0.6, False), ("a", 0.4, False), ("b", 0.8, False), ("finetuned", 0.7, True),
                            ("finetuned-peft", 0.5, True)):
            off = -0.02 if m == "finetuned" else (0.3 if m == "finetuned-peft" else 0.0)  # peft: off the line, unfitted
            rows.append(dict(model=m, seed=seed, method="msp", ood="all", prompts="classifier head" if clf else "ensemble",
                             classifier=clf, id_acc=acc, auroc=0.5 + 0.5 * acc + off + 0.001 * seed))
    res = ood.finetune_ood_residual(pd.DataFrame(rows))
    assert res["effect"] == pytest.approx(-0.02, abs=1e-9)


def test_c12_reads_the_transfer_table_chapter_05_writes(tmp_path):
    """C12: ECE on the shifted sets with the lab-val temperature minus at T=1, base, over seeds (Student t)."""
    res = tmp_path / "results"
    rows = [dict(recipe=r, prompts="ensemble", seed=sd, set=s, ece_none=0.2, ece_id=0.2 - d - 0.01 * sd,
                 ece_oracle=0.05, gain=0.0, transfer_gap=0.0, shifted=s != "lab-val")
            for r, d in (("base", 0.05), ("arch-vit", 0.02)) for sd in range(3) for s in ("lab-val", "lab-sketch")]
    calibration.LAB_TRANSFER.write(res, pd.DataFrame(rows))
    table, ev = claims.judge_results(res, ids=["C12"])
    lab = ev[(ev["source"] == "lab") & (ev["role"] == "primary")].iloc[0]
    assert lab["effect"] == pytest.approx(-0.06) and lab["n"] == 3 and lab["unit"] == "seeds"
    assert table.iloc[0]["lab_verdict"] == "agrees"


def test_c4_says_why_when_no_answer_is_scorable(tmp_path):
    """A mini-LLaVA that named both or neither class in every answer: C4's lab row says so, and no secondary row is
    made of nothing."""
    multimodal.LAB_QUESTIONS.write(tmp_path, _answers(0, 0, 0, 0, 0, n_unscored=12))
    lab = [r for r in multimodal.c4(tmp_path) if r["source"] == "lab"]
    assert len(lab) == 1 and np.isnan(lab[0]["effect"]) and "none of its answers" in lab[0]["note"]
    multimodal.LAB_QUESTIONS.write(tmp_path, _answers(0, 30, 10, 90, 70))
    lab = [r for r in multimodal.c4(tmp_path) if r["source"] == "lab"]
    assert [r["role"] for r in lab] == ["primary", "secondary"] and lab[1]["effect"] == pytest.approx(0.1)
    assert not lab[0]["note"]
