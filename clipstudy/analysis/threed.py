"""3D awareness (chapter 8): accuracy under 3D and 2D common corruptions, and cross-view correspondence of
the dense features of a vision tower.

Correspondence protocol (after El Banani et al. 2024, "Probing the 3D awareness of visual foundation
models"): for a pair of views of one object with known pixel correspondences (row_a, col_a) -> (row_b,
col_b), take the tower's dense feature map of each view, upsample it bilinearly to the image size, and
match every query pixel of view A to the most cosine-similar object pixel of view B. Correspondence
recall at radius r is the fraction of queries whose match lies within r pixels of the true one.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .effects import recipe_contrast

AXIS = "3D awareness"
RADII = (2, 4, 8)


# ------------------------------------------------------------------ corruptions
def corruption_accuracy(correct: Any, factors: pd.DataFrame, kinds: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Accuracy per (corruption, severity) from per-image correctness and the lab-3dcc factor rows.

    factors needs columns corruption ('none' = clean) and severity (0 = clean). The clean accuracy is
    repeated at severity 0 of every corruption so each curve starts from it. kinds maps a corruption to
    '3D' or '2D' (default: clipstudy.lab.corrupt.CORRUPTIONS_3D are 3D, the rest 2D).
    Columns: corruption, kind, severity, accuracy, n.
    """
    c = np.asarray(correct, dtype=float)
    if len(c) != len(factors):
        raise ValueError(f"{len(c)} correctness values but {len(factors)} factor rows")
    missing = {"corruption", "severity"} - set(factors.columns)
    if missing:
        raise ValueError(f"factors lacks column(s) {sorted(missing)} (expected the lab-3dcc factor rows)")
    if kinds is None:
        from ..lab.corrupt import CORRUPTIONS_3D

        kinds = {}
        default_3d = set(CORRUPTIONS_3D)
    else:
        default_3d = set()
    d = factors[["corruption", "severity"]].assign(correct=c)
    clean = d[d["corruption"] == "none"]
    if clean.empty:
        raise ValueError("no clean images (corruption 'none') to start the curves from")
    g = d[d["corruption"] != "none"].groupby(["corruption", "severity"])["correct"].agg(accuracy="mean", n="size")
    g = g.reset_index()
    starts = pd.DataFrame({"corruption": g["corruption"].unique(), "severity": 0,
                           "accuracy": clean["correct"].mean(), "n": len(clean)})
    out = pd.concat([starts, g], ignore_index=True)
    out["kind"] = [kinds.get(x, "3D" if x in default_3d else "2D") for x in out["corruption"]]
    out = out.sort_values(["kind", "corruption", "severity"], ignore_index=True)
    return out[["corruption", "kind", "severity", "accuracy", "n"]]


def kind_summary(table: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per (by..., kind): clean accuracy, mean corrupted accuracy over severities >= 1, and the drop
    (clean minus corrupted, in accuracy points as a fraction)."""
    by = list(by)
    rows = []
    for key, g in table.groupby(by + ["kind"]):
        key = key if isinstance(key, tuple) else (key,)
        clean = g.loc[g["severity"] == 0, "accuracy"].mean()
        corr = g.loc[g["severity"] > 0, "accuracy"].mean()
        rows.append(dict(zip(by + ["kind"], key), clean=clean, corrupted=corr, drop=clean - corr))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ dense features
def tower_of(model: Any) -> torch.nn.Module:
    """The vision tower of an open_clip CLIP or of a lab classifier (both keep it in `.visual`)."""
    v = getattr(model, "visual", None)
    if v is None or not hasattr(v, "forward_intermediates"):
        raise TypeError(f"{type(model).__name__} has no open_clip vision tower with forward_intermediates")
    return v


@torch.no_grad()
def dense_features(model: Any, x: torch.Tensor, stride: int = 8) -> tuple[torch.Tensor, dict]:
    """The deepest dense feature map [B, C, h, w] of the vision tower with at most `stride` pixels per cell.

    Uses open_clip's `forward_intermediates` (the same call for its ViT, ModifiedResNet and timm
    towers): a ViT gives its last block's patch tokens; a CNN gives the deepest stage that still has
    an (image size / stride) grid, so the architectures are compared at the same feature resolution.
    Returns (features, info with layer index, n_layers, grid and channels).
    """
    visual = tower_of(model)
    min_size = max(1, int(x.shape[-1]) // int(stride))
    out = visual.forward_intermediates(x, indices=None, intermediates_only=True)
    maps = out["image_intermediates"]
    ok = [i for i, m in enumerate(maps) if m.ndim == 4 and m.shape[-1] >= min_size and m.shape[-2] >= min_size]
    if not ok:
        raise ValueError(f"no feature map of the tower is at least {min_size}x{min_size} "
                         f"(sizes {[tuple(m.shape[-2:]) for m in maps]})")
    i = ok[-1]
    fm = maps[i].float()
    return fm, dict(layer=i, n_layers=len(maps), grid=int(fm.shape[-1]), channels=int(fm.shape[1]))


def pixel_features(images: torch.Tensor, patch: int = 3) -> torch.Tensor:
    """A no-learning baseline: each pixel described by its patch x patch RGB neighbourhood [B, 3*p*p, H, W]
    (uint8 or float images), centred per patch so that matching uses local pattern, not only colour."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    B, C, H, W = x.shape
    u = F.unfold(x, patch, padding=patch // 2).view(B, C * patch * patch, H, W)
    return torch.cat([u - u.mean(1, keepdim=True), u.mean(1, keepdim=True)], 1)


def match_errors(feat_a: torch.Tensor, feat_b: torch.Tensor, corr: Any, image_size: int,
                 mask_b: torch.Tensor | None = None, max_points: int | None = None, seed: int = 0) -> np.ndarray:
    """Pixel distance between the matched and the true point in view B, for each correspondence.

    feat_a, feat_b: [C, h, w] dense features of the two views; corr [K, 4] = (row_a, col_a, row_b,
    col_b) in image pixels; candidates in B are its object pixels (mask_b [H, W]) or every pixel.
    max_points subsamples the queries (seeded) to bound cost.
    """
    c = torch.as_tensor(np.asarray(corr), dtype=torch.long)
    if c.ndim != 2 or c.shape[1] != 4:
        raise ValueError(f"correspondences must be [K, 4] (row_a, col_a, row_b, col_b), got {tuple(c.shape)}")
    if feat_a.shape[0] != feat_b.shape[0]:
        raise ValueError(f"feature channels differ: {feat_a.shape[0]} vs {feat_b.shape[0]}")
    if len(c) == 0:
        return np.zeros(0)
    if max_points is not None and len(c) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(c), max_points, replace=False))
        c = c[torch.as_tensor(keep)]

    def up(f):
        f = f.float()[None]
        if f.shape[-1] != image_size or f.shape[-2] != image_size:
            f = F.interpolate(f, size=(image_size, image_size), mode="bilinear", align_corners=False)
        return F.normalize(f[0], dim=0)

    fa, fb = up(feat_a), up(feat_b)
    q = fa[:, c[:, 0], c[:, 1]].T  # [K, C]
    if mask_b is not None:
        rb, cb = torch.as_tensor(mask_b).bool().nonzero(as_tuple=True)
        if len(rb) == 0:
            raise ValueError("mask_b has no object pixel to match to")
    else:
        rb, cb = torch.meshgrid(torch.arange(image_size), torch.arange(image_size), indexing="ij")
        rb, cb = rb.reshape(-1), cb.reshape(-1)
    cand = fb[:, rb, cb]  # [C, M]
    best = (q @ cand).argmax(1)
    dr = (rb[best] - c[:, 2]).float()
    dc = (cb[best] - c[:, 3]).float()
    return torch.sqrt(dr ** 2 + dc ** 2).numpy()


def recall_at(errors: Any, radii: Sequence[float] = RADII) -> dict[str, float]:
    """{'recall@2px': .., ...}: fraction of matches within each radius (<=) of the true pixel."""
    e = np.asarray(errors, dtype=float)
    if e.size == 0:
        return {f"recall@{r:g}px": float("nan") for r in radii}
    return {f"recall@{r:g}px": float(np.mean(e <= r)) for r in radii}


def correspondence_table(features: torch.Tensor, pairs: Sequence[tuple[int, int]], correspondences: Sequence[Any],
                         image_size: int, masks: torch.Tensor | None = None, radii: Sequence[float] = RADII,
                         max_points: int | None = 64, seed: int = 0) -> pd.DataFrame:
    """Recall at each radius over all pairs: features [N, C, h, w] of every view; pairs[k] = (index of
    view A, index of view B) with correspondences[k]. One row per radius: radius, recall, n_points,
    n_pairs, median_error."""
    if len(pairs) != len(correspondences):
        raise ValueError(f"{len(pairs)} pairs but {len(correspondences)} correspondence arrays")
    errs = []
    for k, (a, b) in enumerate(pairs):
        errs.append(match_errors(features[a], features[b], correspondences[k], image_size,
                                 None if masks is None else masks[b], max_points, seed + k))
    e = np.concatenate(errs) if errs else np.zeros(0)
    rec = recall_at(e, radii)
    return pd.DataFrame([dict(radius=r, recall=rec[f"recall@{r:g}px"], n_points=len(e), n_pairs=len(pairs),
                              median_error=float(np.median(e)) if len(e) else float("nan")) for r in radii])


def recipe_effects(table: pd.DataFrame, factors: Mapping[str, str], value: str, metric: str, *,
                   base: str = "base", where: Mapping[str, Any] | None = None, source: str = "lab") -> pd.DataFrame:
    """Each recipe's `value` (mean over the rows matching `where`) minus the base recipe's."""
    return recipe_contrast(table, factors, value, metric, AXIS, base=base, where=where, source=source)


# ------------------------------------------------------------------ the lab runs
def lab_3dcc(recipes: Sequence[str], *, n_scenes: int, profile: str = "lab", device: str = "cpu",
             seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Zero-shot (ensemble prompts; a classifier uses its head) accuracy of every recipe on lab-3dcc, under
    each training seed in `seeds` (default: the recipe's own seed only).

    Columns: model, seed, arch, corruption, kind, severity, accuracy, n. With several seeds, `recipe_effects`
    gives intervals over seeds."""
    from ..lab import evaluate as lab_eval

    ls = lab_eval.labset("lab-3dcc", n_scenes, profile)
    parts = []
    for r in recipes:
        for sd in (list(seeds) if seeds is not None else [None]):
            loaded = lab_eval.load(r, profile, device, sd)
            zs = lab_eval.outputs(loaded, ls, "ensemble", device)
            correct = (zs.logits.argmax(1) == zs.labels).numpy()
            t = corruption_accuracy(correct, ls.factors)
            t.insert(0, "arch", loaded.spec.family)
            t.insert(0, "seed", sd if sd is not None else 0)
            t.insert(0, "model", r)
            parts.append(t)
    return pd.concat(parts, ignore_index=True)


@torch.no_grad()
def _features_of(loaded: Any, images: torch.Tensor, batch: int = 128, stride: int = 8):
    feats, info = [], {}
    for s in range(0, len(images), batch):
        f, info = dense_features(loaded.model, loaded.preprocess(images[s:s + batch]), stride)
        feats.append(f)
    return torch.cat(feats), info


def lab_correspondence(recipes: Sequence[str], *, n_pairs: int, profile: str = "lab", device: str = "cpu",
                       radii: Sequence[float] = RADII, max_points: int = 64, baseline: bool = True) -> pd.DataFrame:
    """Cross-view correspondence recall of each recipe's dense features on lab-multiview pairs.

    Views 2k and 2k+1 of the set are the two views of pair k. With `baseline`, a no-learning row
    ('pixels': 3x3 RGB patches) shows what raw appearance alone achieves.
    Columns: model, arch, layer, n_layers, grid, channels, radius, recall, n_points, n_pairs, median_error.
    """
    from ..lab import evaluate as lab_eval

    ls = lab_eval.labset("lab-multiview", n_pairs, profile)
    size = int(ls.images.shape[-1])
    corr = ls.extras["correspondences"]
    masks = ls.extras.get("mask")
    pairs = [(2 * k, 2 * k + 1) for k in range(len(corr))]
    parts = []
    if baseline:
        t = correspondence_table(pixel_features(ls.images), pairs, corr, size, masks, radii, max_points)
        parts.append(t.assign(model="pixels", arch="none", layer=-1, n_layers=0, grid=size, channels=28))
    for r in recipes:
        loaded = lab_eval.load(r, profile, device)
        feats, info = _features_of(loaded, ls.images)
        t = correspondence_table(feats, pairs, corr, size, masks, radii, max_points)
        parts.append(t.assign(model=r, arch=loaded.spec.family, **info))
    cols = ["model", "arch", "layer", "n_layers", "grid", "channels", "radius", "recall", "n_points", "n_pairs",
            "median_error"]
    return pd.concat(parts, ignore_index=True)[cols]


def live_3dcc(models: Sequence[str], *, device: str = "cpu", prompts: str = "openai80") -> pd.DataFrame:
    """Real checkpoints on ImageNet-3DCC: zero-shot top-1 per (model, corruption, severity).

    Columns: model, corruption, severity, accuracy, n. Unreadable images are skipped by the engine and
    left out of the counts (matched by key)."""
    from .. import datasets, zeroshot, zoo

    parts = []
    for m in models:
        loaded = zoo.load(m, device)
        ds = datasets.load("imagenet-3dcc", transform=loaded.preprocess)
        zs = zeroshot.run(loaded, ds, dataset_id="imagenet-3dcc", prompts=prompts, device=device, progress=False)
        f = ds.frame.set_index(ds.frame["key"].astype(str)).loc[[str(k) for k in zs.encoded.keys]]
        correct = (zs.logits.argmax(1) == zs.labels).numpy().astype(float)
        t = (f[["corruption", "severity"]].assign(correct=correct).groupby(["corruption", "severity"])["correct"]
             .agg(accuracy="mean", n="size").reset_index())
        t.insert(0, "model", m)
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
