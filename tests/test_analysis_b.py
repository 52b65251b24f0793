"""Chapter 6-10 analyses (clipstudy.axes.ood / retrieval / threed / lmm / summary): pure functions on small
synthetic inputs whose answers are known by construction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch


from clipstudy.axes import lmm as multimodal, ood, retrieval, summary, threed
from clipstudy.lab import evaluate as lab_eval
from clipstudy.errors import SchemaError, UnknownNameError


# ------------------------------------------------------------------ OOD
def _logits(n, c, hi, rng):
    z = rng.normal(0, 0.01, (n, c))
    z[:, 0] += hi
    return z


def test_detection_table_separates_and_groups():
    rng = np.random.default_rng(0)
    id_l = _logits(50, 4, 10.0, rng)  # confident ID
    near = _logits(30, 4, 5.0, rng)  # less confident
    far = _logits(20, 4, 0.0, rng)  # flat
    ood_l = np.r_[near, far]
    groups = ["near"] * 30 + ["far"] * 20
    t = ood.detection_table(id_l, ood_l, groups, id_cosine=id_l / 20, ood_cosine=ood_l / 20)
    assert set(t["method"]) == {"msp", "maxlogit", "energy", "mcm"}
    assert set(t["ood"]) == {"near", "far", "all"}
    assert (t["auroc"] == 1.0).all() and (t["fpr95"] == 0.0).all()
    assert t.loc[t["ood"] == "near", "n_ood"].unique().tolist() == [30]
    assert t.loc[t["ood"] == "all", "n_ood"].unique().tolist() == [50]
    # an OOD set scored like ID gives chance-level AUROC
    t2 = ood.detection_table(id_l, id_l.copy(), ["x"] * 50, methods=["maxlogit"])
    assert t2["auroc"].iloc[0] == pytest.approx(0.5)


def test_detection_table_mcm_needs_cosines_and_checks_inputs():
    rng = np.random.default_rng(1)
    a, b = _logits(10, 3, 5, rng), _logits(8, 3, 0, rng)
    t = ood.detection_table(a, b, ["far"] * 8)
    assert "mcm" not in set(t["method"]) and len(t) == 3  # no pooled row for one group
    with pytest.raises(ValueError, match="ood_groups has 7"):
        ood.detection_table(a, b, ["far"] * 7)
    with pytest.raises(ValueError, match="both id_cosine and ood_cosine"):
        ood.detection_table(a, b, ["far"] * 8, id_cosine=a / 10)
    with pytest.raises(ValueError, match="mcm expects cosine"):  # logits passed where cosines belong
        ood.detection_table(a, b, ["far"] * 8, id_cosine=a, ood_cosine=b)


def test_near_far_gap_and_prompt_effect():
    t = pd.DataFrame(dict(model=["m"] * 4, method=["msp"] * 4, ood=["near", "far"] * 2,
                          prompts=["single", "single", "ensemble", "ensemble"], auroc=[0.6, 0.9, 0.7, 0.95]))
    g = ood.near_far_gap(t[t["prompts"] == "single"])
    assert g["gap"].iloc[0] == pytest.approx(0.3)
    p = ood.prompt_effect(t)
    assert p.set_index("ood")["effect"].to_dict() == pytest.approx({"near": 0.1, "far": 0.05})
    with pytest.raises(ValueError, match="near"):
        ood.near_far_gap(t[t["ood"] == "far"])
    with pytest.raises(ValueError, match="ensemble"):
        ood.prompt_effect(t[t["prompts"] == "single"])


def test_ood_recipe_effects_falls_back_for_classifiers():
    t = pd.DataFrame(dict(model=["base", "base", "ft", "arch"], method=["mcm", "msp", "msp", "mcm"],
                          ood="all", auroc=[0.8, 0.7, 0.9, 0.6]))
    e = ood.recipe_effects(t, {"ft": "fine-tuning", "arch": "architecture", "absent": "contrastive loss"})
    got = e.set_index("factor")
    assert got.loc["fine-tuning", "effect"] == pytest.approx(0.2)  # msp vs msp
    assert "msp" in got.loc["fine-tuning", "metric"]
    assert got.loc["architecture", "effect"] == pytest.approx(-0.2)
    assert len(e) == 2 and set(e["source"]) == {"lab"}


# ------------------------------------------------------------------ retrieval
def test_recall_table_perfect_and_shuffled():
    rng = np.random.default_rng(2)
    img = rng.normal(size=(6, 8))
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt = np.repeat(img, 2, axis=0)  # two identical captions per image
    idx = [[2 * i, 2 * i + 1] for i in range(6)]
    t = retrieval.recall_table(img, txt, idx, ks=(1, 5))
    assert set(t["direction"]) == {"image→text", "text→image"} and (t["recall"] == 1.0).all()
    wrong = [[(2 * i + 2) % 12, (2 * i + 3) % 12] for i in range(6)]  # captions assigned to the next image
    t2 = retrieval.recall_table(img, txt, wrong, ks=(1,))
    assert (t2["recall"] == 0.0).all()
    with pytest.raises(ValueError, match="expected image"):
        retrieval.recall_table(img, txt[:, :4], idx)


def test_tidy_recall_direction_and_agreement():
    t = retrieval.tidy_recall({"image_to_text_R@1": 0.5, "text_to_image_R@10": 0.9})
    assert t.to_dict("records") == [dict(direction="image→text", k=1, recall=0.5),
                                    dict(direction="text→image", k=10, recall=0.9)]
    with pytest.raises(ValueError, match="unexpected recall key"):
        retrieval.tidy_recall({"R@1": 0.1})
    assert retrieval.direction_of("image_retrieval_recall@5") == "text→image"
    assert retrieval.direction_of("text_retrieval_recall@1") == "image→text"
    with pytest.raises(ValueError):
        retrieval.direction_of("acc1")
    d = pd.DataFrame(dict(x=[1, 2, 3, 4], y=[10, 20, 40, 30]))
    a = retrieval.rank_agreement(d, "x", "y")
    assert a["spearman_rho"] == pytest.approx(0.8) and a["n"] == 4
    assert np.isnan(retrieval.rank_agreement(d.head(2), "x", "y")["pearson_r"])


def test_records_effects_contrasts_residual_groups():
    rows = []
    for fam, data, loss, size, res in [("vit", "openai-wit", "clip", 4e8, 0.0), ("vit", "laion2b", "clip", 2e9, 0.1),
                                       ("resnet", "openai-wit", "clip", 4e8, -0.2), ("vit", "laion2b", "siglip", 2e9, 0.3)]:
        rows.append(dict(dataset="mscoco", metric="image_retrieval_recall@5", family=fam, data=data, loss=loss,
                         dataset_size=size, finetuned=False, finetune_data=None, residual=res))
    rows.append(dict(dataset="mscoco", metric="image_retrieval_recall@5", family="vit", data="laion2b", loss="clip",
                     dataset_size=2e9, finetuned=True, finetune_data="mscoco", residual=0.5))
    e = retrieval.records_effects(pd.DataFrame(rows))
    arch = e[e["factor"] == "architecture"]
    assert arch.iloc[0]["effect"] == pytest.approx(-0.2 - np.mean([0.0, 0.1, 0.3]))
    dist = e[e["comparison"].str.startswith("LAION-2B vs OpenAI")]
    assert dist["effect"].iloc[0] == pytest.approx(np.mean([0.1, 0.3]) - np.mean([0.0, -0.2]))
    ft = e[e["factor"] == "fine-tuning"]
    assert ft["effect"].iloc[0] == pytest.approx(0.5 - np.mean([0.0, 0.1, -0.2, 0.3]))
    assert (e["source"] == "records").all() and (e["metric"].str.contains("text→image")).all()
    with pytest.raises(ValueError, match="no records rows"):
        retrieval.records_effects(pd.DataFrame(rows), dataset="flickr30k")


# ------------------------------------------------------------------ 3D
def _3dcc_factors():
    f = [dict(corruption="none", severity=0)] * 4
    for c in ("fog_3d", "contrast"):
        for s in (1, 2):
            f += [dict(corruption=c, severity=s)] * 4
    return pd.DataFrame(f)


def test_corruption_accuracy_and_kind_summary():
    f = _3dcc_factors()
    correct = np.r_[[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0]]
    t = threed.corruption_accuracy(correct, f)
    fog = t[t["corruption"] == "fog_3d"].set_index("severity")["accuracy"]
    assert fog.to_dict() == {0: 0.75, 1: 0.5, 2: 0.25}
    assert t.set_index("corruption")["kind"].to_dict() == {"fog_3d": "3D", "contrast": "2D"}
    k = threed.kind_summary(t).set_index("kind")
    assert k.loc["3D", "drop"] == pytest.approx(0.75 - 0.375)
    assert k.loc["2D", "drop"] == pytest.approx(0.75 - 0.875)
    custom = threed.corruption_accuracy(correct, f, kinds={"contrast": "3D"})
    assert set(custom["kind"]) == {"3D", "2D"} and (custom[custom["corruption"] == "contrast"]["kind"] == "3D").all()
    with pytest.raises(ValueError, match="correctness values"):
        threed.corruption_accuracy(correct[:-1], f)
    with pytest.raises(ValueError, match="severity"):
        threed.corruption_accuracy(correct, f.drop(columns="severity"))
    with pytest.raises(ValueError, match="no clean"):
        threed.corruption_accuracy(correct[4:], f.iloc[4:])


def _coord_features(size, shift=0):
    """One-hot-like features that encode each pixel's position (shifted by `shift` columns)."""
    r, c = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    c = c - shift
    ang = [r * 0.37, c * 0.37, r * 0.91, c * 0.91, r * 1.7, c * 1.7]
    return torch.stack([t(a) for a in ang for t in (torch.sin, torch.cos)]).float()


def test_match_errors_recovers_known_shift():
    size = 16
    fa, fb = _coord_features(size), _coord_features(size, shift=3)  # B's pixel (r, c+3) looks like A's (r, c)
    corr = np.array([[r, c, r, c + 3] for r in range(2, 14, 3) for c in range(0, 10, 3)])
    e = threed.match_errors(fa, fb, corr, size)
    assert np.allclose(e, 0)
    e_bad = threed.match_errors(fa, fb, corr[:, [0, 1, 0, 1]], size)  # a wrong ground truth is 3 px off
    assert np.allclose(e_bad, 3)
    rec = threed.recall_at(e_bad, radii=(2, 4))
    assert rec == {"recall@2px": 0.0, "recall@4px": 1.0}
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[0, 0] = True  # only one candidate: every match lands on (0, 0)
    e_m = threed.match_errors(fa, fb, corr[:2], size, mask_b=mask)
    assert np.allclose(e_m, np.hypot(corr[:2, 2], corr[:2, 3]))
    assert len(threed.match_errors(fa, fb, corr, size, max_points=5)) == 5
    with pytest.raises(ValueError, match=r"\[K, 4\]"):
        threed.match_errors(fa, fb, corr[:, :3], size)
    with pytest.raises(ValueError, match="no object pixel"):
        threed.match_errors(fa, fb, corr, size, mask_b=torch.zeros(size, size, dtype=torch.bool))
    with pytest.raises(ValueError, match="channels differ"):
        threed.match_errors(fa, fb[:4], corr, size)


def test_correspondence_table_and_upsampled_features():
    size = 16
    feats = torch.stack([_coord_features(size), _coord_features(size, shift=2)])
    corr = [np.array([[r, c, r, c + 2] for r in range(0, 16, 4) for c in range(0, 12, 4)])]
    t = threed.correspondence_table(feats, [(0, 1)], corr, size, radii=(1, 8))
    assert t["recall"].tolist() == [1.0, 1.0] and t["n_points"].iloc[0] == 12
    with pytest.raises(ValueError, match="pairs but"):
        threed.correspondence_table(feats, [(0, 1), (1, 0)], corr, size)
    assert np.isnan(threed.recall_at([], radii=(2,))["recall@2px"])


@pytest.mark.parametrize("arch", ["vit", "resnet", "convnext"])
def test_dense_features_of_lab_towers_have_the_same_grid(arch):
    from clipstudy.lab.train import build_clip

    torch.manual_seed(0)
    m = build_clip(arch).eval()
    x = torch.randn(2, 3, 64, 64)
    f, info = lab_eval.dense_features(m, x, stride=8)
    assert f.shape[0] == 2 and f.shape[-2:] == (8, 8) and info["grid"] == 8 and info["channels"] == f.shape[1]
    with pytest.raises(ValueError, match="no feature map"):
        lab_eval.dense_features(m, x, stride=1)
    with pytest.raises(TypeError):
        lab_eval.tower_of(torch.nn.Linear(2, 2))


def test_pixel_features_shape_and_centering():
    img = torch.randint(0, 256, (2, 3, 10, 10), dtype=torch.uint8)
    f = threed.pixel_features(img, patch=3)
    assert f.shape == (2, 28, 10, 10)
    assert torch.allclose(f[:, :27].mean(1), torch.zeros(2, 10, 10), atol=1e-6)


# ------------------------------------------------------------------ LMM
def test_gain_table_pairs_lmm_and_clip_rows():
    r = pd.DataFrame(dict(recipe="base", set="lab-val", model=["llava", "llava", "clip", "clip"],
                          clip_full=["right", "wrong", "right", "wrong"], n=[8, 2, 8, 2],
                          n_both=[1, 0, 0, 0], n_neither=[0, 1, 0, 0], accuracy=[0.75, 0.5, 1.0, 0.0]))
    g = multimodal.gain_table(r, "llava").set_index("clip_full")
    assert g["gain"].to_dict() == pytest.approx({"right": -0.25, "wrong": 0.5})
    assert g.loc["wrong", "n_neither"] == 1
    with pytest.raises(ValueError, match="expected both"):
        multimodal.gain_table(r, "other")
    with pytest.raises(ValueError, match="accuracy"):
        multimodal.gain_table(r.drop(columns="accuracy"), "llava")
    both = pd.concat([g.reset_index(), g.reset_index().assign(recipe="arch-vit", acc_lmm=[0.9, 0.9])])
    e = multimodal.recipe_effects(both.assign(clip_full="all"), {"arch-vit": "architecture"})
    assert e["effect"].iloc[0] == pytest.approx(0.9 - 0.625)


# ------------------------------------------------------------------ summary
def _write(root, chap, rows):
    d = root / chap
    d.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(d / "effects.csv", index=False)


def test_summary_reads_headlines_and_missing_cells(tmp_path):
    _write(tmp_path, "06_ood", [
        dict(factor="architecture", axis="OOD", metric="auroc", effect=0.1, comparison="a vs base", source="lab"),
        dict(factor="architecture", axis="OOD", metric="fpr95", effect=-0.3, comparison="a vs base", source="lab"),
        dict(factor="fine-tuning", axis="OOD", metric="auroc", effect=float("nan"), comparison="n/a", source="lab")])
    _write(tmp_path, "07_ret", [dict(factor="architecture", axis="retrieval", metric="r", effect=-0.05,
                                     comparison="x", source="records")])
    (tmp_path / "08_bad").mkdir()
    (tmp_path / "08_bad" / "effects.csv").write_text("factor,axis\nwizardry,3D\n")
    (tmp_path / "09_empty").mkdir()
    pd.DataFrame(columns=["factor", "axis", "metric", "effect", "comparison", "source"]).to_csv(
        tmp_path / "09_empty" / "effects.csv", index=False)
    pd.DataFrame([dict(factor="fine-tuning", axis="OOD", reason="classifier only")]).to_csv(
        tmp_path / "06_ood" / "not_measured.csv", index=False)
    eff, problems = summary.read_effects(tmp_path)
    assert set(eff["chapter"]) == {"06_ood", "07_ret"}
    assert len(problems) == 1 and problems[0].startswith("08_bad")
    heads = summary.headline(eff)
    arch = heads[(heads["factor"] == "architecture") & (heads["axis"] == "OOD")]
    assert arch["metric"].tolist() == ["auroc"] and arch["n_rows"].iloc[0] == 2  # the first row is the headline
    assert "fine-tuning" not in set(heads["factor"])  # NaN is not a measurement
    g = summary.grid(heads, ["OOD", "retrieval", "3D"])
    assert g.loc["architecture", "OOD"] == pytest.approx(0.1) and np.isnan(g.loc["fine-tuning", "OOD"])
    assert g.shape == (6, 3)
    axes = summary.chapter_axes(eff, ["06_ood", "07_ret", "08_bad", "09_empty", "05_none"])
    assert axes["06_ood"] == "OOD" and axes["08_bad"] is None
    miss = summary.missing_cells(eff, axes, summary.read_not_measured(tmp_path), problems,
                                 present=summary.chapters_with_effects(tmp_path))
    why = {(r.chapter, r.factor): r.reason for r in miss.itertuples()}
    assert why[("06_ood", "fine-tuning")] == "classifier only"
    assert "no effect for this factor" in why[("06_ood", "contrastive loss")]
    assert ("06_ood", "architecture") not in why
    assert "unreadable" in why[("08_bad", "architecture")]
    assert "empty" in why[("09_empty", "architecture")]
    assert "no effects.csv" in why[("05_none", "fine-tuning")]
    assert len(miss[miss["chapter"] == "07_ret"]) == 5
