"""Calibrate the lab's 3D corruption strengths to the drops its 2D (ImageNet-C) severities cause.

The 2D corruptions keep ImageNet-C's five standard severities. On the base recipe (seed 0), each severity
s has a target drop: the mean, over the 2D corruptions, of clean minus corrupted zero-shot accuracy. Each
3D corruption's strength at severity s is the `corrupt.parameter` level at which the base model loses that
much. So at every severity the base model loses about as much to a 3D as to a 2D corruption, and a
difference between 3D and 2D robustness of another recipe is about the model, not about how strong the
corruptions happen to be.

Calibration uses scenes of their own (seed CAL_SEED), never the evaluation scenes of lab-3dcc. The table
is cached in the store (keyed by the base model's training key, the grid and this module's VERSION).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import store
from ..config import cache_root
from ..profiles import LAB, LabProfile
from .corrupt import CORRUPTIONS_2D, CORRUPTIONS_3D, MAX_LEVEL, SEVERITIES, corrupt

VERSION = 1
CAL_SEED = 61  # lab-3dcc's evaluation scenes use seed 6
GRID = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.5, 8.0, 10.0, 12.5, 15.0, 20.0, MAX_LEVEL)


def drop_curve(levels: np.ndarray, drops: np.ndarray) -> np.ndarray:
    """The drop as a non-decreasing function of the level (running maximum), so it can be inverted."""
    return np.maximum.accumulate(np.asarray(drops, float))


def invert(target: float, levels, drops) -> tuple[float, bool]:
    """The smallest level whose (monotone) drop reaches `target`, linearly interpolated between grid
    points; (level, reached). A target beyond the largest drop gives the largest level and reached=False."""
    lv = np.asarray(levels, float)
    d = drop_curve(lv, drops)
    if target <= d[0]:
        return float(lv[0] * max(target, 0.0) / d[0]) if d[0] > 0 else float(lv[0]), True
    if target > d[-1]:
        return float(lv[-1]), False
    i = int(np.argmax(d >= target))  # first grid point at or above the target
    lo, hi = d[i - 1], d[i]
    w = 0.0 if hi == lo else (target - lo) / (hi - lo)
    return float(lv[i - 1] + w * (lv[i] - lv[i - 1])), True


def _accuracy(loaded, images: torch.Tensor, labels: torch.Tensor, head: torch.Tensor, batch: int = 512) -> float:
    hits = 0
    with torch.no_grad():
        for s in range(0, len(images), batch):
            f = F.normalize(loaded.model.encode_image(loaded.preprocess(images[s:s + batch])).float(), dim=-1)
            hits += int(((f @ head).argmax(1) == labels[s:s + batch]).sum())
    return hits / max(1, len(images))


def measure(loaded, images: torch.Tensor, depth: torch.Tensor, labels: torch.Tensor, classnames: list[str],
            grid=GRID) -> pd.DataFrame:
    """Zero-shot accuracy (ensemble prompts) of `loaded` on `images` clean, under every 2D corruption at
    each severity, and under every 3D corruption at each grid level. Columns: corruption, kind, severity,
    level, accuracy, drop."""
    head = _head(loaded, classnames)
    clean = _accuracy(loaded, images, labels, head)
    rows = [dict(corruption="none", kind="clean", severity=0, level=0.0, accuracy=clean)]
    for c in CORRUPTIONS_2D:
        for s in SEVERITIES:
            rows.append(dict(corruption=c, kind="2D", severity=s, level=float(s),
                             accuracy=_accuracy(loaded, corrupt(images, None, c, s), labels, head)))
    for c in CORRUPTIONS_3D:
        for lv in grid:
            rows.append(dict(corruption=c, kind="3D", severity=np.nan, level=float(lv),
                             accuracy=_accuracy(loaded, corrupt(images, depth, c, 5, lv), labels, head)))
    out = pd.DataFrame(rows)
    out["drop"] = clean - out["accuracy"]
    return out


def calibrate(measured: pd.DataFrame) -> pd.DataFrame:
    """From `measure`'s frame: per (3D corruption, severity) the target drop (mean 2D drop at that
    severity), the calibrated level and whether the grid reached it. Columns: corruption, severity,
    target_drop, level, reached."""
    two = measured[measured["kind"] == "2D"].groupby("severity")["drop"].mean()
    rows = []
    for c in CORRUPTIONS_3D:
        curve = measured[(measured["corruption"] == c)].sort_values("level")
        for s in SEVERITIES:
            target = float(two.loc[s])
            lv, ok = invert(target, curve["level"].to_numpy(), curve["drop"].to_numpy())
            rows.append(dict(corruption=c, severity=s, target_drop=target, level=lv, reached=ok))
    t = pd.DataFrame(rows)
    # severities must stay ordered: a later severity is never weaker than an earlier one
    t["level"] = t.groupby("corruption")["level"].cummax()
    return t


def levels_of(table: pd.DataFrame) -> dict[str, list[float]]:
    """{3D corruption: [level at severity 1..5]} for `sets.build(..., levels=...)`."""
    return {c: [round(float(v), 4) for v in g.sort_values("severity")["level"]] for c, g in table.groupby("corruption")}


def _path(p: LabProfile, key: str) -> Path:
    return cache_root() / "lab" / "severity" / f"{p.name}-{key}.json"


def table(p: LabProfile = LAB, device: str = "cpu", progress: bool = False) -> pd.DataFrame:
    """The calibration table of lab profile `p` (cached): `calibrate(measure(...))` on the base recipe, seed 0,
    over `p.severity_scenes` scenes, with columns `achieved_drop` (the base model's drop at the calibrated level,
    on the calibration scenes) added. Trains the base recipe first if it is missing."""
    from . import zoo as lab_zoo
    from .render import render
    from .world import WorldConfig, sample_scenes

    n = p.severity_scenes
    key = store.severity_key(lab_zoo.model_key(lab_zoo.recipe("base"), p), list(GRID), n, CAL_SEED, p.image_size,
                             VERSION).digest()
    path = _path(p, key)
    hit = store.load_json(path, required=("table",))  # a damaged table is discarded and recomputed, never trusted
    if hit is not None:
        return pd.DataFrame(hit["table"])
    loaded = lab_zoo.load("base", device=device, profile=p, progress=progress)
    scenes = sample_scenes(n, WorldConfig(), CAL_SEED)
    scenes["style"] = "shaded"
    r = render(scenes, size=p.image_size)
    from . import captions as cap

    labels = torch.tensor(scenes["label"].to_numpy())
    m = measure(loaded, r.image, r.depth, labels, cap.classnames())
    t = calibrate(m)
    head, clean = _head(loaded, cap.classnames()), float(m.loc[m["corruption"] == "none", "accuracy"].iloc[0])
    t["achieved_drop"] = [clean - _accuracy(loaded, corrupt(r.image, r.depth, row.corruption, row.severity, row.level),
                                            labels, head) for row in t.itertuples()]
    t.insert(0, "n_scenes", n)
    store.atomic_write_text(json.dumps(dict(key=key, table=t.to_dict("records"))), path)
    return t


def _head(loaded, classnames: list[str]) -> torch.Tensor:
    """The ensemble-prompt zero-shot head, the one lab-3dcc is scored with. In fp32 whatever the build's
    precision: the calibration defines lab-3dcc's levels (a data set), and its cache key names no precision."""
    from ..encode import zero_shot_head
    from . import captions as cap

    return zero_shot_head(loaded.model, loaded.tokenizer, classnames, list(cap.ZS_TEMPLATES), precision="fp32",
                          progress=False)


def levels(p: LabProfile = LAB, device: str = "cpu") -> dict[str, list[float]]:
    """The calibrated 3D strengths of lab profile `p`, as `sets.build(..., levels=...)` takes them."""
    return levels_of(table(p, device))
