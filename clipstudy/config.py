"""Data and cache roots (CLIPSTUDY_DATA, CLIPSTUDY_CACHE), device choice, and the build profiles."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .tasks import LAB_SETS


def data_root() -> Path:
    """Datasets and records; `CLIPSTUDY_DATA`, default ~/.cache/clipstudy/data."""
    from . import environment

    return environment.data_root()


def cache_root() -> Path:
    """Features and lab models; `CLIPSTUDY_CACHE`, default ~/.cache/clipstudy/cache."""
    from . import environment

    return environment.cache_root()


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
        out = dict(profile=self.name, lab_profile=self.lab, n_eval=self.n_eval, live=self.live)
        return dict(out, pipeline_check=True) if self.pipeline_check else out


# smoke sizes of the lab's evaluation sets (clipstudy.tasks.LAB_SETS): 120 images, scenes for lab-3dcc/lab-factors
_SMOKE_SIZES = {"lab-3dcc": 12, "lab-retrieval": 60, "lab-factors": 24}
SMOKE_SETS = tuple((name, _SMOKE_SIZES.get(name, 120)) for name in LAB_SETS)

PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", lab="smoke", n_eval=48, live=False, lab_set_sizes=SMOKE_SETS),
    "lab": Profile("lab", lab="lab", n_eval=600, live=False),
    "live": Profile("live", lab="lab", n_eval=600, live=True),
    # the live book end to end at test sizes (tests/test_book_live.py): the smoke lab, a few models, one prompt
    # per class (an 80-template ImageNet head is 80,000 prompts a model), the wds forms where a folder is absent;
    # its live numbers are pipeline checks
    "live-smoke": Profile("live-smoke", lab="smoke", n_eval=48, live=True, lab_set_sizes=SMOKE_SETS,
                          live_models=("RN50/openai", "ViT-B-32/laion2b_s34b_b79k",
                                       "timm:vit_base_patch32_clip_224.laion2b_ft_in1k"),
                          live_prompts="single", live_wds=True, live_lmms=(), pipeline_check=True),
}

PIPELINE_CHECK = ("Pipeline check (random weights), not a finding: this profile checks that the live path runs "
                  "end to end; its live numbers measure nothing about real models.")
LIVE_EVIDENCE = "evidence.json"  # beside the live grid's results.csv: whether its numbers are a pipeline check


def live_yours(results_dir: str | os.PathLike) -> list[str]:
    """The researcher's own live models (`clipstudy build --models`) named in the build's live evidence mark."""
    import json

    try:
        body = json.loads((Path(results_dir) / "live" / LIVE_EVIDENCE).read_text())
    except (OSError, ValueError):
        return []
    return [str(m) for m in body.get("yours") or []]


def live_pipeline_check(results_dir: str | os.PathLike) -> str | None:
    """Why the live evidence under `results_dir` is a pipeline check (the build's mark), or None: real evidence,
    or no mark."""
    import json

    path = Path(results_dir) / "live" / LIVE_EVIDENCE
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return str(body.get("why") or PIPELINE_CHECK) if body.get("pipeline_check") else None


def profile(name: "str | Profile") -> Profile:
    """The named build profile (`smoke`, `lab`, `live`, `live-smoke`); unknown names list the valid ones."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        from .errors import UnknownNameError

        raise UnknownNameError("profile", name, list(PROFILES))
    return PROFILES[name]
