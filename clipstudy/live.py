"""The live path inside the book: which real checkpoints and datasets this machine has, and their numbers.

Nothing here estimates: a model whose weights cannot be loaded, or a dataset whose
folder is absent, is reported as missing with the way to get it. `mark_live_evidence` writes the build's live
mark (`results/live/evidence.json`: a pipeline check or not, and the researcher's own models), which
`config.live_pipeline_check` and `config.live_yours` read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .models.collection import LIVE
from .errors import ClipstudyError


@dataclass
class Panel:
    """The live models and datasets that are present, and what is missing."""

    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return bool(self.models and self.datasets)


def dataset_present(name: str, root: Any = None) -> str | None:
    """None when the dataset loads, else the loader's message (expected layout and fetch command)."""
    from . import datasets

    try:
        datasets.get(name).load(root=root)
        return None
    except ClipstudyError as e:  # the loader's own message names the layout and how to get the data
        return " ".join(str(e).split())


def weights_present(name: str) -> str | None:
    """None when the model needs no download or its weights are in the local hub cache, else why not.
    Reads the cache only: nothing is downloaded."""
    from . import zoo
    from .models import weights

    try:
        spec = zoo.get(name)
        files = weights.hub_files(spec)
    except ClipstudyError as e:
        return str(e)
    if files is None or weights.cached(files) is not None:
        return None
    return f"{name}: weights not in the local hub cache ({files}); `clipstudy fetch model {name}` downloads them"


def weights_ready(name: str) -> str | None:
    """None when the model's weights are on this machine, downloading them unless offline; else why not."""
    from .models import weights

    try:
        weights.ensure(name)
        return None
    except ClipstudyError as e:  # the message names the model, its hub repo and how to get it
        return str(e)


def panel(dataset_names: Iterable[str], models: Iterable[str] = LIVE, enabled: bool = True) -> Panel:
    """Check what this machine has for a chapter's live section. Missing weights are downloaded (unless
    offline: HF_HUB_OFFLINE=1 or --offline), but only when a dataset is there to evaluate them on."""
    p = Panel()
    if not enabled:
        p.missing.append("the live profile was not selected: build with `clipstudy build --profile live` "
                         "on a machine with the checkpoints and datasets")
        return p
    data_missing = []
    for d in dataset_names:
        why = dataset_present(d)
        (data_missing.append(why) if why else p.datasets.append(d))
    check = weights_ready if p.datasets else weights_present
    for m in models:
        why = check(m)
        (p.missing.append(why) if why else p.models.append(m))
    p.missing += data_missing
    return p


def mark_live_evidence(results_dir: str | os.PathLike, prof: Any, yours: Iterable[str] = ()) -> Path:
    """Say, beside the live grid's results table (`results_dir/live/evidence.json`), whether its numbers are a
    pipeline check (`Profile.pipeline_check`) and which live models are the researcher's own (`build --models`);
    the claims page and the chapters read it."""
    import json

    from .config import LIVE_EVIDENCE, PIPELINE_CHECK
    from .store import atomic_write_text

    path = Path(results_dir) / "live" / LIVE_EVIDENCE
    path.parent.mkdir(parents=True, exist_ok=True)
    body = dict(profile=prof.name, pipeline_check=prof.pipeline_check, why=PIPELINE_CHECK if prof.pipeline_check else "",
                yours=list(dict.fromkeys(yours)))
    atomic_write_text(json.dumps(body, indent=1) + "\n", path)  # whole or absent: a chapter never reads half of it
    return path


def scoring_note(models: Iterable[str]) -> str | None:
    """For the SigLIP models among `models` (loss `siglip`, from their registry row, config or `--model-info`):
    the sentence that says which score they were given, printed, and returned; None when there are none.
    Every model is scored with the softmax over classes: under SigLIP's sigmoid the argmax is the same, but the
    confidences that calibration and OOD detection read are the softmax's, not the sigmoid's."""
    from . import zoo

    def loss(m: str) -> str:
        try:
            return zoo.get(m).loss
        except ClipstudyError:
            return ""

    sig = [m for m in dict.fromkeys(models) if loss(m) == "siglip"]
    if not sig:
        return None
    text = (f"SigLIP models here ({', '.join(sig)}) were trained with a sigmoid loss. They are scored, as every "
            "model, with the softmax over the classes of their logits (logit scale x cosine): their top-1 is the "
            "sigmoid's, but the confidences and OOD scores read here are the softmax's, not the sigmoid "
            "probabilities (with their logit bias) they were trained to give.")
    print(text)
    return text
