"""72 ImageNet models from one CLIP: the records of Wortsman et al. (ICML 2022, "Model soups"), `model_soups/`.

`individual_model_results.jsonl` has one JSON line per model with its accuracy (a fraction) on `ImageNet2p` (2% of
ImageNet train, held out), `ImageNet`, `ImageNetV2`, `ImageNetSketch`, `ImageNetR`, `ObjectNet`, `ImageNetA`;
`hparam_info.json` each model's fine-tuning hyperparameters. All 72 start from OpenAI's CLIP ViT-B/32: `model_0` is
its linear probe (`hparam_info.json`: "LP initialization"), the other 71 fine-tune it end to end from there with a
random draw of learning rate, weight decay, epochs, label smoothing, mixup and RandAugment (`aug` "rand-m<M>-n<N>":
magnitude M, N operations; null: none).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import tags as T
from .schema import json_error, read_json, read_jsonl
from .sources import check_published, require

FOLDER = "model_soups"
RESULTS, HPARAMS = "individual_model_results.jsonl", "hparam_info.json"
# the source's columns -> the project's dataset names
DATASETS = {"ImageNet2p": "imagenet-2p", "ImageNet": "imagenet", "ImageNetV2": "imagenet-v2",
            "ImageNetSketch": "imagenet-sketch", "ImageNetR": "imagenet-r", "ObjectNet": "objectnet",
            "ImageNetA": "imagenet-a"}
SHIFTS = ("imagenet-v2", "imagenet-sketch", "imagenet-r", "objectnet", "imagenet-a")
HPARAM_KEYS = {"lr": "lr", "wd": "wd", "epochs": "epochs", "smoothing": "label_smoothing", "mix": "mixup",
               "aug": "aug"}
LP_INIT = "model_0"
PARENT = "ViT-B-32/openai"  # the zero-shot CLIP all 72 start from (open_clip's name)
RESULTS_EXPECTED = ('one JSON object per line: {"model_name": <name>, ' + ", ".join(f'"{k}": <accuracy in [0, 1]>'
                                                                                      for k in DATASETS) + "}")
HPARAMS_EXPECTED = ('{"<model name>": {"aug": "rand-m<M>-n<N>" or null, "wd": <number>, "lr": <number>, "mix": '
                    '<number>, "smoothing": <number>, "epochs": <integer>} or {"info": "LP initialization"}, ...}')
_AUG = re.compile(r"^rand-m(?P<m>\d+)-n(?P<n>\d+)$")
NO_AUG = "none"


def _number(path: Path, where: str, v, lo: float = -np.inf, hi: float = np.inf, what: str = "a number") -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise json_error(path, where, f"should be {what}, got {v!r}",
                         RESULTS_EXPECTED if path.name == RESULTS else HPARAMS_EXPECTED)
    return float(v)


def _results(path: Path) -> pd.DataFrame:
    rows, raw = read_jsonl(path, RESULTS_EXPECTED)
    out, seen = [], set()
    for row, obj in rows:
        where = f"row {row} (line {row})"
        if not isinstance(obj, dict) or set(obj) != {"model_name", *DATASETS}:
            got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise json_error(path, where, f"should hold model_name and {list(DATASETS)}, got {got}",
                             RESULTS_EXPECTED)
        name = obj["model_name"]
        if not isinstance(name, str) or not name.strip():
            raise json_error(path, where, f"model_name should be a name, got {name!r}", RESULTS_EXPECTED)
        if name in seen:
            raise json_error(path, where, f"a second line for {name!r}", RESULTS_EXPECTED)
        seen.add(name)
        out.append({"model": name, **{DATASETS[k]: _number(path, f"{where}, {k!r}", obj[k], 0, 1,
                                                           "an accuracy in [0, 1]") for k in DATASETS}, "_row": row})
    check_published(path, raw)
    return pd.DataFrame(out)


def _augment(path: Path, name: str, aug) -> tuple[str, float, float]:
    """('none' | 'rand-n<N>', magnitude, operations) of a RandAugment setting."""
    if aug is None:
        return NO_AUG, 0.0, 0.0
    m = _AUG.match(aug) if isinstance(aug, str) else None
    if not m:
        raise json_error(path, f"model {name!r}, 'aug'", f"should be rand-m<M>-n<N> or null, got {aug!r}",
                         HPARAMS_EXPECTED)
    return f"rand-n{m.group('n')}", float(m.group("m")), float(m.group("n"))


def _hparams(path: Path) -> pd.DataFrame:
    data, raw = read_json(path, HPARAMS_EXPECTED)
    if not isinstance(data, dict) or not data:
        raise json_error(path, "", "the top level should be an object of model names", HPARAMS_EXPECTED)
    out = []
    for name, h in data.items():
        where = f"model {name!r}"
        if not isinstance(h, dict):
            raise json_error(path, where, f"should be an object, got {type(h).__name__}", HPARAMS_EXPECTED)
        if set(h) == {"info"}:
            out.append({"model": name, "recipe": str(h["info"])})
            continue
        if set(h) != set(HPARAM_KEYS):
            raise json_error(path, where, f"should hold {sorted(HPARAM_KEYS)}, got {sorted(h)}", HPARAMS_EXPECTED)
        aug, mag, ops = _augment(path, name, h["aug"])
        ep = _number(path, f"{where}, 'epochs'", h["epochs"], 0, np.inf, "a number of epochs")
        out.append({"model": name, "recipe": "fine-tune", "lr": _number(path, f"{where}, 'lr'", h["lr"], 0, np.inf,
                                                                          "a positive learning rate"),
                    "wd": _number(path, f"{where}, 'wd'", h["wd"], 0), "epochs": ep,
                    "label_smoothing": _number(path, f"{where}, 'smoothing'", h["smoothing"], 0, 1),
                    "mixup": _number(path, f"{where}, 'mix'", h["mix"], 0), "aug": aug, "aug_magnitude": mag,
                    "aug_ops": ops, "aug_raw": h["aug"]})
    check_published(path, raw)
    return pd.DataFrame(out)


def soups_tags(recipe: str) -> dict:
    """Tag columns of a model-soups model: OpenAI's CLIP ViT-B/32 (open_clip's tags of `ViT-B-32/openai`), trained
    on ImageNet-1k afterwards (`finetune_recipe`: 'linear probe' for the LP initialisation, else 'end-to-end')."""
    from .tables import _open_clip_config

    t = T.open_clip_tags("ViT-B-32", "openai", _open_clip_config("ViT-B-32"))
    t.update(finetuned=True, finetune_data="imagenet-1k", group=T.CLIP_FT, kind="model", prompts=None)
    return {**t, "finetune_recipe": "linear probe" if recipe != "fine-tune" else "end-to-end", "parent": PARENT}


def load_soups(root=None) -> pd.DataFrame:
    """One row per model (72): model, accuracy (fractions) on imagenet-2p, imagenet, imagenet-v2, imagenet-sketch,
    imagenet-r, objectnet, imagenet-a; recipe (the hparams' "LP initialization" or "fine-tune"), lr, wd, epochs,
    label_smoothing, mixup, aug ('none' or 'rand-n<N>', the number of RandAugment operations), aug_magnitude,
    aug_ops, aug_raw (as published); the tag columns (`tags.TAG_COLUMNS`), finetune_recipe and parent. A model with
    results but no hyperparameters (or the reverse) is an error naming it."""
    from ..errors import SchemaError

    d = require(FOLDER, root)
    res, hp = _results(d / RESULTS), _hparams(d / HPARAMS)
    only_res, only_hp = sorted(set(res["model"]) - set(hp["model"])), sorted(set(hp["model"]) - set(res["model"]))
    if only_res or only_hp:
        raise SchemaError(f"{d}: {RESULTS} and {HPARAMS} name different models (only in {RESULTS}: {only_res[:5]}; "
                          f"only in {HPARAMS}: {only_hp[:5]}).\nExpected: one hyperparameter entry per model")
    df = res.merge(hp, on="model", how="left").sort_values("_row").drop(columns="_row").reset_index(drop=True)
    tags = pd.DataFrame([soups_tags(r) for r in df["recipe"]])
    df = pd.concat([df, tags], axis=1)
    df.insert(0, "source", FOLDER)
    return df


def soups_long(frame: pd.DataFrame) -> pd.DataFrame:
    """The accuracies of `load_soups` tidy: one row per (model, dataset) with metric 'acc1' and value."""
    ids = [c for c in frame.columns if c not in DATASETS.values()]
    long = frame.melt(id_vars=ids, value_vars=list(DATASETS.values()), var_name="dataset", value_name="value")
    long["metric"] = "acc1"
    return long


__all__ = ["load_soups", "soups_long", "soups_tags", "DATASETS", "SHIFTS", "LP_INIT", "PARENT", "NO_AUG"]
