"""The robustness testbed of Taori et al. (NeurIPS 2020, "Measuring robustness to natural distribution shifts in image
classification"), `imagenet_testbed/robustness_top1s.csv`: 338 models x 213 test sets, top-1 in percent.

Columns (test sets): `val` (ImageNet), `imagenetv2-*`, `imagenet-a`, `imagenet-r`, `imagenet-sketch`,
`objectnet-1.0-beta`, `imagenet-c.<corruption>.<severity>_{in-memory,on-disk}`, `stylized_imagenet`, `greyscale`,
video-frame robustness (`imagenet-vid-robust_*`, `ytbb-robust_*`), PGD attacks and `val-on-<set>-classes` (ImageNet
restricted to a shift's classes). Two rows are zero-shot OpenAI CLIPs (`vit_b_32_clip_zeroshot`,
`resnet50_clip_zeroshot`); the rest are the ImageNet models the effective-robustness line is fitted over. Each
model's type (standard, robustness intervention, more data, ...) is imagenet-x's `model_types_map`, which names
all 338.
"""
from __future__ import annotations

import re

import pandas as pd

from . import tags as T
from .schema import _fail, read_table
from .sources import require

FOLDER = "imagenet_testbed"
FILE = "robustness_top1s.csv"
# the test sets the study names, in the project's spelling (the rest keep the testbed's column name)
DATASETS = {"val": "imagenet", "imagenetv2-matched-frequency": "imagenet-v2", "imagenet-sketch": "imagenet-sketch",
            "imagenet-r": "imagenet-r", "imagenet-a": "imagenet-a", "objectnet-1.0-beta": "objectnet"}
SCHEMA = {"model": "str", **{c: "num" for c in DATASETS}}
_C = re.compile(r"^imagenet-c\.(?P<corruption>[a-z_]+)\.(?P<severity>[1-5])_(?P<variant>in-memory|on-disk)$")
CLIPS = {"vit_b_32_clip_zeroshot": "ViT-B-32", "resnet50_clip_zeroshot": "RN50"}  # zero-shot OpenAI CLIPs
NOT_NETWORKS = ("Random Features", "Linear Classifier on Pixels", "Random Forests", "Nearest Neighbors")
# imagenet-x model types trained on ImageNet-1k alone (the rest: more data, or not a network)
IMAGENET_ONLY = ("Supervised on ImageNet-1K", "Robustness intervention", "Lp adversarially robust",
                 "Self-supervised", "Low Accuracy CNN")


def testbed_tags(name: str, model_type: str | None) -> dict:
    """The two zero-shot CLIPs get open_clip's tags of `<arch>/openai`; every other model is an ImageNet model whose
    data is ImageNet-1k where its imagenet-x type says it trained on ImageNet alone, else not recorded (None)."""
    from .tables import _open_clip_config

    if name in CLIPS:
        t = T.open_clip_tags(CLIPS[name], "openai", _open_clip_config(CLIPS[name]))
        return {**t, "arch": f"{CLIPS[name]}/openai"}
    data = "imagenet-1k" if model_type in IMAGENET_ONLY else None
    return {"family": T.family_from_name(name), "data": data, "dataset_size": T.DATA_SIZES.get(data, T.NAN),
            "samples_seen": T.NAN, "finetuned": False, "finetune_data": None, "loss": None, "resolution": T.NAN,
            "group": T.IMAGENET, "kind": "model", "prompts": None, "arch": name}


def column_info(col: str) -> dict:
    """A testbed column -> dataset (the project's name for the study's sets, else the column), corruption,
    severity and variant (ImageNet-C columns only)."""
    m = _C.match(col)
    if m:
        return {"dataset": "imagenet-c", "corruption": m.group("corruption"), "severity": int(m.group("severity")),
                "variant": m.group("variant")}
    return {"dataset": DATASETS.get(col, col), "corruption": None, "severity": None, "variant": None}


def load_testbed(root=None) -> pd.DataFrame:
    """Every filled cell of robustness_top1s.csv, tidy: source, model, column (the testbed's), dataset, corruption,
    severity, variant, metric ('acc1'), value (a fraction), table, model_type (imagenet-x's), the tag columns
    (`tags.TAG_COLUMNS`) and arch. Empty cells are dropped (not measured)."""
    from imagenet_x.model_types import model_types_map

    from .schema import number_columns

    path = require(FOLDER, root) / FILE
    wide = read_table(path, SCHEMA, verify=False)
    cols = [c for c in wide.columns if c != "model"]
    wide = number_columns(wide, [c for c in cols if c not in SCHEMA], path)
    for c in cols:
        bad = ~(wide[c].isna() | wide[c].between(0, 100))
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise _fail(path, {c: "num"}, f"column {c!r} should be a top-1 in percent (0-100), got "
                                          f"{wide[c].iloc[i]!r}", i + 1)
    dup = wide["model"].duplicated()
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise _fail(path, SCHEMA, f"a second row for model {wide['model'].iloc[i]!r}", i + 1)
    from .sources import check_published

    check_published(path, None, len(wide))  # after the checks above, whose errors name the row
    long = wide.melt(id_vars="model", value_vars=cols, var_name="column", value_name="value").dropna(subset=["value"])
    long["value"] = long["value"] / 100.0
    info = pd.DataFrame([column_info(c) for c in cols], index=cols)
    long = long.join(info, on="column")
    long["metric"], long["table"] = "acc1", "robustness_top1s"
    long.insert(0, "source", FOLDER)
    types = {m: (model_types_map[m].value if m in model_types_map else None) for m in wide["model"]}
    long["model_type"] = long["model"].map(types)
    tags = {m: testbed_tags(m, types[m]) for m in wide["model"]}
    tag_frame = pd.DataFrame([tags[m] for m in long["model"]])
    return pd.concat([long.reset_index(drop=True), tag_frame], axis=1)


def testbed_wide(frame: pd.DataFrame, columns=None) -> pd.DataFrame:
    """model x testbed column (fractions), with group, family and model_type: the form an ER refit reads.
    `columns` picks testbed columns (default: the study's sets, named as in `DATASETS`' values)."""
    f = frame if columns is None else frame[frame["column"].isin(list(columns))]
    if columns is None:
        f = f[f["column"].isin(list(DATASETS))]
        key = "dataset"
    else:
        key = "column"
    wide = f.pivot_table(index="model", columns=key, values="value", aggfunc="first")
    info = frame.drop_duplicates("model").set_index("model")[["group", "family", "model_type"]]
    return wide.join(info, how="left")


__all__ = ["load_testbed", "testbed_wide", "testbed_tags", "column_info", "DATASETS", "CLIPS", "NOT_NETWORKS",
           "IMAGENET_ONLY"]
