"""Data and cache roots (CLIPSTUDY_DATA, CLIPSTUDY_CACHE), device choice, and the build profiles."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .tasks import LAB_SETS


def data_root() -> Path:
    """Datasets and records; `CLIPSTUDY_DATA`, default ~/.cache/clipstudy/data."""
    return Path(os.environ.get("CLIPSTUDY_DATA") or Path.home() / ".cache" / "clipstudy" / "data").expanduser()


def cache_root() -> Path:
    """Features and lab models; `CLIPSTUDY_CACHE`, default ~/.cache/clipstudy/cache."""
    return Path(os.environ.get("CLIPSTUDY_CACHE") or Path.home() / ".cache" / "clipstudy" / "cache").expanduser()


def resolve_device(device: str = "auto") -> str:
    """'auto' picks cuda when present; an explicit 'cuda' without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        from .errors import ClipstudyError

        raise ClipstudyError("--device cuda was asked for, but torch sees no CUDA GPU; use --device cpu or auto.")
    return device


# ---------------------------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """One build profile: every size a chapter, the lab evaluation and the build read.

    The book's profile used to mean three things (the build profile, the lab profile, n_eval); here one
    name fixes them all. `lab` names the lab zoo's training profile (`clipstudy.lab.zoo.PROFILES`).
    """

    name: str
    lab: str | None  # the lab zoo's training profile (None: no lab models, e.g. a test profile)
    n_eval: int = 600  # images per lab evaluation set (lab-val, lab-v2, lab-sketch, lab-cue-conflict, lab-ood, ...)
    live: bool = False  # real checkpoints on real data (the runner's grid, then the chapters read its table)
    lab_set_sizes: tuple[tuple[str, int], ...] = field(default=())  # the runner/benchmark grid's lab set sizes

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
        """The size of a lab set in the runner's grid (None: the set's default size)."""
        return dict(self.lab_set_sizes).get(name)

    def parameters(self) -> dict[str, object]:
        """What the chapters show as this profile's parameters."""
        return dict(profile=self.name, lab_profile=self.lab, n_eval=self.n_eval, live=self.live)


# smoke sizes of the lab's evaluation sets (clipstudy.tasks.LAB_SETS): 120 images, scenes for lab-3dcc/lab-factors
_SMOKE_SIZES = {"lab-3dcc": 12, "lab-retrieval": 60, "lab-factors": 24}
SMOKE_SETS = tuple((name, _SMOKE_SIZES.get(name, 120)) for name in LAB_SETS)

PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", lab="smoke", n_eval=48, live=False, lab_set_sizes=SMOKE_SETS),
    "lab": Profile("lab", lab="lab", n_eval=600, live=False),
    "live": Profile("live", lab="lab", n_eval=600, live=True),
}


def profile(name: "str | Profile") -> Profile:
    """The named build profile (`smoke`, `lab`, `live`); unknown names list the valid ones."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        from .errors import UnknownNameError

        raise UnknownNameError("profile", name, list(PROFILES))
    return PROFILES[name]
