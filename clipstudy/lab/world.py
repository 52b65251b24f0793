"""The lab world: factor vocabularies, the training-distribution config, and a seeded scene sampler.

A scene is one row of a pandas frame (columns = ``SCENE_COLUMNS``); every factor that the renderer
uses is a column, so a shift is a change of columns and nothing else.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import UnknownNameError

WORLD_VERSION = 2  # bump when the sampler or renderer changes what a seed produces (invalidates caches)

# 12 in-distribution shapes then 3 held out for near-OOD by default.
SHAPES: tuple[str, ...] = (
    "sphere", "cube", "cylinder", "cone", "torus", "capsule", "dumbbell", "mushroom",
    "table", "arrow", "pyramid", "lollipop", "snowman", "hourglass", "cross",
)
# Patterned textures come first: class i of a config is typically given PATTERNS[i % len(PATTERNS)].
PATTERNS: tuple[str, ...] = (
    "stripes", "checker", "dots", "blotches", "rings", "waves",
    "grid", "fine_stripes", "big_dots", "speckle", "zigzag", "bands",
)
HELDOUT_TEXTURES: tuple[str, ...] = ("camo", "hatch")
TEXTURES: tuple[str, ...] = ("plain",) + PATTERNS + HELDOUT_TEXTURES
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.15, 0.12), "green": (0.2, 0.7, 0.25), "blue": (0.15, 0.3, 0.9),
    "yellow": (0.95, 0.85, 0.15), "orange": (0.98, 0.55, 0.1), "purple": (0.55, 0.2, 0.75),
    "cyan": (0.15, 0.8, 0.85), "pink": (0.98, 0.5, 0.7),
    # held out of the default training colours (the "color" factor shift)
    "brown": (0.5, 0.3, 0.12), "gray": (0.55, 0.55, 0.55), "white": (0.95, 0.95, 0.95),
}
TRAIN_COLORS = ("red", "green", "blue", "yellow", "orange", "purple", "cyan", "pink")
BACKGROUNDS: tuple[str, ...] = ("plain", "gradient", "ground_sky", "clutter", "noisy", "tiles")
STYLES: tuple[str, ...] = ("shaded", "edges", "silhouette")

# Every factor column of a scene, in order. `label` is the index into config.classes (-1: held out).
SCENE_COLUMNS: tuple[str, ...] = (
    "shape", "label", "texture", "color", "background", "style",
    "yaw", "pitch", "roll", "size", "x", "y",
    "occluder", "occ_angle", "occ_offset",
    "light_az", "light_el", "brightness",
    "tex_seed", "bg_seed",
)
RANGE_FACTORS = ("yaw", "pitch", "roll", "size", "x", "y", "occluder", "light_az", "light_el", "brightness")


@dataclass(frozen=True)
class WorldConfig:
    """The training distribution. Evaluation sets read it to know what is in range.

    Ranges are (low, high) closed intervals; angles in degrees; size is the object's radius as a
    fraction of the half-width of the frame; x, y are offsets of the centre in the same unit.
    """

    held_out: tuple[str, ...] = ("snowman", "hourglass", "cross")
    shape_texture_corr: float = 0.5  # P(object gets its class's typical texture); else uniform over `textures`
    textures: tuple[str, ...] = ("plain",) + PATTERNS
    colors: tuple[str, ...] = TRAIN_COLORS
    backgrounds: tuple[str, ...] = ("plain", "gradient", "ground_sky", "clutter")
    styles: tuple[str, ...] = ("shaded",)
    style_weights: tuple[float, ...] | None = None  # None = uniform over styles
    yaw: tuple[float, float] = (-180.0, 180.0)
    pitch: tuple[float, float] = (-25.0, 25.0)
    roll: tuple[float, float] = (-15.0, 15.0)
    size: tuple[float, float] = (0.6, 0.85)
    x: tuple[float, float] = (-0.15, 0.15)
    y: tuple[float, float] = (-0.15, 0.15)
    occluder_p: float = 0.2  # probability of an occluding bar
    occluder: tuple[float, float] = (0.1, 0.25)  # bar width as a fraction of the object's diameter
    light_az: tuple[float, float] = (-60.0, 60.0)
    light_el: tuple[float, float] = (20.0, 70.0)
    brightness: tuple[float, float] = (0.85, 1.15)

    def __post_init__(self):
        validate_names("shape", self.held_out, SHAPES)
        validate_names("texture", self.textures, TEXTURES)
        validate_names("color", self.colors, tuple(COLORS))
        validate_names("background", self.backgrounds, BACKGROUNDS)
        validate_names("style", self.styles, STYLES)
        if not 0.0 <= self.shape_texture_corr <= 1.0:
            raise ValueError(f"shape_texture_corr must be in [0, 1], got {self.shape_texture_corr}")
        if len(self.classes) < 2:
            raise ValueError(f"at least 2 shape classes must remain after held_out={self.held_out}")
        if self.style_weights is not None and len(self.style_weights) != len(self.styles):
            raise ValueError("style_weights must have one weight per style")
        for name in RANGE_FACTORS:
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"range {name}={lo, hi}: low must be <= high")

    @property
    def classes(self) -> tuple[str, ...]:
        """The in-distribution shape classes; a scene's label indexes this tuple."""
        return tuple(s for s in SHAPES if s not in self.held_out)

    def typical_texture(self, shape: str) -> str:
        """The texture that goes with `shape` in training (held-out shapes get one too)."""
        validate_names("shape", [shape], SHAPES)
        order = self.classes + tuple(s for s in SHAPES if s in self.held_out)
        return PATTERNS[order.index(shape) % len(PATTERNS)]

    def replace(self, **changes) -> "WorldConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Stable short hash of the config (for cache keys)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def validate_names(kind: str, names, valid) -> None:
    """Raise UnknownNameError for the first name not in `valid`."""
    for n in names:
        if n not in valid:
            raise UnknownNameError(kind, str(n), list(valid))


def validate_frame(frame: pd.DataFrame) -> None:
    """Check a scene frame has every column and only known factor values."""
    missing = [c for c in SCENE_COLUMNS if c not in frame.columns]
    if missing:
        from ..errors import SchemaError

        raise SchemaError(f"scene frame lacks columns {missing}; expected {list(SCENE_COLUMNS)}")
    validate_names("shape", frame["shape"].unique(), SHAPES)
    validate_names("texture", frame["texture"].unique(), TEXTURES)
    validate_names("color", frame["color"].unique(), tuple(COLORS))
    validate_names("background", frame["background"].unique(), BACKGROUNDS)
    validate_names("style", frame["style"].unique(), STYLES)


def sample_scenes(n: int, config: WorldConfig = WorldConfig(), seed: int = 0, *,
                  shapes: tuple[str, ...] | None = None, balanced: bool = True) -> pd.DataFrame:
    """Draw `n` scenes from the training distribution of `config`.

    shapes: which shape classes to draw (default config.classes); balanced cycles through them so each
    class gets n/len(shapes) scenes (then the order is shuffled). Same (n, config, seed) -> same frame.
    """
    rng = np.random.default_rng([seed, 7919])
    shapes = tuple(shapes) if shapes is not None else config.classes
    validate_names("shape", shapes, SHAPES)
    if balanced:
        shape = np.array(shapes)[rng.permutation(np.arange(n) % len(shapes))]
    else:
        shape = np.array(shapes)[rng.integers(0, len(shapes), n)]
    classes = config.classes
    label = np.array([classes.index(s) if s in classes else -1 for s in shape], dtype=np.int64)

    typical = np.array([config.typical_texture(s) for s in shape])
    keep = rng.random(n) < config.shape_texture_corr
    texture = np.where(keep, typical, np.array(config.textures)[rng.integers(0, len(config.textures), n)])

    def u(name):
        lo, hi = getattr(config, name)
        return rng.uniform(lo, hi, n)

    weights = None if config.style_weights is None else np.asarray(config.style_weights) / sum(config.style_weights)
    occluded = rng.random(n) < config.occluder_p
    frame = pd.DataFrame({
        "shape": shape,
        "label": label,
        "texture": texture,
        "color": np.array(config.colors)[rng.integers(0, len(config.colors), n)],
        "background": np.array(config.backgrounds)[rng.integers(0, len(config.backgrounds), n)],
        "style": np.array(config.styles)[rng.choice(len(config.styles), n, p=weights)],
        "yaw": u("yaw"), "pitch": u("pitch"), "roll": u("roll"), "size": u("size"),
        "x": u("x"), "y": u("y"),
        "occluder": np.where(occluded, u("occluder"), 0.0),
        "occ_angle": rng.uniform(0, 180, n),
        "occ_offset": rng.uniform(-0.3, 0.3, n),
        "light_az": u("light_az"), "light_el": u("light_el"), "brightness": u("brightness"),
        "tex_seed": rng.integers(0, 2**31 - 1, n),
        "bg_seed": rng.integers(0, 2**31 - 1, n),
    })
    return frame[list(SCENE_COLUMNS)]


def in_range(frame: pd.DataFrame, config: WorldConfig = WorldConfig()) -> pd.DataFrame:
    """Boolean frame: for each factor, whether each scene's value lies inside the config's training range."""
    out = {name: frame[name].between(*getattr(config, name)) for name in RANGE_FACTORS if name != "occluder"}
    out["occluder"] = (frame["occluder"] == 0) | frame["occluder"].between(*config.occluder)
    out["texture"] = frame["texture"].isin(config.textures)
    out["color"] = frame["color"].isin(config.colors)
    out["background"] = frame["background"].isin(config.backgrounds)
    out["style"] = frame["style"].isin(config.styles)
    out["shape"] = frame["shape"].isin(config.classes)
    return pd.DataFrame(out, index=frame.index)


def views(frame: pd.DataFrame, yaw_offsets, pitch_offsets=None) -> pd.DataFrame:
    """The same scenes seen from several viewpoints: one row per (scene, view), with `scene` and `view` columns.

    Offsets are in degrees, added to the object's yaw/pitch (the camera is fixed, so this is
    equivalent to moving the camera around the object; lighting stays in camera space).
    """
    yaw_offsets = np.atleast_2d(np.asarray(yaw_offsets, dtype=float))
    if yaw_offsets.shape[0] == 1:
        yaw_offsets = np.repeat(yaw_offsets, len(frame), axis=0)
    pitch_offsets = np.zeros_like(yaw_offsets) if pitch_offsets is None else np.atleast_2d(np.asarray(pitch_offsets, float))
    if pitch_offsets.shape[0] == 1:
        pitch_offsets = np.repeat(pitch_offsets, len(frame), axis=0)
    rows = []
    for v in range(yaw_offsets.shape[1]):
        f = frame.copy()
        f["scene"] = np.arange(len(frame))
        f["view"] = v
        f["yaw"] = (frame["yaw"].to_numpy() + yaw_offsets[:, v] + 180.0) % 360.0 - 180.0  # same pose, wrapped
        f["pitch"] = frame["pitch"].to_numpy() + pitch_offsets[:, v]
        rows.append(f)
    out = pd.concat(rows, ignore_index=True)
    return out.sort_values(["scene", "view"], kind="stable").reset_index(drop=True)
