"""The four record sets of Evidence III load with the counts their sources give, tagged, and refuse bad files
naming the file and the place: frequency_determines_performance, model_soups, imagenet_testbed, robustbench."""
from __future__ import annotations

import ast
import csv
import json
import re
import shutil

import numpy as np
import pytest

from clipstudy import records
from clipstudy.errors import MissingDataError, SchemaError
from clipstudy.records import frequency, robustbench, soups, testbed

FREQ = "frequency_determines_performance"


def _copy(shared_data, tmp_path, folder):
    shutil.copytree(shared_data / "records" / folder, tmp_path / "records" / folder)
    return tmp_path / "records" / folder


@pytest.fixture(scope="module")
def freq(shared_data):
    return records.load(FREQ, shared_data)


# ---- frequency_determines_performance ------------------------------------------------------------------------

def test_frequency_counts_and_tags(freq, shared_data):
    assert len(freq) == 21 * 3 * 3
    assert freq["model"].nunique() == 21
    assert (freq.groupby(["dataset", "prompt_set"])["model"].nunique() == 21).all()
    assert set(freq["dataset"]) == set(frequency.DATASETS) and set(freq["prompt_set"]) == set(frequency.PROMPT_SETS)
    assert freq["value"].between(0, 1).all() and freq["tagged"].all()
    # every key is the source's table's, and the values are the files' percentages
    raw = json.loads((shared_data / "records" / FREQ / "zero_shot_evaluations/imagenet-r_simple_results.json")
                     .read_text())
    assert set(raw) == set(freq["key"]) == set(frequency.BY_KEY)
    row = freq[(freq["key"] == "backboneRN50_pretrainedcc3m") & (freq["dataset"] == "imagenet-r")
               & (freq["prompt_set"] == "simple")]
    assert row["value"].item() == pytest.approx(raw["backboneRN50_pretrainedcc3m"]["full"] / 100)
    assert row["n_classes"].item() == 200
    models = freq.drop_duplicates("model")
    assert (models["checkpoint_kind"] == "open_clip").sum() == 13 and (models["checkpoint_kind"] == "other").sum() == 8
    assert frequency.gelu_built(freq) == ["RN101/yfcc15m", "ViT-B-32/laion400m_e32"]
    other = models[models["checkpoint_kind"] == "other"]
    assert set(other["data"]) == {"cc3m", "cc12m", "yfcc15m", "synthci-30m", "laion200m-sim-normalized"}
    assert set(other["released_by"].str.split(" ").str[0]) == {"CyCLIP", "Quality", "SLIP", "SynthCLIP",
                                                                 "Mayilvahanan"}
    assert set(models["group"]) == {records.ZS_CLIP} and set(models["family"]) == {"vit", "resnet"}
    assert dict(zip(freq["prompt_set"], freq["prompts"])) == {"class": "bare-name", "simple": "one-template",
                                                              "ensemble": "ensemble80"}


def test_frequency_open_clip_names_join_open_clip_records(freq, shared_data):
    """The 13 open_clip tags are named as open_clip's table names them (their ImageNet values are close: the same
    checkpoints, evaluated by two codebases), the GELU-built ones matching its plain (GELU) rows."""
    oc = records.load("open_clip", shared_data)
    ocv = oc[(oc["dataset"] == "imagenet") & (oc["metric"] == "acc1")].set_index("model")["value"]
    f = freq[(freq["checkpoint_kind"] == "open_clip") & (freq["dataset"] == "imagenet")
             & (freq["prompt_set"] == "ensemble")].set_index("model")["value"]
    assert set(f.index) <= set(ocv.index)
    assert (f - ocv[f.index]).abs().max() < 0.01
    gelu = "ViT-B-32/laion400m_e32"
    assert abs(f[gelu] - ocv[gelu]) < abs(f[gelu] - ocv["ViT-B-32-quickgelu/laion400m_e32"])


def test_frequency_checkpoint_table_matches_the_source_and_open_clip(shared_data):
    """The mapping written as data equals the source's `BACKBONES_AND_PRETRAINED` for its 21 keys (read with ast,
    never run); the two GELU flags are the open_clip tags whose pretrained config says QuickGELU while the plain
    name was built; the ensemble is OpenAI's 80 ImageNet templates for the three datasets."""
    import open_clip
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    src = ast.parse((shared_data / "records" / FREQ / "SOURCE_zero_shot_eval.py").read_text())
    table = next(ast.literal_eval(n.value) for n in src.body if isinstance(n, ast.Assign)
                 and getattr(n.targets[0], "id", "") == "BACKBONES_AND_PRETRAINED")
    for c in frequency.CHECKPOINTS:
        assert table[(c.backbone, c.pretraining)] == (c.arch, c.checkpoint), c.key
        is_tag = (c.arch, c.checkpoint) in set(open_clip.list_pretrained())
        assert is_tag == (c.kind == frequency.OPEN_CLIP), c.key
        if is_tag:
            quick = bool(open_clip.get_pretrained_cfg(c.arch, c.checkpoint).get("quick_gelu", False))
            assert c.gelu_built == (quick and not c.arch.endswith("quickgelu")), c.key
        else:
            assert not c.gelu_built
    tpl = ast.parse((shared_data / "records" / FREQ / "SOURCE_zero_shot_templates.py").read_text())
    ens = next(ast.literal_eval(n.value) for n in tpl.body if isinstance(n, ast.Assign))
    openai = [t("{c}") for t in OPENAI_IMAGENET_TEMPLATES]
    for ds in frequency.DATASETS:
        assert ens[ds] == openai, ds


def test_frequency_per_class(shared_data, freq):
    pc = records.load(FREQ, shared_data, per_class=True)
    assert len(pc) == 21 * 3 * (1000 + 1000 + 200)
    assert not pc.duplicated(["model", "dataset", "prompt_set", "class"]).any()
    # ImageNet val has 50 images in every class, so the top-1 is the mean of the class accuracies
    im = pc[pc["dataset"] == "imagenet"].groupby(["model", "prompt_set"])["value"].mean()
    full = freq[freq["dataset"] == "imagenet"].set_index(["model", "prompt_set"])["value"]
    assert np.allclose(im.sort_index(), full.sort_index(), atol=1e-9)


def test_frequency_truncated_or_edited(shared_data, tmp_path, monkeypatch):
    d = _copy(shared_data, tmp_path, FREQ) / "zero_shot_evaluations"
    f = d / "imagenet_simple_results.json"
    text = f.read_text()
    f.write_text(text[: len(text) // 2])
    with pytest.raises(SchemaError, match=r"(?s)imagenet_simple_results.json, line \d+, column \d+: not valid JSON"
                                          r".*truncated.*Expected: .*backbone<ARCH>_pretrained<DATA>"):
        records.load(FREQ, tmp_path)
    f.write_text(re.sub(r'"full": [0-9.]+', '"full": 12.5', text, count=1))  # a value edited, still valid JSON
    assert len(records.load(FREQ, tmp_path)) == 189        # a user's own folder: the strict parse only
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path))     # the default layout: the pinned SHA-256 refuses it
    with pytest.raises(SchemaError, match=r"(?s)imagenet_simple_results.json: (it differs from|shorter than) the "
                                          r"published file.*SHA-256 [0-9a-f]{64}"):
        records.load(FREQ)
    f.write_text(re.sub(r'"full": [0-9.]+', '"full": "16.4"', text, count=1))  # a number written as text
    with pytest.raises(SchemaError, match=r"imagenet_simple_results.json, key 'backbone.*'full'.*percent"):
        records.load(FREQ)


# ---- model_soups ---------------------------------------------------------------------------------------------

def test_soups_rows(shared_data):
    s = records.load("model_soups", shared_data)
    assert len(s) == 72 and s["model"].is_unique
    assert (s["recipe"] == "fine-tune").sum() == 71
    lp = s[s["model"] == soups.LP_INIT].iloc[0]
    assert lp["recipe"] == "LP initialization" and lp["finetune_recipe"] == "linear probe" and np.isnan(lp["lr"])
    assert s[list(soups.DATASETS.values())].stack().between(0, 1).all()
    first = json.loads((shared_data / "records/model_soups/individual_model_results.jsonl").read_text()
                       .splitlines()[1])
    row = s[s["model"] == first["model_name"]].iloc[0]
    assert row["imagenet-sketch"] == first["ImageNetSketch"] and row["objectnet"] == first["ObjectNet"]
    ft = s[s["recipe"] == "fine-tune"]
    assert ft[["lr", "wd", "epochs", "label_smoothing", "mixup"]].notna().all().all()
    assert set(ft["aug"]) == {"none", "rand-n0", "rand-n1", "rand-n2"}
    assert ((ft["aug"] == "none") == ft["aug_raw"].isna()).all()
    assert set(s["group"]) == {records.CLIP_FT} and set(s["data"]) == {"openai-wit"} and set(s["family"]) == {"vit"}
    assert set(s["parent"]) == {"ViT-B-32/openai"}
    assert len(soups.soups_long(s)) == 72 * 7


def test_soups_bad_files(shared_data, tmp_path):
    d = _copy(shared_data, tmp_path, "model_soups")
    f = d / "individual_model_results.jsonl"
    text = f.read_text()
    lines = text.splitlines(keepends=True)
    f.write_text("".join(lines[:5]) + lines[5][:40])  # cut inside row 6
    with pytest.raises(SchemaError, match=r"(?s)individual_model_results.jsonl, row 6 \(line 6\), column \d+: not "
                                          r"valid JSON.*truncated"):
        records.load("model_soups", tmp_path)
    f.write_text(text.replace('"ImageNetA": 0.', '"ImageNetA": 1', 1))
    with pytest.raises(SchemaError, match=r"row 1 \(line 1\), 'ImageNetA'.*accuracy in \[0, 1\]"):
        records.load("model_soups", tmp_path)
    f.write_text("".join(lines[:-1]))  # a model's results gone: its hyperparameters name it
    with pytest.raises(SchemaError, match=r"name different models.*only in hparam_info.json: \['model_71'\]"):
        records.load("model_soups", tmp_path)


# ---- imagenet_testbed ----------------------------------------------------------------------------------------

def test_testbed_rows(shared_data):
    t = records.load("imagenet_testbed", shared_data)
    path = shared_data / "records/imagenet_testbed/robustness_top1s.csv"
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) - 1 == 338 and len(rows[0]) == 214
    assert t["model"].nunique() == 338 and t["column"].nunique() == 213
    assert len(t) == sum(1 for r in rows[1:] for c in r[1:] if c.strip())
    assert not t.duplicated(["model", "column"]).any() and t["value"].between(0, 1).all()
    r50 = t[(t["model"] == "resnet50") & (t["column"] == "val")]["value"].item()
    assert r50 == pytest.approx(float(rows[[r[0] for r in rows].index("resnet50")][rows[0].index("val")]) / 100)
    zs = t[t["group"] == records.ZS_CLIP].drop_duplicates("model")
    assert set(zs["model"]) == {"vit_b_32_clip_zeroshot", "resnet50_clip_zeroshot"}
    assert set(zs["data"]) == {"openai-wit"} and set(zs["family"]) == {"vit", "resnet"}
    assert t["model_type"].notna().all()
    c = t[t["dataset"] == "imagenet-c"]
    assert c["corruption"].nunique() == 19 and set(c["severity"]) == {1, 2, 3, 4, 5}
    w = testbed.testbed_wide(t)
    assert {"imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a", "objectnet"} <= set(w.columns)
    assert len(w) == t.loc[t["column"].isin(list(testbed.DATASETS)), "model"].nunique() == 335  # 3 lack all six


def test_testbed_bad_cell_and_edit(shared_data, tmp_path, monkeypatch):
    d = _copy(shared_data, tmp_path, "imagenet_testbed")
    f = d / "robustness_top1s.csv"
    text = f.read_text()
    lines = text.splitlines(keepends=True)
    fields = lines[3].split(",")
    fields[5] = "abc"
    f.write_text("".join(lines[:3] + [",".join(fields)] + lines[4:]))
    with pytest.raises(SchemaError,
                       match=r"(?s)robustness_top1s.csv, row 3 \(line 4\).*should be a \(finite\) number.*'abc'"):
        records.load("imagenet_testbed", tmp_path)
    f.write_text("".join(lines[:7]) + lines[7][:30])
    with pytest.raises(SchemaError, match=r"(?s)robustness_top1s.csv, row 7 \(line 8\).*ends early"):
        records.load("imagenet_testbed", tmp_path)
    f.write_text("".join(lines[:-1]))  # the last model's row dropped: parses, but is not the published file
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path))
    with pytest.raises(SchemaError, match=r"(?s)robustness_top1s.csv, row 337 .*shorter than the published file"):
        records.load("imagenet_testbed")


# ---- robustbench ---------------------------------------------------------------------------------------------

def test_robustbench_rows(shared_data):
    rb = records.load("robustbench", shared_data)
    assert rb["model"].nunique() == 12
    d3, dc = rb[rb["benchmark"] == "3dcc"], rb[rb["benchmark"] == "imagenet-c"]
    assert len(d3) == 12 * 12 * 5 and d3["corruption"].nunique() == 12
    assert len(dc) == 12 * 15 * 5 and dc["corruption"].nunique() == 15
    assert (rb.groupby(["model", "benchmark", "corruption"])["severity"].nunique() == 5).all()
    info = rb.drop_duplicates("model").set_index("model")
    assert info["clean_acc"].between(0, 1).all() and info.loc["Standard_R50", "clean_acc"] == pytest.approx(0.7672)
    arch = info["architecture"].value_counts().to_dict()
    assert arch == {"ResNet-50": 8, "DeiT Small": 1, "DeiT Base": 1, "AlexNet": 1, "WideResNet-50-2": 1}
    assert info["family"].to_dict()["AlexNet"] == "other"
    assert set(info.loc[info["architecture"].str.startswith("DeiT"), "family"]) == {"vit"}
    assert set(info.loc[info["architecture"].str.contains("ResNet"), "family"]) == {"resnet"}
    assert set(info["group"]) == {records.IMAGENET}
    # the published means (JSON, 2 decimals in percent) are the means of the per-corruption cells
    for bench, col in (("3dcc", "corruptions_acc_3d"), ("imagenet-c", "corruptions_acc")):
        m = rb[rb["benchmark"] == bench].groupby("model")["value"].mean()
        assert (m - info.loc[m.index, col]).abs().max() < 1e-4, bench
    assert len(records.load("robustbench", shared_data, benchmarks=("3dcc",))) == 720


def test_robustbench_bad_files(shared_data, tmp_path, monkeypatch):
    d = _copy(shared_data, tmp_path, "robustbench")
    d = d / "imagenet/corruptions"
    f = d / "unaggregated_results_3d.csv"
    text = f.read_text()
    lines = text.splitlines(keepends=True)
    f.write_text("".join(lines[:6]) + lines[6][:50])
    with pytest.raises(SchemaError, match=r"(?s)unaggregated_results_3d.csv, row 5 \(line 7\).*ends early"):
        records.load("robustbench", tmp_path)
    f.write_text(text)
    (d / "AlexNet.json").unlink()
    with pytest.raises(MissingDataError, match=r"(?s)AlexNet.json.*clipstudy fetch records"):
        records.load("robustbench", tmp_path)
    shutil.copy(shared_data / "records" / robustbench.FOLDER / "AlexNet.json", d / "AlexNet.json")
    f.write_text(text.replace("0.4616", "0.4617", 1))  # one accuracy edited: parses, refused by its SHA-256
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path))
    with pytest.raises(SchemaError, match=r"(?s)unaggregated_results_3d.csv.*differs from the published file"):
        records.load("robustbench")
