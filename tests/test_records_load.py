"""Every records loader parses every shared file; row counts match the sources; tags are complete."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipstudy import records
from clipstudy.errors import UnknownNameError
from clipstudy.records.tables import IMAGENET_X_SCHEMA, TIMM_FILES


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _filled(rows: list[dict], cols: list[str]) -> int:
    return sum(1 for r in rows for c in cols if r[c].strip() not in ("", "nan", "NaN"))


@pytest.fixture(scope="module")
def frames(shared_data):
    return {n: records.load(n, shared_data) for n in ("open_clip", "timm", "clip_benchmark", "imagenet_x",
                                                       "cue_conflict")}


def test_every_manifest_file_is_in_the_shared_copy(shared_data):
    from clipstudy.download import sha256_file

    for s in records.manifest():
        path = shared_data / "records" / s.local
        assert path.is_file(), s.local
        assert sha256_file(path) == s.sha256, s.local
    listed = {s.local for s in records.manifest()}
    on_disk = {str(p.relative_to(shared_data / "records")) for p in (shared_data / "records").rglob("*")
               if p.is_file() and p.name != ".DS_Store"}
    assert on_disk <= listed, on_disk - listed


def test_open_clip_rows_match_sources(frames, shared_data):
    oc, d = frames["open_clip"], shared_data / "records/open_clip"
    for table in ("openclip_results", "openclip_retrieval_results"):
        rows = _rows(d / f"{table}.csv")
        cols = [c for c in rows[0] if c not in ("name", "pretrained", "params (M)", "FLOPs (B)")]
        assert (oc["table"] == table).sum() == _filled(rows, cols)
    cls = _rows(d / "openclip_classification_results.csv")
    assert (oc["table"] == "openclip_classification_results").sum() == _filled(
        cls, [c for c in cls[0] if c.startswith("Average")])
    assert oc["model"].nunique() == len(_rows(d / "openclip_results.csv")) == 121
    assert oc["value"].between(0, 1).all()


def test_open_clip_tables_agree(frames, shared_data):
    """The classification table repeats the results table's accuracies; Flickr/MSCOCO in the results
    table are the mean of image and text R@1 of the retrieval table."""
    d = shared_data / "records/open_clip"
    res = pd.read_csv(d / "openclip_results.csv").set_index(["name", "pretrained"])
    cls = pd.read_csv(d / "openclip_classification_results.csv").set_index(["name", "pretrained"])
    shared = [c for c in cls.columns if c in res.columns and not c.startswith("Average")
              and c not in ("params (M)", "FLOPs (B)")]
    assert len(shared) >= 35
    a, b = res.loc[cls.index, shared], cls[shared]
    assert np.allclose(a.to_numpy(float), b.to_numpy(float), atol=1e-4, equal_nan=True)
    oc = frames["open_clip"]
    for ds in ("flickr30k", "mscoco"):
        r = oc[oc["dataset"] == ds].pivot_table(index="model", columns="metric", values="value")
        mean = (r["image_retrieval_recall@1"] + r["text_retrieval_recall@1"]) / 2
        assert np.allclose(mean, r["mean_recall@1"], atol=6e-4), ds


def test_every_open_clip_model_is_tagged(frames):
    for name in ("open_clip", "clip_benchmark"):
        f = frames[name]
        assert records.untagged(f) == [], name
        assert set(f["group"]) == {records.ZS_CLIP}
        assert set(f["loss"]) <= {"clip", "siglip", "coca"}
        assert set(f["family"]) <= {"vit", "resnet", "convnext"}
    oc = frames["open_clip"].drop_duplicates("model")
    matched = oc.dropna(subset=["profile_image_size"])  # the profile lists most, not all, archs
    assert len(matched) > 100
    assert (matched["resolution"] == matched["profile_image_size"]).all()


def test_untagged_lists_what_it_cannot_tag():
    f = pd.DataFrame({"model": ["a", "b"], "family": ["vit", "other"], "data": ["laion2b", None],
                      "loss": ["clip", "clip"], "resolution": [224, 224], "group": ["g", "g"],
                      "finetuned": [False, False]})
    assert records.untagged(f) == ["b"]


def test_timm_rows_and_units(frames, shared_data):
    t, d = frames["timm"], shared_data / "records/timm"
    for ds, fname in TIMM_FILES.items():
        rows = _rows(d / fname)
        assert (t["dataset"] == ds).sum() == 2 * len(rows)  # top1 and top5
        first = rows[0]
        key = f"{first['model']}@{first['img_size']}"
        got = t[(t["model"] == key) & (t["dataset"] == ds) & (t["metric"] == "acc1")]["value"]
        assert got.item() == pytest.approx(float(first["top1"]) / 100)  # percent -> fraction
    assert t["value"].between(0, 1).all()
    assert not t.duplicated(["model", "dataset", "metric"]).any()  # (name, eval size) is unique
    ft = t[t["group"] == records.CLIP_FT].drop_duplicates("timm_name")["timm_name"]
    assert ft.str.contains("clip").sum() == 35      # the 35 CLIP fine-tunes the README names
    assert set(ft[~ft.str.contains("clip")]) <= {m for m in ft if "siglip" in m}


def test_clip_benchmark_rows(frames, shared_data):
    rows = _rows(shared_data / "records/clip_benchmark/benchmark.csv")
    cols = ["acc1", "acc5", "mean_per_class_recall", "mean_average_precision", "image_retrieval_recall@5",
            "text_retrieval_recall@5"]
    assert len(frames["clip_benchmark"]) == _filled(rows, cols)


def test_imagenet_x_rows(frames, shared_data):
    x = frames["imagenet_x"]
    files = sorted((shared_data / "records/imagenet_x").glob("*/*/*/accuracies_per_factor.csv"))
    assert len(files) == 12
    value_cols = [c for c in IMAGENET_X_SCHEMA if c != "model"]
    assert len(x) == sum(_filled(_rows(f), value_cols) for f in files)
    top = x[(x["annotation"] == "top_factor") & (x["label_level"] == "class")]
    assert top.groupby("testbed")["model"].nunique().to_dict() == {"base": 4, "imagenet_testbed": 335,
                                                                    "modelvshuman": 54}
    zs = set(top.loc[top["group"] == records.ZS_CLIP, "model"])
    assert zs == {"vit_b_32_clip_zeroshot", "resnet50_clip_zeroshot", "clip", "clipRN50"}


def test_cue_conflict_rows(frames, shared_data):
    c = frames["cue_conflict"]
    files = sorted((shared_data / "records/texture_vs_shape").rglob("*.csv"))
    assert len(c) == sum(len(_rows(f)) for f in files) == 13 * 1280
    assert c["subject"].nunique() == 13
    assert (c.groupby("subject").size() == 1280).all()
    assert set(c.loc[c["group"] == records.HUMAN, "subject"]) == {f"subject-{i:02d}" for i in range(1, 11)}
    assert set(c["shape"]) == set(c["texture"]) and len(set(c["shape"])) == 16


def test_unknown_table_name(shared_data):
    with pytest.raises(UnknownNameError, match="open_clip"):
        records.load("openclip", shared_data)


def test_open_clip_and_clip_benchmark_agree(frames):
    """Two publications of the same CLIP_benchmark runs: ImageNet-family accuracies match closely."""
    fam = ["imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r", "objectnet"]
    a = frames["open_clip"].query("metric == 'acc1' and dataset in @fam")[["model", "dataset", "value"]]
    b = frames["clip_benchmark"].query("metric == 'acc1' and dataset in @fam")[["model", "dataset", "value"]]
    m = a.merge(b, on=["model", "dataset"])
    assert len(m) >= 50 and set(m["dataset"]) == set(fam)
    assert (m["value_x"] - m["value_y"]).abs().max() < 0.005
