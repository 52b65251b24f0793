"""Decision records: fixtures in each real format (unseen decider names), the shared files against
brute-force counts and the sources' own published summaries, and malformed input."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipstudy import records
from clipstudy.errors import MissingDataError, SchemaError
from fixtures_records import make_model_vs_human, make_scaling_laws, make_vlm_shapebias

# ------------------------------------------------------------------ fixtures in the real formats


def test_model_vs_human_layout_with_new_names(tmp_path):
    """`session_1` and `session-1` file names, a `Session` header, CRLF lines, NaN conditions: all load,
    and a decider the tag rules do not know is kept and counted."""
    want = make_model_vs_human(tmp_path)
    d = records.load("model_vs_human", tmp_path)
    assert set(d["model"]) == want["models"]
    assert list(d.columns[:10]) == ["source", "model", "kind", "dataset", "condition", "image", "category",
                                    "decision", "shape", "texture"]
    assert set(d.loc[d["model"] == "subject-01", "kind"]) == {"human"}
    assert set(d.loc[d["dataset"] == "cue-conflict", "condition"]) == {"0"}  # NaN (models) and 0 (humans) agree
    assert set(d.loc[d["dataset"] == "contrast", "image"]) == {"n03041632_7380.png", "n02835271_1.png",
                                                              "n04111531_2.png"}  # trial prefixes removed
    assert (d["decision"] == "na").sum() == 1
    assert records.unknown_models(d)["model"].tolist() == ["my-net-v2"]
    acc = records.ood_accuracy_table(d)
    by = records.dataset_accuracy(acc).set_index("model")["accuracy"]
    for m, a in want["contrast_correct"].items():
        assert by[m] == pytest.approx(a)
    sb = records.shape_bias_table(d).set_index("model")
    for m, counts in want["cue"].items():
        assert sb.loc[m, ["n_shape", "n_texture", "n_conflict"]].to_dict() == counts


def test_error_consistency_on_the_fixture(tmp_path):
    make_model_vs_human(tmp_path)
    d = records.load("model_vs_human", tmp_path)
    ec = records.error_consistency_table(d[d["dataset"] == "contrast"]).set_index(["model", "condition"])
    # c30: both right -> c_obs 1 -> kappa 1; c05: model right/wrong, human wrong/wrong -> c_obs .5 = c_exp
    assert ec.loc[("my-net-v2", "c30"), "kappa"] == 1.0
    assert ec.loc[("my-net-v2", "c05"), "c_obs"] == pytest.approx(0.5)
    assert ec.loc[("my-net-v2", "c05"), "kappa"] == pytest.approx(0.0)
    assert "subject-01" not in ec.index.get_level_values("model")  # no other human to compare with


def test_vlm_shapebias_layout(tmp_path):
    """Gavrikov's stems have no extension; the decision is pred_label (not response); prompt sets come
    from the file names; an LMM unknown to the tag rules is kept."""
    want = make_vlm_shapebias(tmp_path)
    d = records.load("vlm_shapebias", tmp_path)
    assert d["image"].str.endswith(".png").all() and set(d["shape"]) >= {"cat", "knife", "oven"}
    sb = records.shape_bias_table(d)
    clip = sb[sb["model"] == "ViT_L_14_336_openai"].set_index("prompts")["shape_bias"]
    assert clip.to_dict() == want["clip_sb"]
    llava = sb[sb["model"] == "llava_1_5_7b"].iloc[0]
    assert llava["shape_bias"] == want["llava_sb"] and llava["n_other"] == want["llava_na"]
    assert llava["encoder"] == "ViT_L_14_336_openai" and llava["prompts"] == "vqa" and llava["kind"] == "lmm"
    ft = sb[sb["group"] == records.CLIP_FT].iloc[0]
    assert ft["shape_bias"] == want["ft_sb"] and ft["zs_base"] == "ViT_L_14_336_openai"
    assert records.unknown_models(d)["model"].tolist() == ["brand_new_lmm"]
    assert sb.loc[sb["model"] == "brand_new_lmm", "prompts"].item() == "caption"


def test_scaling_laws_empty_cells_are_not_measurements(tmp_path):
    want = make_scaling_laws(tmp_path)
    f = records.load("scaling_laws_openclip", tmp_path)
    assert len(f) == want["rows"] and f["value"].notna().all()
    assert set(f["model"]) == want["models"]
    assert set(f["dataset"]) == {"imagenet", "flickr30k", "mscoco"}
    assert set(f["data"]) == {"laion80m", "laion400m", "openai-wit"}
    assert f.loc[f["data"] == "laion80m", "epochs"].eq(32).all()  # joined with trained_models_info.csv


def test_bad_decision_files_name_file_and_row(tmp_path):
    make_vlm_shapebias(tmp_path)
    f = tmp_path / "records/vlm_shapebias/raw-data/clip/ViT_L_14_336_openai_CLS.csv"
    lines = f.read_text().splitlines()
    lines[3] = "birdy,bird,bird,0.5"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match=r"(?s)ViT_L_14_336_openai_CLS.csv, row 3 \(line 4\).*'birdy'.*image:str"):
        records.load("vlm_shapebias", tmp_path)
    make_model_vs_human(tmp_path / "m")
    bad = tmp_path / "m/records/model_vs_human/raw-data/contrast/contrast-mynet.csv"
    bad.write_text("subj\n")
    with pytest.raises(SchemaError, match=r"contrast-mynet.csv.*contrast_<subject-or-model>_session-1.csv"):
        records.load("model_vs_human", tmp_path / "m")


def test_absent_new_record_sets_name_fetch_command(tmp_path):
    (tmp_path / "records").mkdir()
    for name in ("model_vs_human", "model_vs_human_clip", "vlm_shapebias", "scaling_laws_openclip"):
        with pytest.raises(MissingDataError, match="clipstudy fetch records"):
            records.load(name, tmp_path)


# ------------------------------------------------------------------ the shared files

CUE = re.compile(r"([a-z]+)\d+-([a-z]+)\d+(?:\.png)?$")


def _brute_shape_bias(files: list[Path], decision_col: str, image_col: str) -> tuple[int, int, int]:
    """Count shape and texture hits over conflict images straight from the CSV text."""
    shape = texture = conflict = 0
    for path in files:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                s, t = CUE.search(row[image_col]).groups()
                if s == t:
                    continue
                conflict += 1
                shape += row[decision_col] == s
                texture += row[decision_col] == t
    return shape, texture, conflict


@pytest.fixture(scope="module")
def cue_decisions(shared_data):
    return pd.concat([records.load("vlm_shapebias", shared_data),
                      records.load("model_vs_human", shared_data, datasets=["cue-conflict"]),
                      records.load("model_vs_human_clip", shared_data, datasets=["cue-conflict"])],
                     ignore_index=True)


GAVRIKOV_FILES = {"ensemble80": "clip/{m}_None.csv", "bare-name": "clip/{m}_CLS.csv",
                  "one-template": "clip/{m}_a_photo_of_a_CLS..csv", None: "inet_classifier/{m}.csv",
                  "vqa": "vlm/vqa/*_{m}.csv", "caption": "vlm/captioning/*_{m}.csv"}


def test_shape_bias_table_equals_brute_force_count(cue_decisions, shared_data):
    sb = records.shape_bias_table(cue_decisions)
    assert len(sb) == 70 + 19 + 3  # Gavrikov's files; model-vs-human's cue-conflict deciders; the CLIP fork's
    raw = shared_data / "records"
    for r in sb.itertuples():
        if r.source == "vlm_shapebias":
            pattern = GAVRIKOV_FILES[r.prompts].format(m=r.model)
            files = [p for p in (raw / "vlm_shapebias/raw-data").glob(pattern)
                     if r.prompts not in ("vqa", "caption") or re.fullmatch(rf"[0-9x]{{8}}_[0-9y]{{6}}_{r.model}\.csv",
                                                                            p.name)]
            s, t, c = _brute_shape_bias(files, "pred_label", "image")
        else:
            files = [p for p in (raw / r.source / "raw-data/cue-conflict").glob("*.csv")
                     if re.fullmatch(rf"cue-conflict_{re.escape(r.model)}_session[-_]1\.csv", p.name)]
            s, t, c = _brute_shape_bias(files, "object_response", "imagename")
        assert len(files) == 1, (r.source, r.model, r.prompts)
        assert (r.n_shape, r.n_texture, r.n_conflict) == (s, t, c), (r.source, r.model, r.prompts)
        assert r.shape_bias == pytest.approx(s / (s + t))
    assert (sb["n_conflict"] == 1200).all()  # 1,280 images, 80 without a conflict


def test_every_decision_row_is_loaded(cue_decisions, shared_data):
    raw = shared_data / "records/vlm_shapebias/raw-data"
    files = [p for p in raw.rglob("*.csv") if p.parent.name in ("clip", "inet_classifier", "vqa", "captioning")]
    v = cue_decisions[cue_decisions["source"] == "vlm_shapebias"]
    assert len(v) == sum(1 for p in files for _ in csv.DictReader(open(p, newline="", encoding="utf-8")))
    assert v["table"].nunique() == len(files) == 70
    m = records.load("model_vs_human", shared_data)
    mfiles = [p for p in (shared_data / "records/model_vs_human/raw-data").rglob("*session*.csv")]
    assert len(m) == sum(1 for p in mfiles for _ in csv.DictReader(open(p, newline="", encoding="utf-8")))
    assert m["dataset"].nunique() == 17 and m["table"].nunique() == len(mfiles)


def test_every_decider_is_tagged_or_counted(cue_decisions):
    unknown = records.unknown_models(cue_decisions)
    assert set(unknown["model"]) == {"gemini_pro_vision", "openai_vision", "uform_gen_chat"}  # API / undisclosed towers
    zs = cue_decisions[(cue_decisions["group"] == records.ZS_CLIP) & (cue_decisions["source"] == "vlm_shapebias")]
    assert zs["model"].nunique() == 7 and set(zs["prompts"]) == {"ensemble80", "bare-name", "one-template"}
    assert set(zs.drop_duplicates("model")["family"]) == {"vit", "resnet"}
    assert set(zs["data"]) == {"openai-wit", "laion400m", "laion2b", "merged-2b"}
    lmm = cue_decisions[cue_decisions["kind"] == "lmm"]
    assert set(lmm["prompts"]) == {"vqa", "caption"}
    assert set(lmm.loc[lmm["model"].str.startswith("llava_1_5"), "encoder"]) == {"ViT_L_14_336_openai"}
    assert set(cue_decisions.loc[cue_decisions["model"].str.startswith("subject-"), "kind"]) == {"human"}


def test_texture_vs_shape_humans_are_model_vs_humans(cue_decisions, shared_data):
    """The ten cue-conflict observers of model-vs-human are texture-vs-shape's, decision for decision."""
    tvs = records.load("texture_vs_shape", shared_data)
    a = tvs[tvs["kind"] == "human"].set_index(["model", "image"])["decision"].sort_index()
    mvh = cue_decisions[(cue_decisions["source"] == "model_vs_human") & (cue_decisions["kind"] == "human")]
    b = mvh.set_index(["model", "image"])["decision"].sort_index()
    assert len(a) == len(b) == 12800 and a.equals(b)


def test_ood_accuracy_matches_model_vs_humans_published_performances(shared_data):
    """model-vs-human's own summary tables (raw-data/performances) give each model's accuracy per dataset."""
    d = records.load("model_vs_human", shared_data)
    acc = records.dataset_accuracy(records.ood_accuracy_table(d))
    acc["key"] = acc["model"].str.replace("-", "_")
    mine = acc.set_index(["key", "dataset"])["accuracy"]
    checked = 0
    for f in (shared_data / "records/model_vs_human/raw-data/performances").glob("*.csv"):
        for row in csv.DictReader(open(f, newline="", encoding="utf-8")):
            if row["metric_name"] != "accuracy (top-1)" or row["dataset_name"] == "cue-conflict":
                continue
            assert mine[(row["subj"], row["dataset_name"])] == pytest.approx(float(row["performance"]), abs=1e-9)
            checked += 1
    assert checked >= 9 * 16 - 10  # nearly every (model, dataset) pair is published


def test_error_consistency_against_a_hand_count(shared_data):
    """One (model, human, condition) cell recomputed from the two raw files, matched by image id."""
    mvh = records.load("model_vs_human", shared_data, datasets=["contrast"])
    clip = records.load("model_vs_human_clip", shared_data, datasets=["contrast"])
    ec = records.error_consistency_table(pd.concat([mvh, clip], ignore_index=True))
    row = ec[(ec["model"] == "clip") & (ec["reference"] == "subject-02") & (ec["condition"] == "c05")].iloc[0]

    def outcomes(path):
        out = {}
        for r in csv.DictReader(open(path, newline="", encoding="utf-8")):
            r = {k.lower(): v for k, v in r.items()}
            if r["condition"] == "c05":
                out["_".join(r["imagename"].split("_")[-2:])] = r["object_response"] == r["category"]
        return out

    a = outcomes(shared_data / "records/model_vs_human_clip/raw-data/contrast/contrast_clip_session-1.csv")
    b = outcomes(shared_data / "records/model_vs_human/raw-data/contrast/contrast_subject-02_session_1.csv")
    both = sorted(set(a) & set(b))
    x, y = np.array([a[k] for k in both]), np.array([b[k] for k in both])
    c_obs = float((x == y).mean())
    c_exp = x.mean() * y.mean() + (1 - x.mean()) * (1 - y.mean())
    assert row["n"] == len(both) == 160
    assert row["kappa"] == pytest.approx((c_obs - c_exp) / (1 - c_exp))


def test_scaling_grid_is_complete(shared_data):
    g = records.scaling.grid(records.load("scaling_laws_openclip", shared_data))
    assert len(g) == 27 and g[["imagenet", "imagenet-r", "recall@5"]].notna().all().all()
    assert g.groupby(["arch", "data", "samples_seen_pretty"], observed=True).size().eq(1).all()
    er = records.scaling.grid_er(g, records.load("timm", shared_data))
    assert er["er"].notna().all()
