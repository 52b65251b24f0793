"""Loaders: each published table -> a tidy frame (one row per model x dataset/factor x metric).

Common columns: source, model, dataset, metric, value (a fraction in [0, 1] for accuracies
and recalls), table (the file a row came from), plus the tag columns of `tags.TAG_COLUMNS`.
Missing published values (empty cells) are dropped: a missing cell is not a measurement.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..metrics.factors import IMAGENET_X_FACTORS
from . import tags as T
from .schema import number_columns, read_table
from .sources import check_published, require

# Canonical names for the ImageNet family, shared with the live path and the chapters.
DATASET_NAMES = {
    "ImageNet 1k": "imagenet", "ImageNet v2": "imagenet-v2", "ImageNet Sketch": "imagenet-sketch",
    "ImageNet-A": "imagenet-a", "ImageNet-R": "imagenet-r", "ImageNet-O": "imagenet-o",
    "ObjectNet": "objectnet", "Flickr": "flickr30k", "MSCOCO": "mscoco",
    # CLIP_benchmark's dataset ids
    "imagenet1k": "imagenet", "imagenetv2": "imagenet-v2", "imagenet_sketch": "imagenet-sketch",
    "mscoco_captions": "mscoco",
}
TIMM_FILES = {
    "imagenet": "results-imagenet.csv", "imagenet-v2": "results-imagenetv2-matched-frequency.csv",
    "imagenet-sketch": "results-sketch.csv", "imagenet-a": "results-imagenet-a.csv",
    "imagenet-r": "results-imagenet-r.csv", "imagenet-real": "results-imagenet-real.csv",
}
KEY = {"name": "str", "pretrained": "str"}
OPEN_CLIP_SCHEMA = {**KEY, "ImageNet 1k": "num!", "ImageNet v2": "num", "ImageNet Sketch": "num",
                    "ImageNet-A": "num", "ImageNet-R": "num", "ObjectNet": "num", "Flickr": "num", "MSCOCO": "num"}
CLASSIFICATION_SCHEMA = {**KEY, "ImageNet 1k": "num!"}
RETRIEVAL_SCHEMA = {**KEY, **{f"{d} {k} retr. R@{r}": "num" for d in ("Flickr", "MSCOCO")
                             for k in ("image", "text") for r in (1, 5, 10)}}
PROFILE_SCHEMA = {"model": "str", "image_size": "num", "mparams": "num", "gflops": "num"}
TIMM_SCHEMA = {"model": "str", "img_size": "num!", "top1": "num!", "top5": "num!", "param_count": "num"}
BENCHMARK_SCHEMA = {"acc1": "num", "acc5": "num", "mean_per_class_recall": "num", "dataset": "str", "model": "str",
                    "pretrained": "str", "task": "str", "mean_average_precision": "num",
                    "image_retrieval_recall@5": "num", "text_retrieval_recall@5": "num"}
IMAGENET_X_SCHEMA = {"model": "str", **{f: "num!" for f in IMAGENET_X_FACTORS},
                     "worst_factor": "num!", "average": "num!", "worst_100_classes": "num"}
CUE_CONFLICT_SCHEMA = {"subj": "str", "session": "num!", "trial": "num!", "rt": "num", "object_response": "str",
                       "category": "str", "condition": "str", "imagename": "str"}
NOT_VALUES = {"name", "pretrained", "params (M)", "FLOPs (B)"}


def dataset_slug(column: str) -> str:
    """'ImageNet Sketch' -> 'imagenet-sketch'; 'Oxford Flowers-102' -> 'oxford-flowers-102'."""
    return DATASET_NAMES.get(column) or re.sub(r"[^a-z0-9.]+", "-", column.lower()).strip("-")


@lru_cache(maxsize=256)
def _open_clip_config(model: str) -> dict | None:
    """open_clip's own model config (model_configs/<model>.json), read without importing torch."""
    import importlib.util
    import json

    spec = importlib.util.find_spec("open_clip")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        f = Path(loc) / "model_configs" / f"{model}.json"
        if f.is_file():
            return json.loads(f.read_text())
    return None  # tags then come from the name alone


def _attach(df: pd.DataFrame, tag_rows: list[dict]) -> pd.DataFrame:
    return pd.concat([df.reset_index(drop=True), pd.DataFrame(tag_rows)], axis=1)


def _melt(wide: pd.DataFrame, ids: list[str], cols: list[str], metric_of, table: str) -> pd.DataFrame:
    long = wide.melt(id_vars=ids, value_vars=cols, var_name="column", value_name="value").dropna(subset=["value"])
    long["dataset"], long["metric"] = zip(*[metric_of(c) for c in long["column"]]) if len(long) else ((), ())
    long["table"] = table
    return long.drop(columns="column")


def _oc_metric(col: str) -> tuple[str, str]:
    if col.startswith("Average"):
        n = re.search(r"(\d+)", col)
        return ("average-" + n.group(1) if n else "average-retrieval"), "score"
    if col in ("Flickr", "MSCOCO"):
        return dataset_slug(col), "mean_recall@1"  # mean of image and text R@1 (checked in the tests)
    if col == "WinoGAViL":
        return "winogavil", "jaccard"
    m = re.match(r"(Flickr|MSCOCO) (image|text) retr\. R@(\d+)", col)
    if m:
        return dataset_slug(m.group(1)), f"{m.group(2)}_retrieval_recall@{m.group(3)}"
    m = re.match(r"WinoGAViL (.*)", col)
    if m:
        return "winogavil", m.group(1).replace(" ", "_")
    return dataset_slug(col), "acc1"


def load_open_clip(root=None) -> pd.DataFrame:
    """open_clip's results (38 datasets), retrieval (both directions) and classification tables,
    joined with the model profile. The classification table repeats the results' accuracies; only
    what it adds (its 35-dataset average) is kept, and the tests check the repeats agree."""
    d = require("open_clip", root)
    res = read_table(d / "openclip_results.csv", OPEN_CLIP_SCHEMA)
    ret = read_table(d / "openclip_retrieval_results.csv", RETRIEVAL_SCHEMA)
    cls = read_table(d / "openclip_classification_results.csv", CLASSIFICATION_SCHEMA)
    prof = read_table(d / "model_profile.csv", PROFILE_SCHEMA)
    frames = []
    for wide, table, path, keep in [
        (res, "openclip_results", d / "openclip_results.csv", None),
        (ret, "openclip_retrieval_results", d / "openclip_retrieval_results.csv", None),
        (cls, "openclip_classification_results", d / "openclip_classification_results.csv",
         lambda c: c.startswith("Average")),
    ]:
        cols = [c for c in wide.columns if c not in NOT_VALUES and (keep is None or keep(c))]
        wide = number_columns(wide, cols + [c for c in ("params (M)", "FLOPs (B)") if c in wide], path)
        frames.append(_melt(wide, ["name", "pretrained"], cols, _oc_metric, table))
    long = pd.concat(frames, ignore_index=True).rename(columns={"name": "arch"})
    long.insert(0, "source", "open_clip")
    long.insert(1, "model", long["arch"] + "/" + long["pretrained"])  # clipstudy.zoo names
    info = res[["name", "pretrained", "params (M)", "FLOPs (B)"]].rename(
        columns={"name": "arch", "params (M)": "params_m", "FLOPs (B)": "gflops"})
    long = long.merge(info, on=["arch", "pretrained"], how="left")
    prof = prof.rename(columns={"model": "arch", "image_size": "profile_image_size"})[["arch", "profile_image_size"]]
    long = long.merge(prof, on="arch", how="left")
    tags = {(a, p): T.open_clip_tags(a, p, _open_clip_config(a))
            for a, p in long[["arch", "pretrained"]].drop_duplicates().itertuples(index=False)}
    return _attach(long, [tags[(a, p)] for a, p in zip(long["arch"], long["pretrained"])])


def load_timm(root=None) -> pd.DataFrame:
    """timm's results on ImageNet val, V2, Sketch, A, R and ReaL; top-1/top-5 converted from
    percent to fractions. The -a and -r files score on their 200-class subsets (logits restricted
    to those 200 classes), like open_clip's zero-shot heads over the same 200 class names.
    timm evaluates some models at several input sizes, so `model` is "<timm name>@<size>"
    (`timm_name` holds the plain name)."""
    d = require("timm", root)
    frames = []
    for ds, fname in TIMM_FILES.items():
        wide = read_table(d / fname, TIMM_SCHEMA)
        long = wide.melt(id_vars=["model", "img_size", "param_count"], value_vars=["top1", "top5"],
                         var_name="metric", value_name="value")
        long["metric"] = long["metric"].map({"top1": "acc1", "top5": "acc5"})
        long["value"] = long["value"] / 100.0
        long["dataset"], long["table"] = ds, fname.removesuffix(".csv")
        frames.append(long)
    long = pd.concat(frames, ignore_index=True).rename(columns={"model": "timm_name"})
    # timm evaluates some models at several resolutions: a model is (name, eval size)
    long.insert(0, "source", "timm")
    long.insert(1, "model", long["timm_name"] + "@" + long["img_size"].astype(int).astype(str))
    long["arch"] = long["timm_name"].str.split(".").str[0]
    long["pretrained"] = long["timm_name"].str.split(".").str[1]
    tags = {(m, s): T.timm_tags(m, s) for m, s in long[["timm_name", "img_size"]].drop_duplicates()
            .itertuples(index=False)}
    long = long.rename(columns={"param_count": "params_m"})
    return _attach(long, [tags[k] for k in zip(long["timm_name"], long["img_size"])])


def load_clip_benchmark(root=None) -> pd.DataFrame:
    """CLIP_benchmark's benchmark.csv: every metric column that is filled, one row each."""
    d = require("clip_benchmark", root)
    wide = read_table(d / "benchmark.csv", BENCHMARK_SCHEMA)
    metrics = [c for c, k in BENCHMARK_SCHEMA.items() if k == "num"]
    long = wide.melt(id_vars=["model", "pretrained", "dataset", "task"], value_vars=metrics,
                     var_name="metric", value_name="value").dropna(subset=["value"])
    long = long.rename(columns={"model": "arch"})
    long["dataset"] = long["dataset"].map(lambda d: DATASET_NAMES.get(d, d))
    long.insert(0, "source", "clip_benchmark")
    long.insert(1, "model", long["arch"] + "/" + long["pretrained"])  # clipstudy.zoo names
    long["table"] = "benchmark"
    tags = {(a, p): T.open_clip_tags(a, p, _open_clip_config(a))
            for a, p in long[["arch", "pretrained"]].drop_duplicates().itertuples(index=False)}
    return _attach(long, [tags[(a, p)] for a, p in zip(long["arch"], long["pretrained"])])


def imagenet_x_files(root=None) -> list[Path]:
    d = require("imagenet_x", root)
    return sorted(d.glob("*/*/*/accuracies_per_factor.csv"))


def load_imagenet_x(root=None) -> pd.DataFrame:
    """ImageNet-X accuracy per factor (plus worst_factor, average, worst_100_classes) for every
    model of every file: annotation (top_factor|multi_factor), testbed (base|imagenet_testbed|
    modelvshuman), label_level (class|metaclass). `model_type` is imagenet-x's own grouping."""
    from imagenet_x.model_types import model_types_map

    files = imagenet_x_files(root)
    if not files:
        require("imagenet_x/top_factor", root)  # present but empty: the same clear message
    frames = []
    cols = list(IMAGENET_X_FACTORS) + ["worst_factor", "average", "worst_100_classes"]
    for f in files:
        wide = read_table(f, IMAGENET_X_SCHEMA)
        long = wide.melt(id_vars=["model"], value_vars=cols, var_name="factor", value_name="value")
        long = long.dropna(subset=["value"])
        level, testbed, annotation = f.parent.name, f.parent.parent.name, f.parent.parent.parent.name
        long["annotation"], long["testbed"], long["label_level"] = annotation, testbed, level
        long["table"] = str(f.relative_to(f.parents[3]))
        frames.append(long)
    long = pd.concat(frames, ignore_index=True)
    long.insert(0, "source", "imagenet_x")
    long["dataset"], long["metric"] = "imagenet-x", "acc1"
    long["model_type"] = [model_types_map[m].value if m in model_types_map else None for m in long["model"]]
    tags = {m: T.imagenet_x_tags(m) for m in long["model"].unique()}
    return _attach(long, [tags[m] for m in long["model"]])


CUE_IMAGE = re.compile(r"_([a-z]+)\d+-([a-z]+)\d+\.png$")


def parse_cue_image(name: str) -> tuple[str, str]:
    """'..._bird3-clock2.png' -> ('bird', 'clock'): the shape class and the texture class."""
    m = CUE_IMAGE.search(name)
    if not m:
        raise ValueError(f"not a cue-conflict image name (..._<shape><i>-<texture><j>.png): {name!r}")
    return m.group(1), m.group(2)


def load_cue_conflict(root=None) -> pd.DataFrame:
    """Every trial decision of the texture-vs-shape cue-conflict experiment (10 humans, 3 CNNs):
    subject, response, shape, texture, conflict (shape != texture), group, plus the raw columns."""
    from ..errors import SchemaError

    d = require("texture_vs_shape/style-transfer-512-nomask-experiment", root)
    frames = []
    for f in sorted(d.glob("*.csv")):
        df = read_table(f, CUE_CONFLICT_SCHEMA, verify=False)
        parsed = []
        for i, name in enumerate(df["imagename"]):
            try:
                parsed.append(parse_cue_image(name))
            except ValueError as e:
                raise SchemaError(f"{f}, row {i + 1} (line {i + 2}): {e}.\nExpected schema (column:kind): "
                                  + ", ".join(f"{c}:{k}" for c, k in CUE_CONFLICT_SCHEMA.items())) from e
        check_published(f)  # after the image names, whose errors name the row
        df["shape"], df["texture"] = zip(*parsed) if parsed else ((), ())
        df["table"] = f.name
        frames.append(df)
    df = pd.concat(frames, ignore_index=True).rename(columns={"subj": "subject", "object_response": "response"})
    df["conflict"] = df["shape"] != df["texture"]
    human = df["subject"].str.startswith("subject-")
    df["group"] = human.map({True: T.HUMAN, False: T.IMAGENET})
    df["family"] = df["subject"].where(~human, "human")
    df.insert(0, "source", "texture_vs_shape")
    return df


def untagged(frame: pd.DataFrame, required: list[str] | None = None) -> list[str]:
    """Models of a records frame missing any required six-factor tag (family, data, loss, ...)."""
    required = required or T.REQUIRED_OPEN_CLIP_TAGS
    models = frame.drop_duplicates("model").set_index("model")[required]
    bad = models.isna().any(axis=1) | models.eq("other").any(axis=1)
    return sorted(models.index[bad])
