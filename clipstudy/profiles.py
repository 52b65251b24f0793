"""The build profiles: one table, `PROFILES`, of `Profile` objects, each holding its `LabProfile`.

A build profile (`clipstudy build --profile NAME`) sets every size a chapter, the lab evaluation and the build
read. Its lab profile is an object, not a name: the lab zoo's training (images, steps, optimiser, image size,
seeds), its mini-LLaVAs' settings (`LlavaSettings`), the sizes of the lab sets, and the 3D-severity
calibration. A name is resolved once, where it comes in from outside (the CLI, the papermill parameters of a
chapter, a `lab:RECIPE@PROFILE` model name, a runner unit that travels to another process): `profile(name)`
and `lab_profile(name)`. Everything below those edges takes the objects.

The lab profiles are the ones the build profiles hold (`LAB_PROFILES` is derived from `PROFILES`), so a new
build profile is one row here, and a new lab profile one constant held by a row.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .errors import UnknownNameError
from .tasks import LAB_SETS

DECAYS = ("cosine", "linear")


def cosine_lr(step: int, steps: int, warmup: int) -> float:
    """Linear warmup then cosine decay to 0 (a multiplier of the base learning rate)."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


@dataclass(frozen=True)
class Schedule:
    """How every lab training run (contrastive and fine-tuning) optimises, beside the profile's steps, batch and
    learning rate: the learning-rate curve (`warmup` fraction of the steps rising linearly, then `decay`, cosine or
    linear, to 0), `label_smoothing` of the cross-entropies (the CLIP loss's two and the fine-tune's; SigLIP's
    sigmoid loss has none), `ema`, the decay of an exponential moving average of the weights (parameters and
    batch-norm statistics) kept from the end of the warm-up and returned instead of the last weights (0: off), and
    `flat_lr`, the learning rate of the parameters without weight decay (gains, biases, embeddings, the logit scale
    and bias) as a multiple of the others'."""

    warmup: float = 0.1
    decay: str = "cosine"
    label_smoothing: float = 0.0
    ema: float = 0.0
    flat_lr: float = 1.0  # learning-rate multiplier of the parameters without weight decay (`_optimizer`)

    def __post_init__(self):
        if self.decay not in DECAYS:
            raise UnknownNameError("learning-rate decay", self.decay, list(DECAYS))
        if not 0 < self.warmup < 1 or not 0 <= self.label_smoothing < 1 or not 0 <= self.ema < 1 or self.flat_lr <= 0:
            raise ValueError(f"lab schedule out of range: {self}")

    def warmup_steps(self, steps: int) -> int:
        return max(1, int(steps * self.warmup + 1e-9))  # 10% of 240 steps is 24, not 23 (float rounding)

    def lr(self, step: int, steps: int, warmup: int | None = None) -> float:
        """The multiplier of the base learning rate at optimiser step `step` (0-based) of `steps` (`warmup`: the
        warm-up in steps instead of the `warmup` fraction)."""
        warmup = self.warmup_steps(steps) if warmup is None else max(1, warmup)
        if step < warmup:
            return (step + 1) / warmup
        if self.decay == "cosine":
            return cosine_lr(step, steps, warmup)
        t = (step - warmup) / max(1, steps - warmup)
        return max(0.0, 1.0 - t)





@dataclass(frozen=True)
class LlavaSettings:
    """Size and training budget of a miniature LLaVA (`clipstudy.lab.llava`). Every field is part of its
    cache key (`row`)."""

    n_images: int = 3000  # training scenes: the base CLIP's cached lab-train chunks
    per_image: int = 6  # instruction pairs per scene
    steps: int = 800
    batch_size: int = 64
    lr: float = 2e-3
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    grid: int = 4  # patch tokens pooled to grid x grid
    max_new_tokens: int = 6
    threads: int = 1
    seed: int = 0

    def row(self) -> dict:
        return dataclasses.asdict(self)


# What a lab model's weights depend on, of its lab profile: the fields its store key hashes
# (`lab.zoo.store_key`). The others (seeds, sets, LLaVA, severity, workers) change no single model.
TRAINING_FIELDS = ("name", "chunk", "chunks", "steps", "batch_size", "lr", "ft_steps", "ft_lr", "image_size",
                   "schedule")


@dataclass(frozen=True)
class LabProfile:
    """The lab at one scale: how its zoo trains, its mini-LLaVAs, its evaluation sets and its 3D severities."""

    name: str  # in every lab model's key and name (`lab:RECIPE@NAME`), its cache folders and hub folder
    chunk: int  # images per rendered training chunk
    chunks: tuple[tuple[str, int], ...]  # training-set size -> number of chunks
    steps: tuple[tuple[str, int], ...]  # training-set size -> optimiser steps
    batch_size: int
    lr: float
    ft_steps: int
    ft_lr: float
    image_size: int = 64
    seeds: int = 3  # training seeds per recipe (0, 1, ...): lab effects are means over seeds with intervals
    schedule: Schedule = Schedule()  # how every training run of the zoo optimises (learning-rate curve, ...)
    train_precision: str = "auto"  # as asked (lab.train.train_precision resolves it); in the key when not fp32
    llava: LlavaSettings = LlavaSettings()  # chapter 09's mini-LLaVAs
    # lab sets in the runner's grid and the benchmarks (`set_size`); absent: the set's default size
    set_sizes: tuple[tuple[str, int], ...] = ()
    # the sets the mini-LLaVA is questioned on when no size is given (`llava_eval_size`)
    llava_eval_n: int | None = None
    llava_eval_sizes: tuple[tuple[str, int], ...] = ()
    severity_scenes: int = 240  # scenes of the lab-3dcc severity calibration (`lab.severity.table`)
    train_workers: int = 0  # processes that train the zoo side by side (0: one per core; CLIPSTUDY_TRAIN_WORKERS)
    miniature: bool = False  # tiny models trained for seconds: every chapter says its lab numbers are checks only

    def n_chunks(self, size: str) -> int:
        return dict(self.chunks)[size]

    def n_steps(self, size: str, scale: float = 1.0) -> int:
        return max(1, int(round(dict(self.steps)[size] * scale)))

    def training(self) -> dict:
        """The fields a model's weights depend on (`TRAINING_FIELDS`), as its store key hashes them. The schedule
        enters only when it is not the default one, so the keys of profiles that train under `Schedule()` are those
        their other fields always gave."""
        out = {f: getattr(self, f) for f in TRAINING_FIELDS}
        if self.schedule == Schedule():
            out.pop("schedule")
        else:
            out["schedule"] = dataclasses.asdict(self.schedule)
        return out

    def set_size(self, name: str) -> int | None:
        """The size of lab set `name` in the runner's grid (None: the set's default size)."""
        return dict(self.set_sizes).get(name)

    def llava_eval_size(self, name: str) -> int | None:
        """How many items of lab set `name` the mini-LLaVA is questioned on when the caller gives no size."""
        return dict(self.llava_eval_sizes).get(name, self.llava_eval_n)


@dataclass(frozen=True)
class Profile:
    """One build profile: every size a chapter, the lab evaluation and the build read, and its lab profile."""

    name: str
    lab: LabProfile | None  # the lab (None: no lab models, e.g. a test profile)
    n_eval: int = 600  # images per lab evaluation set (lab-val, lab-v2, lab-sketch, lab-cue-conflict, lab-ood, ...)
    live: bool = False  # real checkpoints on real data (the runner's grid, then the chapters read its table)
    # the live grid (used when `live`): its models (empty: the live panel, `@live`: `models.collection.LIVE`), its prompt set,
    # and whether a family whose folder is absent is read from its CLIP_benchmark webdataset (`wds/NAME`, fetched
    # into the Hugging Face cache) instead
    live_models: tuple[str, ...] = ()
    live_prompts: str = "openai80"
    live_wds: bool = False
    # the LLaVA checkpoints of chapter 09's live LMM grid (`llava:NAME`, the runner's `lmm` axis); None: every known
    # checkpoint (`models.sources.llava.CHECKPOINTS`); a researcher's `build --models llava:...` joins them
    live_lmms: tuple[str, ...] | None = None
    # the live evidence only checks the pipeline (random or test weights, tiny data): every live section and the
    # claims page say so next to its numbers, and none of them is a finding
    pipeline_check: bool = False
    fetch_records: bool = True  # the build first fetches the published records that are missing

    @property
    def n_factor_scenes(self) -> int:
        """lab-factors scenes (11 images each: a control and 10 shifted factors)."""
        return max(8, self.n_eval // 4)

    @property
    def n_3dcc_scenes(self) -> int:
        """lab-3dcc scenes (each rendered clean and under every corruption and severity), and the view pairs
        of the correspondence test."""
        return max(8, self.n_eval // 10)

    @property
    def n_lmm_factor_scenes(self) -> int:
        """lab-factors scenes the mini-LLaVA is questioned on."""
        return max(4, self.n_eval // 20)

    def lab_n(self, name: str) -> int:
        """How many items of lab set `name` the chapters read (scenes for lab-factors and lab-3dcc)."""
        return {"lab-factors": self.n_factor_scenes, "lab-3dcc": self.n_3dcc_scenes}.get(name, self.n_eval)

    def lab_set_size(self, name: str) -> int | None:
        """The size of a lab set in the runner's grid (None: the set's default size, or no lab)."""
        return self.lab.set_size(name) if self.lab is not None else None

    def parameters(self) -> dict[str, object]:
        """What the chapters show as this profile's parameters."""
        out = dict(profile=self.name, lab_profile=self.lab.name if self.lab is not None else None,
                   n_eval=self.n_eval, live=self.live)
        return dict(out, pipeline_check=True) if self.pipeline_check else out


# smoke sizes of the lab's evaluation sets (clipstudy.tasks.LAB_SETS): 120 images, scenes for lab-3dcc/lab-factors
_SMOKE_SIZES = {"lab-3dcc": 12, "lab-retrieval": 60, "lab-factors": 24}
SMOKE_SETS = tuple((name, _SMOKE_SIZES.get(name, 120)) for name in LAB_SETS)

# the real lab: medium = 3k images; small/large span 10x in images (1k..10k) and 4x in samples seen
LAB = LabProfile("lab", chunk=1000, chunks=(("small", 1), ("medium", 3), ("large", 10)),
                 steps=(("small", 120), ("medium", 240), ("large", 480)), batch_size=128, lr=3e-3,
                 ft_steps=300, ft_lr=2e-3)  # enough cross-entropy steps for fine-tuning to move accuracy
# a miniature at 32 px for tests and smoke builds: seconds per recipe, not a finding. 2 seeds (so intervals exist
# in tests) at about 2/3 of the one-seed steps: the smoke zoo costs ~1.3x, not 2x. One training process: its
# models train in seconds
SMOKE_LAB = LabProfile("smoke", chunk=256, chunks=(("small", 1), ("medium", 2), ("large", 4)),
                       steps=(("small", 14), ("medium", 26), ("large", 40)), batch_size=64, lr=3e-3,
                       ft_steps=10, ft_lr=5e-4, image_size=32, seeds=2,
                       llava=LlavaSettings(n_images=96, per_image=6, steps=40, batch_size=32, hidden=64,
                                           max_new_tokens=4),
                       set_sizes=SMOKE_SETS, llava_eval_n=24, llava_eval_sizes=(("lab-factors", 2),),
                       severity_scenes=48, train_workers=1, miniature=True)

PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", lab=SMOKE_LAB, n_eval=48, live=False, fetch_records=False),
    "lab": Profile("lab", lab=LAB, n_eval=600, live=False),
    "live": Profile("live", lab=LAB, n_eval=600, live=True),
    # the live book end to end at test sizes (tests/test_book_live.py): the smoke lab, a few models, one prompt
    # per class (an 80-template ImageNet head is 80,000 prompts a model), the wds forms where a folder is absent;
    # its live numbers are pipeline checks
    "live-smoke": Profile("live-smoke", lab=SMOKE_LAB, n_eval=48, live=True, fetch_records=False,
                          live_models=("RN50/openai", "ViT-B-32/laion2b_s34b_b79k",
                                       "timm:vit_base_patch32_clip_224.laion2b_ft_in1k"),
                          live_prompts="single", live_wds=True, live_lmms=(), pipeline_check=True),
}

# every lab profile a build profile holds, by name (the names `lab:RECIPE@NAME` and `--lab-profile` take)
LAB_PROFILES: dict[str, LabProfile] = {p.lab.name: p.lab for p in PROFILES.values() if p.lab is not None}


def profile(name: str | Profile) -> Profile:
    """The named build profile (`smoke`, `lab`, `live`, `live-smoke`); unknown names list the valid ones."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        from .errors import UnknownNameError

        raise UnknownNameError("profile", name, list(PROFILES))
    return PROFILES[name]


def lab_profile(name: str | LabProfile | None) -> LabProfile:
    """The named lab profile (`lab`, `smoke`; None: `lab`); unknown names list the valid ones."""
    if isinstance(name, LabProfile):
        return name
    name = name or LAB.name
    if name not in LAB_PROFILES:
        from .errors import UnknownNameError

        raise UnknownNameError("lab profile", name, list(LAB_PROFILES))
    return LAB_PROFILES[name]


def live_profiles() -> list[str]:
    """The build profiles that run the live panel."""
    return [n for n, p in PROFILES.items() if p.live]


__all__ = ["LAB", "LAB_PROFILES", "LabProfile", "LlavaSettings", "PROFILES", "Profile", "SMOKE_LAB", "SMOKE_SETS",
           "TRAINING_FIELDS", "lab_profile", "live_profiles", "profile"]
