"""The model zoo as the rest of clipstudy (notebooks, CLI, runner) sees it: a facade over `clipstudy.models`.

Importing this module registers every source (open_clip, timm, hf-hub, local-dir, lab, llava) and the named
collections, so `get`, `load`, `names` and `frame` know every name form (`NAME_FORMS`). torch, pandas and open_clip
are imported on use, so the CLI can show `NAME_FORMS` in its help at once.
"""
from __future__ import annotations

from typing import Any

from .models import collection  # noqa: F401  (registers @live, @zero-shot, @fine-tuned, @baselines)
from .factors import family_of  # noqa: F401
from .models import sources  # noqa: F401  (registers every source's name forms and loader)
from .models.registry import (FACTORS, NAME_FORMS, REGISTRY, entries, factor_table, frame, get, load,  # noqa: F401
                              model_id, names, register, specs)
from .models.sources.open_clip import (PREPROCESS_ARGS, build_open_clip, checkpoint_problem,  # noqa: F401
                                       open_clip_kwargs)
from .models.spec import LOCAL_DIR, Loaded, ModelSpec, local_checkpoint, pretrained_tag  # noqa: F401


def __getattr__(name: str) -> Any:
    """`zoo.ClassifierAdapter` is made on first use: it needs torch, and `import zoo` must stay light."""
    if name == "ClassifierAdapter":
        from .models.sources.timm import classifier_adapter

        return classifier_adapter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
