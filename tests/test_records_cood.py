"""cood_benchmarking (Galil et al. 2023): the loader against the raw CSV, its tags, and C8 / C13 / C10 checked
against independent computations straight from the file."""
from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from clipstudy import records
from clipstudy.errors import SchemaError
from clipstudy.records import cood
from clipstudy.records import tags as T

REL = "records/cood_benchmarking/paper_results/all_paper_results.csv"
ZS = ["CLIP_RN50", "CLIP_RN101", "CLIP_RN50x4", "CLIP_RN50x16", "CLIP_RN50x64", "CLIP_ViT-B~32", "CLIP_ViT-B~16",
      "CLIP_ViT-L~14", "CLIP_ViT-L~14@336px"]
FT = ["CLIP_finetuned_RN101", "CLIP_finetuned_RN50x4", "CLIP_finetuned_RN50x16", "CLIP_finetuned_RN50x64",
      "CLIP_finetuned_ViT-B~16", "CLIP_finetuned_ViT-L~14", "CLIP_finetuned_ViT-L~14@336px"]


@pytest.fixture(scope="module")
def raw(shared_data) -> list[dict]:
    with open(shared_data / REL, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def frame(shared_data) -> pd.DataFrame:
    return records.load("cood_benchmarking", shared_data)


def _softmax_points(raw: list[dict]) -> dict[str, tuple[float, float, float]]:
    """model -> (id_acc, mean ood-auroc over the severity levels, id_avg_conf), softmax rows, by hand."""
    acc, conf, au = {}, {}, defaultdict(list)
    for r in raw:
        if r["confidence function"] == "softmax":
            m = r["model name"]
            acc[m], conf[m] = float(r["id-acc"]), float(r["id_avg_conf"])
            au[m].append(float(r["ood-auroc"]))
    return {m: (acc[m], float(np.mean(au[m])), conf[m]) for m in acc}


# ---- the loader ------------------------------------------------------------------------------------
def test_counts_and_columns_match_the_raw_file(frame, raw):
    assert len(raw) == 20328 and len(frame) == len(raw)
    names = {r["model name"] for r in raw}
    assert len(names) == 706 and frame["model"].nunique() == 706 and set(frame["model"]) == names
    for col in ["source", "model", "confidence", "severity", "percentile", "ood_auroc", "ood_avg_conf", "id_acc",
                "id_auroc", "id_avg_conf", "group", "parent", *T.TAG_COLUMNS]:
        assert col in frame.columns, col
    assert frame.columns.is_unique
    assert set(frame["severity"]) == set(range(11)) and frame["severity"].dtype.kind == "i"
    assert (frame.groupby(["model", "confidence"])["severity"].nunique() == 11).all()
    assert frame.groupby("confidence").size().to_dict() == pd.Series([r["confidence function"] for r in raw]) \
        .value_counts().to_dict()
    # the values, row for row, as published
    got = frame.set_index(["model", "confidence", "severity"]).sort_index()
    for r in raw[::997]:
        row = got.loc[(r["model name"], r["confidence function"], int(r["severity level"]))]
        for src, dst in [("ood-auroc", "ood_auroc"), ("id-acc", "id_acc"), ("id_avg_conf", "id_avg_conf"),
                         ("percentile", "percentile"), ("ood_avg_conf", "ood_avg_conf"), ("id-auroc", "id_auroc")]:
            assert row[dst] == pytest.approx(float(r[src]), abs=1e-12), (r["model name"], dst)


def test_groups_parents_and_tags_are_complete(frame):
    per = frame.drop_duplicates("model").set_index("model")
    assert sorted(per.index[per["group"] == T.ZS_CLIP]) == sorted(ZS)
    assert sorted(per.index[per["group"] == T.CLIP_FT]) == sorted(FT)
    assert (per["group"] == T.IMAGENET).sum() == 690
    assert per.loc[FT, "parent"].to_dict() == {m: m.replace("CLIP_finetuned_", "CLIP_") for m in FT}
    assert per["parent"].drop(FT).isna().all()
    for col in ["family", "data", "finetuned", "resolution", "group", "kind"]:
        assert per[col].notna().all(), col
    clips = per.loc[ZS + FT]
    assert (clips["data"] == "openai-wit").all() and (clips["loss"] == "clip").all()
    assert clips["family"].isin(["vit", "resnet"]).all() and clips["samples_seen"].notna().all()
    l336 = per.loc["CLIP_ViT-L~14@336px"]
    assert l336["arch"] == "ViT-L-14-336" and l336["resolution"] == 336
    assert per.loc["CLIP_RN50x4", "family"] == "resnet" and per.loc["CLIP_ViT-B~32", "arch"] == "ViT-B-32"
    assert per.loc[FT, "finetuned"].all() and not per.loc[ZS, "finetuned"].any()
    assert (per.loc[FT, "finetune_recipe"] == "unknown").all()  # the source does not say how
    assert per.loc["convnext_base_in22ft1k", "data"] == "imagenet-21k"
    assert per.loc["ig_resnext101_32x8d", "data"] == "instagram-1b" and per.loc["resnet50", "data"] == "imagenet-1k"
    assert per.loc[per["group"] == T.IMAGENET, "loss"].isna().all()


def test_a_damaged_file_is_refused_naming_the_row(tmp_path, shared_data):
    d = tmp_path / "records/cood_benchmarking/paper_results"
    d.mkdir(parents=True)
    lines = (shared_data / REL).read_text().splitlines()
    fields = lines[3].split(",")
    fields[2] = "oops"  # ood-auroc of data row 3
    (d / "all_paper_results.csv").write_text("\n".join(lines[:3] + [",".join(fields)] + lines[4:]) + "\n")
    with pytest.raises(SchemaError, match="row 3"):
        records.load("cood_benchmarking", tmp_path)
    lines = (shared_data / REL).read_text().splitlines()
    (d / "all_paper_results.csv").write_text("\n".join(lines[:5] + [lines[4]]) + "\n")  # a repeated row
    with pytest.raises(SchemaError, match="row 5.*same"):
        records.load("cood_benchmarking", tmp_path)


# ---- C8 --------------------------------------------------------------------------------------------
def test_c8_matches_an_independent_spearman(frame, raw):
    pts = _softmax_points(raw)
    acc = [pts[m][0] for m in ZS]
    au = [pts[m][1] for m in ZS]
    rho = spearmanr(acc, au).statistic
    r = records.c8_records(frame)
    assert set(r) == set(cood.KEYS)
    assert r["effect"] == pytest.approx(rho, abs=1e-12) and r["n"] == 9 and r["unit"] == "models"
    assert r["ci_low"] <= r["effect"] <= r["ci_high"] <= 1.0
    assert records.c8_records(frame) == r  # seeded: deterministic


def test_c8_secondary_has_every_confidence_function(frame, raw):
    sec = records.c8_secondary(frame)
    assert set(sec["confidence"]) == {r["confidence function"] for r in raw}
    assert sec.loc[sec["primary"], "confidence"].tolist() == ["softmax"]
    assert sec.loc[sec["primary"], "effect"].iloc[0] == pytest.approx(records.c8_records(frame)["effect"])
    ml = sec.set_index("confidence").loc["max_logit"]
    acc, au = defaultdict(float), defaultdict(list)
    for r in raw:
        if r["confidence function"] == "max_logit" and r["model name"] in ZS:
            acc[r["model name"]] = float(r["id-acc"])
            au[r["model name"]].append(float(r["ood-auroc"]))
    assert ml["effect"] == pytest.approx(spearmanr([acc[m] for m in ZS], [np.mean(au[m]) for m in ZS]).statistic)
    mcd = sec.set_index("confidence").loc["mcd_entropy"]  # no zero-shot CLIP has MC dropout
    assert mcd["n"] == 0 and np.isnan(mcd["ci_low"]) and "n too small" in mcd["note"]


# ---- C13 -------------------------------------------------------------------------------------------
def test_c13_pairs_and_the_beyond_trend_effect(frame, raw):
    pairs = records.c13_pairs(frame)
    assert len(pairs) == 7
    assert dict(zip(pairs["model"], pairs["parent"])) == {m: m.replace("CLIP_finetuned_", "CLIP_") for m in FT}
    pts = _softmax_points(raw)
    slope, _ = np.polyfit([pts[m][0] for m in ZS], [pts[m][1] for m in ZS], 1)
    want = np.mean([(pts[m][1] - pts[p][1]) - slope * (pts[m][0] - pts[p][0])
                    for m, p in zip(pairs["model"], pairs["parent"])])
    r = records.c13_records(frame)
    assert r["n"] == 7 and r["unit"] == "model pairs"
    assert r["effect"] == pytest.approx(want, abs=1e-12)
    assert np.isfinite(r["ci_low"]) and r["ci_low"] <= r["effect"] <= r["ci_high"]
    assert "refit" in r["measured"] and "unknown" in r["note"]


# ---- C10 -------------------------------------------------------------------------------------------
def test_c10_sign_by_brute_force(frame, raw):
    pts = _softmax_points(raw)
    base = [m for m in pts if not m.startswith("CLIP_") and pts[m][0] >= cood.CHANCE_FLOOR]
    assert len(base) == 520  # 523 ImageNet models with softmax, 3 at chance accuracy
    slope, icpt = np.polyfit([pts[m][0] for m in base], [pts[m][2] - pts[m][0] for m in base], 1)
    resid = [(pts[m][2] - pts[m][0]) - (icpt + slope * pts[m][0]) for m in ZS]
    r = records.c10_records(frame)
    assert r["n"] == 9 and r["unit"] == "models"
    assert np.sign(r["effect"]) == np.sign(np.mean(resid))
    assert r["effect"] == pytest.approx(np.mean(resid), abs=1e-9)
    assert "proxy" in r["note"] and r["ci_low"] <= r["effect"] <= r["ci_high"]


def test_points_leave_out_failed_and_near_uniform_rows(frame):
    pts = records.cood_points(frame).set_index("model")
    assert sorted(pts.index[pts["at_chance"]]) == ["efficientnet_b5", "efficientnet_b6", "efficientnet_b7"]
    assert not pts.loc[FT, "gap_usable"].any() and pts.loc[ZS, "gap_usable"].all()  # FT softmax conf ~0.002
    assert pts.loc[FT, "gap"].isna().all() and pts.loc[FT, "gap_raw"].notna().all()
    assert (pts["n_severity"] == 11).all()


# ---- the n < 5 rule ----------------------------------------------------------------------------------
def test_three_clips_give_no_interval(frame):
    keep = ZS[:3] + [m for m in frame["model"].unique() if not m.startswith("CLIP_")]
    small = frame[frame["model"].isin(keep)]
    for r in (records.c8_records(small), records.c10_records(small)):
        assert r["n"] == 3 and np.isfinite(r["effect"])
        assert np.isnan(r["ci_low"]) and np.isnan(r["ci_high"]) and "n too small" in r["note"]
    three_pairs = frame[frame["model"].isin(ZS + FT[:3])]
    r = records.c13_records(three_pairs)
    assert r["n"] == 3 and np.isnan(r["ci_low"]) and "n too small" in r["note"]


# ---- the chapters' records sections ------------------------------------------------------------------
def _chapter(axis, tmp_path):
    from clipstudy import chapter
    from clipstudy.axes.core import Effects

    return chapter.Chapter(axis.AXIS.chapter, tmp_path, "smoke", axis=axis.AXIS, effects=Effects(axis.AXIS))


def test_chapter_sections_write_their_tables(frame, shared_data, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from clipstudy.axes import calibration, ood

    monkeypatch.setenv("CLIPSTUDY_DATA", str(shared_data))
    ch6 = _chapter(ood, tmp_path)
    c = ood.records_cood(ch6)
    cl = ood.records_claims(ch6, c)
    assert cl["id"].tolist() == ["C8", "C13"]
    saved = pd.read_csv(tmp_path / "06_ood_detection" / "records_c8_c13.csv")
    assert saved.loc[0, "effect"] == pytest.approx(records.c8_records(frame)["effect"])
    for t in ("records_cood_clips", "records_cood_auroc", "records_c8_secondary", "records_c13_pairs"):
        assert (tmp_path / "06_ood_detection" / f"{t}.csv").is_file(), t
    assert (tmp_path / "06_ood_detection" / "records_cood_auroc.png").is_file()
    fe = ch6.effects.frame()
    assert fe.loc[0, "factor"] == "fine-tuning" and fe.loc[0, "source"] == "records" and fe.loc[0, "n"] == 7
    ch5 = _chapter(calibration, tmp_path)
    cl5 = calibration.records_gap(ch5)
    assert cl5["id"].tolist() == ["C10"] and "proxy" in cl5.loc[0, "note"]
    assert (tmp_path / "05_calibration" / "records_gap.png").is_file()


def test_chapter_sections_say_how_to_get_missing_records(tmp_path, monkeypatch):
    from clipstudy import chapter
    from clipstudy.axes import calibration, ood

    (tmp_path / "data" / "records").mkdir(parents=True)
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path / "data"))
    shown = []
    monkeypatch.setattr(chapter, "notice", lambda title, body: shown.append((title, body)))
    ch6 = _chapter(ood, tmp_path)
    assert ood.records_cood(ch6) is None and ood.records_claims(ch6, None) is None
    assert calibration.records_gap(_chapter(calibration, tmp_path)) is None
    assert len(shown) == 2 and all(t == "Records missing" and "clipstudy fetch records" in b for t, b in shown)
