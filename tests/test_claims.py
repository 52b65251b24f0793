"""The claims page: verdicts from known intervals, the claim list, and evidence read from chapter outputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipstudy import claims

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
    assert set(ours["id"]) == set(claims.RULES) == set(claims.EVIDENCE)


def test_judge_reads_chapter_outputs_and_words_follow_the_numbers(tmp_path):
    res = tmp_path / "results"
    (res / "04_shape_bias").mkdir(parents=True)
    pd.DataFrame([dict(id="C3", claim="x", measured="fine-tuned minus zero-shot, paired", expected="negative",
                       effect=-0.19, n=3, ci_low=-0.23, ci_high=-0.16)]).to_csv(
        res / "04_shape_bias" / "records_claims.csv", index=False)
    pd.DataFrame([dict(factor="fine-tuning", axis="shape bias", metric="shape bias", effect=0.04,
                       comparison="finetuned vs base", source="lab", n=3, ci_low=0.01, ci_high=0.07)]).to_csv(
        res / "04_shape_bias" / "effects.csv", index=False)
    table, ev = claims.judge(res, ids=["C3"])
    (row,) = table.to_dict("records")
    assert row["records_verdict"] == "agrees" and row["lab_verdict"] == "disagrees" and row["verdict"] == "agrees"
    assert "-0.190 [-0.230, -0.160], n=3" == row["records"]
    assert "opposite ways" in row["words"]
    assert set(ev["source"]) == set(claims.SOURCES)


def test_records_claims_on_the_shared_imagenet_x(shared_data, tmp_path):
    table, ev = claims.judge(tmp_path, ids=["C5", "C6"], records_root=shared_data)
    rec = ev[ev["source"] == "records"].set_index("id")
    # brute force: per-factor mean ER of the zero-shot CLIPs minus the ImageNet baselines
    from clipstudy import records

    f = records.imagenet_x_factors(shared_data)
    clip = f[f["group"] == records.ZS_CLIP].groupby("factor")["er"].mean()
    base = f[f["baseline"]].groupby("factor")["er"].mean()
    gaps = clip - base
    assert rec.loc["C5", "effect"] == pytest.approx((gaps > 0).mean() - 0.5)
    assert rec.loc["C6", "effect"] == pytest.approx(gaps[["pose", "partial_view"]].mean())
    assert rec.loc["C5", "ci_low"] <= rec.loc["C5", "effect"] <= rec.loc["C5", "ci_high"]


def _lmm_table(seed: int, acc_lmm: float, acc_clip: float, n: int, n_both: int) -> pd.DataFrame:
    return pd.DataFrame([dict(recipe="base", seed=seed, group="all", clip_full="all", model="lab-llava",
                              acc_lmm=acc_lmm, acc_clip=acc_clip, n=n, n_both=n_both)])


def test_lmm_gain_over_seeds_is_the_mean_with_seed_and_image_variance():
    one = claims._lmm_gain(_lmm_table(0, 0.6, 0.5, 200, 90), "lab", "x")
    # paired by hand: LMM-only 30, CLIP-only 10 -> d = 0.1, var = (40 - 20**2/200) / 200**2
    assert one["effect"] == pytest.approx(0.1)
    se = np.sqrt((40 - 400 / 200) / 200 ** 2)
    assert one["ci_low"] == pytest.approx(0.1 - 1.96 * se)
    three = pd.concat([_lmm_table(0, 0.6, 0.5, 200, 90), _lmm_table(1, 0.7, 0.5, 200, 90),
                       _lmm_table(2, 0.5, 0.5, 200, 90)], ignore_index=True)
    r = claims._lmm_gain(three, "lab", "x")
    d = np.array([0.1, 0.2, 0.0])
    assert r["effect"] == pytest.approx(d.mean())
    assert "3 training seeds" in r["measured"]
    per_var = [claims._paired_gain(three.iloc[[i]])[1] for i in range(3)]
    from scipy import stats
    half = stats.t.ppf(0.975, 2) * np.sqrt(d.var(ddof=1) / 3 + np.mean(per_var))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert r["ci_high"] - r["ci_low"] > one["ci_high"] - one["ci_low"]  # seeds widen the interval
