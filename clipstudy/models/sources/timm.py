"""`timm:NAME`: a timm model with its ImageNet classifier head, seen by the engine through `encode_image`
(it returns ImageNet logits). Hub weights come through `clipstudy.models.weights`."""
from __future__ import annotations

import functools
from typing import Any

from ...errors import CheckpointError, UnknownNameError
from .. import registry
from ..spec import Loaded, ModelSpec

PREFIX = "timm:"


def tag_factors(tname: str) -> dict[str, Any]:
    """The factor fields of a timm model, from the records' tag rules (one definition for both)."""
    from ... import factors
    from ...records import tags

    t = tags.timm_tags(tname)
    return factors.spec_fields(t, tname)


def resolve(name: str) -> ModelSpec:
    import timm

    tname = name[len(PREFIX):]
    known = timm.list_models(pretrained=True) if "." in tname else timm.list_models()
    if tname not in known:
        raise UnknownNameError("timm model", tname, timm.list_models(pretrained=True))
    return ModelSpec(name=name, source="timm", arch=tname, pretrained=tname, **tag_factors(tname))


@functools.cache
def classifier_adapter() -> type:
    """The ClassifierAdapter class, made on first use (it needs torch)."""
    import torch

    class ClassifierAdapter(torch.nn.Module):
        """A timm classifier seen through the engine's `encode_image`: it returns ImageNet logits."""

        is_classifier = True

        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def encode_image(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x)

    return ClassifierAdapter


def load(spec: ModelSpec, device: str) -> Loaded:
    import timm

    from .. import weights

    hub = weights.ensure(spec)  # the hub file, downloaded unless offline; None: timm fetches its URL itself
    overlay = {"file": str(hub)} if hub is not None else None
    try:
        model = timm.create_model(spec.arch, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as e:
        raise CheckpointError(f"could not load timm weights for {spec.arch} from {hub or 'its URL'}: "
                              f"{type(e).__name__}: {e}") from e
    cfg = timm.data.resolve_data_config({}, model=model)
    preprocess = timm.data.create_transform(**cfg)
    return Loaded(classifier_adapter()(model).to(device).eval(), preprocess, None, spec, device)


def _names() -> list[str]:
    import timm

    return [f"{PREFIX}{n}" for n in timm.list_models(pretrained=True)]


registry.register_resolver("timm:NAME", resolve, prefix=PREFIX)
registry.register_source("timm", load, suggest=_names)
