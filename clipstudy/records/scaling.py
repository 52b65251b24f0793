"""LAION's scaling-law grid (Cherti et al. 2023): the same recipe at three data sizes x three training lengths.

ViT-B/32, B/16 and L/14 were trained on LAION-80M, -400M and -2B for 3B, 13B and 34B samples seen, and
evaluated with CLIP_benchmark. At a fixed architecture, one cell differs from its neighbour in one
factor only, so contrasts between cells are controlled comparisons between real models (unlike the
other records, where models differ in many ways at once).

`load_scaling_laws` gives the tidy frame (one row per model x dataset x metric; empty cells are
dropped: a missing cell is not a measurement), `grid` the 27-model grid wide, `grid_er` its effective
robustness against the ImageNet-model line of timm's records.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import data_sources as DS
from ..errors import SchemaError
from . import tags as T
from .schema import read_table
from .sources import require

RESULTS_SCHEMA = {"arch": "str", "samples_seen": "num!", "upstream_dataset": "str", "downstream_dataset": "str",
                  "acc1": "num", "acc5": "num", "mean_per_class_recall": "num", "image_retrieval_recall@5": "num",
                  "text_retrieval_recall@5": "num", "mean_average_precision": "num", "task": "str",
                  "samples_seen_pretty": "str", "name": "str"}
INFO_SCHEMA = {"name": "str", "arch": "str", "data": "str", "samples_seen_pretty": "str", "lr": "num!",
               "epochs": "num", "samples_per_epoch": "num", "url": "text"}
METRICS = ["acc1", "acc5", "mean_per_class_recall", "image_retrieval_recall@5", "text_retrieval_recall@5",
           "mean_average_precision"]
UPSTREAM = {"LAION-80M": "laion80m", "LAION-400M": "laion400m", "LAION-2B": "laion2b", "CLIP-WIT": "openai-wit"}
GRID_ARCHS = ("ViT-B-32", "ViT-B-16", "ViT-L-14")
GRID_DATA = ("laion80m", "laion400m", "laion2b")
GRID_SAMPLES = ("3B", "13B", "34B")
DATA_LABEL = DS.labels(*UPSTREAM.values())  # the display label of each upstream source (clipstudy.data_sources)
SHIFTS = ("imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a")  # ObjectNet: no ImageNet-model line
RETRIEVAL = ("flickr30k", "mscoco")


def load_scaling_laws(root=None) -> pd.DataFrame:
    """`zeroshot_results.csv` joined with `trained_models_info.csv` (epochs, lr, checkpoint URL).

    Columns: source, model (`<arch>/<checkpoint name>`), arch, name, data, data_label, samples_seen,
    samples_seen_pretty, dataset, metric, value, task, epochs, lr, url, plus the tag columns.
    """
    from .tables import dataset_slug

    d = require("scaling_laws_openclip", root)
    res = read_table(d / "zeroshot_results.csv", RESULTS_SCHEMA)
    info = read_table(d / "trained_models_info.csv", INFO_SCHEMA)
    long = res.melt(id_vars=["arch", "name", "upstream_dataset", "downstream_dataset", "samples_seen",
                             "samples_seen_pretty", "task"], value_vars=METRICS, var_name="metric",
                    value_name="value").dropna(subset=["value"])
    if long.empty:
        raise SchemaError(f"{d / 'zeroshot_results.csv'}: holds no results (no row has a value in "
                          f"{', '.join(METRICS)})")
    long["dataset"] = long["downstream_dataset"].map(dataset_slug)
    long["data"] = long["upstream_dataset"].map(UPSTREAM).fillna(T.UNKNOWN)
    long["data_label"] = long["data"].map(DATA_LABEL).fillna(long["upstream_dataset"])
    long["model"] = long["arch"] + "/" + long["name"].str.removesuffix(".pt")
    long = long.merge(info[["name", "epochs", "lr", "url"]], on="name", how="left")
    long.insert(0, "source", "scaling_laws_openclip")
    tags = {}
    for arch, data, seen in long[["arch", "data", "samples_seen"]].drop_duplicates().itertuples(index=False):
        t = {**T.open_clip_arch(arch), "dataset_size": T.DATA_SIZES.get(data, np.nan),
             "samples_seen": float(seen), "finetuned": False, "finetune_data": None, "loss": "clip",
             "group": T.ZS_CLIP, "kind": "model", "prompts": None, "tagged": data != T.UNKNOWN}
        tags[(arch, data, seen)] = t
    tag_frame = pd.DataFrame([tags[k] for k in zip(long["arch"], long["data"], long["samples_seen"])])
    long = long.drop(columns=["samples_seen"]).reset_index(drop=True)
    out = pd.concat([long, tag_frame], axis=1)
    front = ["source", "model", "arch", "name", "data", "data_label", "samples_seen", "samples_seen_pretty",
             "dataset", "metric", "value"]
    return out[front + [c for c in out.columns if c not in front]]


def in_grid(frame: pd.DataFrame) -> pd.Series:
    """Rows of the controlled 3 x 3 x 3 grid (LAION data, B/32 B/16 L/14, 3B 13B 34B samples)."""
    return (frame["arch"].isin(GRID_ARCHS) & frame["data"].isin(GRID_DATA)
            & frame["samples_seen_pretty"].isin(GRID_SAMPLES))


def grid(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per grid model: ImageNet top-1, the shifts' top-1, and recall@5 on Flickr30k and MSCOCO
    in both directions plus their mean (`recall@5`). Columns also: arch, data, samples_seen_pretty."""
    g = frame[in_grid(frame)]
    acc = g[(g["metric"] == "acc1") & g["dataset"].isin(["imagenet", *SHIFTS])].pivot_table(
        index="model", columns="dataset", values="value", aggfunc="first")
    ret = g[g["dataset"].isin(RETRIEVAL) & g["metric"].str.endswith("retrieval_recall@5")].copy()
    ret["col"] = ret["dataset"] + " " + ret["metric"]
    r = ret.pivot_table(index="model", columns="col", values="value", aggfunc="first")
    r["recall@5"] = r.mean(axis=1)
    info = g.drop_duplicates("model").set_index("model")[["arch", "data", "data_label", "samples_seen",
                                                          "samples_seen_pretty", "epochs", "dataset_size"]]
    out = info.join(acc).join(r).reset_index()
    out["data"] = pd.Categorical(out["data"], GRID_DATA, ordered=True)
    out["samples_seen_pretty"] = pd.Categorical(out["samples_seen_pretty"], GRID_SAMPLES, ordered=True)
    out["arch"] = pd.Categorical(out["arch"], GRID_ARCHS, ordered=True)
    return out.sort_values(["arch", "data", "samples_seen_pretty"], ignore_index=True)


def grid_er(grid_frame: pd.DataFrame, timm: pd.DataFrame, shifts=SHIFTS) -> pd.DataFrame:
    """Effective robustness of each grid model on each shift, against the logit-linear line of timm's
    ImageNet models (the line `records.natural_shift_er` uses). Adds er_<shift> columns and `er` (mean)."""
    from ..metrics import effective_robustness

    t = timm[(timm["group"] == T.IMAGENET) & (timm["metric"] == "acc1")]
    tw = t.pivot_table(index="model", columns="dataset", values="value", aggfunc="first")
    out = grid_frame.copy()
    for s in shifts:
        base = tw[["imagenet", s]].dropna()
        er, _ = effective_robustness(out["imagenet"].to_numpy(), out[s].to_numpy(), base["imagenet"].to_numpy(),
                                     base[s].to_numpy())
        out[f"er_{s}"] = er
    out["er"] = out[[f"er_{s}" for s in shifts]].mean(axis=1)
    return out
