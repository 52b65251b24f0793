"""Named lab sets (training and evaluation), built from the world, rendered, and cached on disk.

Each evaluation set changes only what its name says relative to `lab-val` (see SET_NAMES / DESCRIPTIONS).
Cache: cache_root()/lab/sets/<store key name>.pt (`clipstudy.store.lab_set_key`: name, config, n, seed, size,
WORLD_VERSION), published atomically by the store; a file that fails to load or validate is rebuilt.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from ..config import cache_root
from ..store import Key, atomic_save, discard, lab_set_key, safe_load
from ..errors import ClipstudyError, UnknownNameError
from ..tasks import LAB_SETS
from . import captions as cap
from .corrupt import CORRUPTIONS, CORRUPTIONS_3D, SEVERITIES, corrupt
from .render import CAM_Z, object_to_camera, project, render, texture_ink
from .world import (BACKGROUNDS, COLORS, PATTERNS, STYLES, TEXTURES, WORLD_VERSION, WorldConfig, sample_scenes,
                    views)

DESCRIPTIONS = {
    "lab-train": "training images, 3 captions each (training templates); n is the size knob",
    "lab-val": "in-distribution held-out scenes",
    "lab-v2": "fresh scenes from the same distribution (another seed)",
    "lab-sketch": "the lab-val scenes drawn as edge sketches (only style changes)",
    "lab-silhouette": "the lab-val scenes as filled silhouettes (only style changes)",
    "lab-cue-conflict": "shape A with the texture typical of class B != A (columns shape_label, texture_label)",
    "lab-factors": "one factor pushed out of training range at a time (column factor; 'none' = control)",
    "lab-3dcc": "depth-aware 3D corruptions and 2D ones at severities 1..5 (+ clean, severity 0)",
    "lab-ood": "near-OOD (held-out shapes) and far-OOD (pure texture / noise images); label -1, column ood",
    "lab-retrieval": "images with 5 captions each from held-out templates",
    "lab-multiview": "pairs of views of one object; extras['correspondences'][k] = [K,4] (row_a,col_a,row_b,col_b)",
}
SET_NAMES: tuple[str, ...] = tuple(DESCRIPTIONS)
# the evaluation sets, in order, and the task an axis reads each as: the one list (`clipstudy.tasks.LAB_SETS`, a
# leaf, so that the configuration and the runner read it without the lab); lab-train and lab-multiview have none
TASK: dict[str, str] = dict(LAB_SETS)
if set(TASK) - set(SET_NAMES):
    raise ClipstudyError(f"clipstudy.tasks.LAB_SETS names sets without a description (lab.sets.DESCRIPTIONS): "
                         f"{sorted(set(TASK) - set(SET_NAMES))}")
# Default sizes: n = images, except lab-factors (scenes per factor incl. control), lab-3dcc (clean scenes;
# images = n * (1 + 8 corruptions * 5 severities)), lab-multiview (pairs; images = 2n).
DEFAULT_N = {
    "lab-train": 20000, "lab-val": 1200, "lab-v2": 1200, "lab-sketch": 1200, "lab-silhouette": 1200,
    "lab-cue-conflict": 1200, "lab-factors": 240, "lab-3dcc": 120, "lab-ood": 1200, "lab-retrieval": 1000,
    "lab-multiview": 300,
}
TRAIN_SIZES = (2000, 6000, 20000)  # the training-set-size factor spans 10x
DEFAULT_SEED = {
    "lab-train": 1, "lab-val": 2, "lab-v2": 3, "lab-sketch": 2, "lab-silhouette": 2, "lab-cue-conflict": 4,
    "lab-factors": 5, "lab-3dcc": 6, "lab-ood": 7, "lab-retrieval": 8, "lab-multiview": 9,
}
SHIFT_FACTORS = ("pose", "background", "texture", "color", "smaller", "larger", "partial_view", "occlusion",
                 "lighting", "style")
# the scene columns each shift may change (everything else equals the control row)
SHIFT_COLUMNS = {
    "pose": ("yaw", "pitch", "roll"), "background": ("background",), "texture": ("texture",), "color": ("color",),
    "smaller": ("size",), "larger": ("size",), "partial_view": ("x", "y"), "occlusion": ("occluder",),
    "lighting": ("light_el", "brightness"), "style": ("style",),
}
MEAN = (0.48145466, 0.4578275, 0.40821073)  # open_clip OPENAI_DATASET_MEAN / STD: what a lab CLIP's
STD = (0.26862954, 0.26130258, 0.27577711)  # default preprocess normalises with


@dataclass
class LabSet:
    """A rendered lab set. factors has one row per image; captions[i] is a list of >= 1 caption."""

    name: str
    images: torch.Tensor  # uint8 [N,3,H,W]
    labels: torch.Tensor  # long [N]; -1 for OOD images
    factors: pd.DataFrame
    captions: list[list[str]]
    classnames: list[str]
    extras: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def dataset_id(self) -> str:
        """The set's id in feature keys: its store key's name (name, world config, n, seed, image size)."""
        from .world import WorldConfig

        m = self.meta
        cfg = WorldConfig(**m["config"]) if isinstance(m.get("config"), dict) else WorldConfig()
        return cache_key(self.name, cfg, m["n"], m["seed"], m["size"], m.get("levels")).name

    def dataset(self, transform: Callable | None = None) -> "LabDataset":
        """Engine-protocol Dataset: item i -> (image, label, key).

        transform=None gives a float tensor [3,H,W] normalised with MEAN/STD at the native size; a callable is
        applied to a PIL image (like torchvision datasets), e.g. an open_clip `preprocess`.
        """
        return LabDataset(self, transform)

    def texts(self) -> tuple[list[str], list[list[int]]]:
        """All captions flattened, and for each image the indices of its captions (for retrieval_recall)."""
        flat, idx = [], []
        for cs in self.captions:
            idx.append(list(range(len(flat), len(flat) + len(cs))))
            flat.extend(cs)
        return flat, idx

    def normalised(self, idx=slice(None)) -> torch.Tensor:
        """Float images [n,3,H,W] normalised like `dataset()` (fast path for training loops)."""
        x = self.images[idx].float() / 255
        return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


class LabDataset(torch.utils.data.Dataset):
    def __init__(self, labset: LabSet, transform: Callable | None = None):
        self.labset, self.transform = labset, transform
        self.classnames = list(labset.classnames)  # the engine's zero-shot head reads these
        self._mean, self._std = torch.tensor(MEAN)[:, None, None], torch.tensor(STD)[:, None, None]

    def __len__(self) -> int:
        return len(self.labset)

    def __getitem__(self, i: int):
        img = self.labset.images[i]
        if self.transform is None:
            x = (img.float() / 255 - self._mean) / self._std
        else:
            from PIL import Image

            x = self.transform(Image.fromarray(img.permute(1, 2, 0).numpy()))
        return x, int(self.labset.labels[i]), f"{self.labset.name}/{i:06d}"


# ---------------------------------------------------------------- builders
def _basic(name, config, n, seed, size, *, style=None, per_image=1, templates=cap.TRAIN_TEMPLATES, p_omit=0.3):
    f = sample_scenes(n, config, seed)
    if style is not None:
        f["style"] = style
    r = render(f, size=size)
    return dict(images=r.image, labels=torch.tensor(f["label"].to_numpy()), factors=f,
                captions=cap.captions(f, seed, per_image=per_image, templates=templates, p_omit=p_omit))


def _cue_conflict(config, n, seed, size):
    f = sample_scenes(n, config, seed)
    rng = np.random.default_rng([seed, 31])
    k = len(config.classes)
    other = (f["label"].to_numpy() + rng.integers(1, k, n)) % k  # uniform over classes != own
    f["style"], f["occluder"] = "shaded", 0.0  # keep both cues visible
    f["texture"] = [config.typical_texture(config.classes[j]) for j in other]
    f["shape_label"] = f["label"]
    f["texture_label"] = other
    f["texture_class"] = [config.classes[j] for j in other]
    r = render(f, size=size)
    return dict(images=r.image, labels=torch.tensor(f["label"].to_numpy()), factors=f,
                captions=cap.captions(f, seed))


def _outside(lo, hi, rng, n, cfg_range, name):
    if not (hi < cfg_range[0] or lo > cfg_range[1]):
        raise ValueError(f"cannot shift {name}: the shifted range {(lo, hi)} overlaps the training range {cfg_range}")
    return rng.uniform(lo, hi, n)


def shift(frame: pd.DataFrame, factor: str, config: WorldConfig, seed: int = 0) -> pd.DataFrame:
    """Push one factor of every scene out of the config's training range (only SHIFT_COLUMNS[factor] change)."""
    if factor not in SHIFT_FACTORS:
        raise UnknownNameError("lab factor", factor, list(SHIFT_FACTORS))
    rng = np.random.default_rng([seed, SHIFT_FACTORS.index(factor), 53])
    f, n = frame.copy(), len(frame)

    def pick(kind, pool, used):
        left = [v for v in pool if v not in used]
        if not left:
            raise ValueError(f"cannot shift {kind}: the config already uses every value ({list(pool)})")
        return np.array(left)[rng.integers(0, len(left), n)]

    if factor == "pose":
        tilt = rng.random(n) < 0.5  # either tilted steeply (pitch) or turned upside down (roll)
        sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        lo = max(abs(config.pitch[0]), abs(config.pitch[1])) + 30
        f.loc[tilt, "pitch"] = (sign * rng.uniform(lo, max(lo, 85), n))[tilt]
        lo = max(abs(config.roll[0]), abs(config.roll[1])) + 90
        f.loc[~tilt, "roll"] = (sign * rng.uniform(min(lo, 180), 180, n))[~tilt]
    elif factor == "background":
        f["background"] = pick("background", BACKGROUNDS, config.backgrounds)
    elif factor == "texture":
        f["texture"] = pick("texture", TEXTURES, config.textures)
    elif factor == "color":
        f["color"] = pick("color", tuple(COLORS), config.colors)
    elif factor == "style":
        f["style"] = pick("style", STYLES, config.styles)
    elif factor == "smaller":
        f["size"] = _outside(config.size[0] * 0.4, config.size[0] * 0.65, rng, n, config.size, "size")
    elif factor == "larger":
        f["size"] = _outside(config.size[1] * 1.3, config.size[1] * 1.55, rng, n, config.size, "size")
    elif factor == "partial_view":
        # the centre near a border: part of the object is cut off
        horiz = rng.random(n) < 0.5
        off = np.where(rng.random(n) < 0.5, -1.0, 1.0) * rng.uniform(0.8, 0.95, n)
        for col, m in (("x", horiz), ("y", ~horiz)):
            if abs(off).min() <= max(abs(np.array(getattr(config, col)))):
                raise ValueError(f"cannot shift partial_view: training range {col}={getattr(config, col)} is too wide")
            f.loc[m, col] = off[m]
    elif factor == "occlusion":
        f["occluder"] = _outside(max(0.45, config.occluder[1] + 0.15), max(0.65, config.occluder[1] + 0.3), rng, n,
                                 config.occluder, "occluder")
    elif factor == "lighting":
        f["brightness"] = _outside(config.brightness[0] * 0.3, config.brightness[0] * 0.45, rng, n,
                                   config.brightness, "brightness")
        f["light_el"] = _outside(-70.0, -30.0, rng, n, config.light_el, "light_el")
    return f


def _factors(config, n, seed, size):
    base = sample_scenes(n, config, seed)
    base["scene"] = np.arange(n)
    frames = [base.assign(factor="none")]
    frames += [shift(base, fac, config, seed).assign(factor=fac) for fac in SHIFT_FACTORS]
    f = pd.concat(frames, ignore_index=True)
    r = render(f, size=size)
    return dict(images=r.image, labels=torch.tensor(f["label"].to_numpy()), factors=f, captions=cap.captions(f, seed))


def _3dcc(config, n, seed, size, levels: dict[str, list[float]] | None = None):
    """`levels` maps a 3D corruption to its strength at severities 1..5 (`clipstudy.lab.severity`
    calibrates them); without it, severity s is level s. The frame's `level` column says which was used."""
    base = sample_scenes(n, config, seed)
    base["style"] = "shaded"
    base["scene"] = np.arange(n)
    r = render(base, size=size)
    imgs, frames = [r.image], [base.assign(corruption="none", severity=0, level=0.0)]
    for c in CORRUPTIONS:
        for s in SEVERITIES:
            lv = float(levels[c][s - 1]) if levels and c in levels else float(s)
            imgs.append(corrupt(r.image, r.depth if c in CORRUPTIONS_3D else None, c, s, lv if c in CORRUPTIONS_3D else None))
            frames.append(base.assign(corruption=c, severity=s, level=lv))
    f = pd.concat(frames, ignore_index=True)
    return dict(images=torch.cat(imgs), labels=torch.tensor(f["label"].to_numpy()), factors=f,
                captions=cap.captions(f, seed), extras={"depth": r.depth_filled()})


def _ood(config, n, seed, size):
    n_near = n // 2
    n_far = n - n_near
    near = sample_scenes(n_near, config, seed, shapes=config.held_out)
    r = render(near, size=size)
    near = near.assign(ood="near", kind="held_out_shape")
    # far: full-frame texture patches (half) and noise images (half), no object
    rng = np.random.default_rng([seed, 77])
    n_tex = n_far // 2
    v, u = torch.meshgrid(1 - (torch.arange(size) + 0.5) / size * 2, (torch.arange(size) + 0.5) / size * 2 - 1,
                          indexing="ij")
    tex_names = np.array(PATTERNS)[rng.integers(0, len(PATTERNS), n_tex)]
    colors = np.array(list(COLORS))[rng.integers(0, len(COLORS), n_tex)]
    far_imgs = []
    from .render import _rot, ink_color

    for i in range(n_tex):
        R = torch.tensor(_rot(*rng.uniform(0, 360, 3)), dtype=torch.float32)
        scale = rng.uniform(0.6, 1.2)
        p = torch.stack([u, v, torch.zeros_like(u)], -1).reshape(-1, 3) @ R.T * scale
        ink = texture_ink(str(tex_names[i]), p, torch.full((p.shape[0],), int(rng.integers(1 << 30))))
        base = torch.tensor(COLORS[colors[i]])
        img = base * (1 - ink[:, None]) + ink_color(base) * ink[:, None]
        far_imgs.append(img.reshape(size, size, 3).permute(2, 0, 1))
    noise = torch.from_numpy(rng.random((n_far - n_tex, 3, size // 8, size // 8)).astype(np.float32))
    noise = torch.nn.functional.interpolate(noise, size=(size, size), mode="bilinear", align_corners=False)
    noise = (noise + 0.25 * torch.from_numpy(rng.random((n_far - n_tex, 3, size, size)).astype(np.float32))) / 1.25
    far = torch.cat([torch.stack(far_imgs), noise]) if n_tex else noise
    far = (far.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    far_frame = pd.DataFrame({"ood": "far", "kind": ["texture"] * n_tex + ["noise"] * (n_far - n_tex),
                              "texture": list(tex_names) + [None] * (n_far - n_tex),
                              "color": list(colors) + [None] * (n_far - n_tex), "label": -1})
    f = pd.concat([near, far_frame], ignore_index=True)
    f["label"] = -1
    caps = cap.captions(near, seed) + [["a texture."] if k == "texture" else ["noise."] for k in far_frame["kind"]]
    return dict(images=torch.cat([r.image, far]), labels=torch.full((len(f),), -1, dtype=torch.long), factors=f,
                captions=caps)


def correspondences(coords_a, mask_a, coords_b, mask_b, depth_b, scene_b: pd.DataFrame, camera: str = "ortho",
                    tol: float = 0.06) -> torch.Tensor:
    """Pixels of view A whose 3D point (object space) is visible in view B: [K,4] (row_a, col_a, row_b, col_b).

    coords/mask/depth are one view's Render fields ([3,H,W], [H,W], [H,W]); scene_b is B's 1-row scene frame.
    """
    size = mask_a.shape[-1]
    ra, ca = mask_a.nonzero(as_tuple=True)
    p = coords_a[:, ra, ca].T  # [K,3] object space
    cam = object_to_camera(p[None], scene_b)[0]
    rc = project(cam, size, camera).round().long()
    rb, cb = rc[:, 0], rc[:, 1]
    inb = (rb >= 0) & (rb < size) & (cb >= 0) & (cb < size)
    rb, cb = rb.clamp(0, size - 1), cb.clamp(0, size - 1)
    dist = (cam - torch.tensor([0.0, 0.0, CAM_Z])).norm(dim=1) if camera == "perspective" else CAM_Z - cam[:, 2]
    vis = inb & mask_b[rb, cb] & ((depth_b[rb, cb] - dist).abs() < tol)
    return torch.stack([ra[vis], ca[vis], rb[vis], cb[vis]], 1).to(torch.int16)


def _multiview(config, n, seed, size):
    base = sample_scenes(n, config, seed)
    base["style"], base["occluder"] = "shaded", 0.0
    rng = np.random.default_rng([seed, 13])
    dyaw = np.where(rng.random(n) < 0.5, -1, 1) * rng.uniform(15, 45, n)
    dpitch = rng.uniform(-10, 10, n)
    f = views(base, np.stack([np.zeros(n), dyaw], 1), np.stack([np.zeros(n), dpitch], 1))
    r = render(f, size=size)
    corr = [correspondences(r.coords[2 * k], r.mask[2 * k], r.coords[2 * k + 1], r.mask[2 * k + 1],
                            r.depth[2 * k + 1], f.iloc[[2 * k + 1]]) for k in range(n)]
    return dict(images=r.image, labels=torch.tensor(f["label"].to_numpy()), factors=f, captions=cap.captions(f, seed),
                extras={"coords": r.coords.half(), "mask": r.mask, "depth": r.depth_filled(), "correspondences": corr})


def _builder(name):
    return {
        "lab-train": lambda c, n, s, z: _basic(name, c, n, s, z, per_image=3),
        "lab-val": lambda c, n, s, z: _basic(name, c, n, s, z),
        "lab-v2": lambda c, n, s, z: _basic(name, c, n, s, z),
        "lab-sketch": lambda c, n, s, z: _basic(name, c, n, s, z, style="edges"),
        "lab-silhouette": lambda c, n, s, z: _basic(name, c, n, s, z, style="silhouette"),
        "lab-cue-conflict": _cue_conflict,
        "lab-factors": _factors,
        "lab-3dcc": _3dcc,
        "lab-ood": _ood,
        "lab-retrieval": lambda c, n, s, z: _basic(name, c, n, s, z, per_image=5, templates=cap.HELDOUT_TEMPLATES,
                                                   p_omit=0.15),
        "lab-multiview": _multiview,
    }[name]


# ---------------------------------------------------------------- cache
def cache_key(name: str, config: WorldConfig, n: int, seed: int, size: int,
              levels: dict[str, list[float]] | None = None) -> Key:
    """The store key of a lab set (its name is also the set's dataset id in feature keys)."""
    levels = {c: [round(float(v), 4) for v in lv] for c, lv in sorted(levels.items())} if levels else None
    return lab_set_key(name, config.to_dict(), n, seed, size, WORLD_VERSION, levels)


def cache_path(name: str, config: WorldConfig, n: int, seed: int, size: int,
               levels: dict[str, list[float]] | None = None) -> Path:
    return cache_root() / "lab" / "sets" / f"{cache_key(name, config, n, seed, size, levels).name}.pt"


def _frame_to_dict(f: pd.DataFrame) -> dict:
    def py(x):  # numpy scalars are not allowed by torch.load(weights_only=True)
        return x.item() if isinstance(x, np.generic) else x

    return {"columns": list(f.columns), "data": {c: [py(x) for x in f[c].tolist()] for c in f.columns}}


def _save(path: Path, ls: LabSet) -> None:
    blob = {"name": ls.name, "images": ls.images, "labels": ls.labels, "factors": _frame_to_dict(ls.factors),
            "captions": ls.captions, "classnames": ls.classnames, "extras": ls.extras, "meta": ls.meta}
    atomic_save(blob, path)


def _load(path: Path) -> LabSet | None:
    """The cached set, or None when absent or damaged (a damaged or inconsistent file is discarded)."""
    blob = safe_load(path)
    if blob is None:
        return None
    try:
        return _from_blob(path, blob)
    except (KeyError, TypeError, ValueError, AttributeError):  # readable, but not a whole lab set
        discard(path)
        return None


def _from_blob(path: Path, blob: dict) -> LabSet:
    fd = blob["factors"]
    f = pd.DataFrame(fd["data"], columns=fd["columns"])
    ls = LabSet(blob["name"], blob["images"], blob["labels"], f, blob["captions"], blob["classnames"],
                blob["extras"], blob["meta"])
    n = len(ls.images)
    if not (ls.images.dtype == torch.uint8 and ls.images.ndim == 4 and len(ls.labels) == n == len(f) == len(ls.captions)):
        raise ValueError(f"inconsistent cached set {path}")
    return ls


def build(name: str, config: WorldConfig = WorldConfig(), n: int | None = None, seed: int | None = None, *,
          size: int = 64, cache: bool = True, levels: dict[str, list[float]] | None = None) -> LabSet:
    """Build (or load from cache) the named lab set. n and seed default to DEFAULT_N / DEFAULT_SEED.

    Evaluation sets read `config` to know what is in range: build them with the BASE config (the default)
    so that models trained under different recipes are compared on the same images. `levels` (lab-3dcc
    only) are the calibrated 3D corruption strengths per severity (`clipstudy.lab.severity`).
    """
    if levels and name != "lab-3dcc":
        raise ValueError(f"levels apply to lab-3dcc only, not {name}")
    if name not in SET_NAMES:
        raise UnknownNameError("lab set", name, list(SET_NAMES))
    n = DEFAULT_N[name] if n is None else int(n)
    seed = DEFAULT_SEED[name] if seed is None else int(seed)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    path = cache_path(name, config, n, seed, size, levels)
    if cache and path.exists():
        hit = _load(path)  # a corrupt or partial file is rebuilt, never trusted
        if hit is not None:
            return hit
        warnings.warn(f"rebuilding lab set {name}: cached file {path} was damaged (removed)")
    t0 = time.time()
    parts = _3dcc(config, n, seed, size, levels) if levels else _builder(name)(config, n, seed, size)
    f = parts["factors"].reset_index(drop=True)
    ls = LabSet(name, parts["images"].contiguous(), parts["labels"].long(), f, parts["captions"],
                cap.classnames(config), parts.get("extras", {}),
                {"n": n, "seed": seed, "size": size, "config": config.to_dict(), "world_version": WORLD_VERSION,
                 "build_s": round(time.time() - t0, 3), **({"levels": levels} if levels else {})})
    if cache:
        _save(path, ls)
    return ls


def build_all(config: WorldConfig = WorldConfig(), *, sizes: dict | None = None, progress: bool = True,
              cache: bool = True) -> dict[str, LabSet]:
    """Every named set at its default (or given) size; lab-train uses `config`, as do the others."""
    sizes = {**DEFAULT_N, **(sizes or {})}
    names = SET_NAMES
    if progress:
        from tqdm.auto import tqdm

        names = tqdm(names, desc="lab sets")
    return {nm: build(nm, config, sizes[nm], cache=cache) for nm in names}


def example_grid(labsets: dict[str, LabSet], path, per_set: int = 14, scale: int = 2) -> Path:
    """Save a PNG with one row of example images per set (name on the left); returns the path."""
    from PIL import Image, ImageDraw

    rows = []
    for name, ls in labsets.items():
        f = ls.factors
        if name == "lab-factors":
            idx = [int(np.nonzero((f["factor"] == fac).to_numpy())[0][0]) for fac in ("none",) + SHIFT_FACTORS]
        elif name == "lab-3dcc":
            idx = [0] + [int(np.nonzero(((f["corruption"] == c) & (f["severity"] == s)).to_numpy())[0][0])
                         for c in CORRUPTIONS for s in (3,)] + [int(np.nonzero(((f["corruption"] == c) & (
                             f["severity"] == 5)).to_numpy())[0][0]) for c in CORRUPTIONS[:5]]
        elif name == "lab-ood":
            kinds = f["kind"].to_numpy()
            idx = [int(i) for k in ("held_out_shape", "texture", "noise") for i in np.nonzero(kinds == k)[0][:per_set // 3 + 1]]
        else:
            idx = list(range(min(per_set, len(ls))))
        rows.append((name, ls.images[idx[:per_set]]))
    H = rows[0][1].shape[-1] * scale
    label_w = 130
    canvas = Image.new("RGB", (label_w + per_set * (H + 2), len(rows) * (H + 2)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (name, imgs) in enumerate(rows):
        draw.text((4, r * (H + 2) + H // 2 - 6), name, fill="black")
        for c, img in enumerate(imgs):
            im = Image.fromarray(img.permute(1, 2, 0).numpy()).resize((H, H), Image.NEAREST)
            canvas.paste(im, (label_w + c * (H + 2), r * (H + 2)))
    path = Path(path)
    canvas.save(path)
    return path
