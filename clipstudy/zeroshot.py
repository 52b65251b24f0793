"""Zero-shot evaluation of one model on one dataset, through the cached engine.

`run` is what `clipstudy eval` and every chapter call: features come from the
cache when present, and logits/cosines are derived on demand for every axis.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd
import torch

from . import encode, prompts as prompt_sets, zoo
from .config import resolve_device
from .errors import ClipstudyError
from .metrics import accuracy


class NonFiniteOutputs(ClipstudyError, ValueError):
    """A model's logits hold NaN or infinite values: no metric of them means anything."""


def _subset_logits(z: torch.Tensor, class_index: list) -> torch.Tensor:
    """A 1000-way classifier's logits on a dataset's classes: the column of each class, or, where a class maps to
    several ImageNet classes (ImageNet-D's `imagenet_indices`), the largest of their logits."""
    if all(isinstance(i, int) for i in class_index):
        return z[:, class_index]
    return torch.stack([z[:, [i] if isinstance(i, int) else list(i)].max(dim=1).values for i in class_index], dim=1)


@dataclass
class ZeroShot:
    """Cached image features plus the class head of one (model, dataset, prompts)."""

    model: str
    dataset: str
    prompts: str
    encoded: encode.Encoded
    head: torch.Tensor | None  # [D, C]; None for classifiers, whose features are logits
    logit_scale: float
    classnames: list[str]
    class_index: list | None = None  # columns of a 1000-way classifier this dataset uses (one, or several, a class)
    meta: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"

    @property
    def labels(self) -> torch.Tensor:
        return self.encoded.labels

    @property
    def cosine(self) -> torch.Tensor:
        """Cosine similarities [N, C] (MCM's input); classifiers have none."""
        if self.head is None:
            raise ValueError(f"{self.model} is a classifier: it has logits, not image-text cosines")
        return self.encoded.features @ self.head

    @property
    def logits(self) -> torch.Tensor:
        if self.head is None:
            z = self.encoded.features
            z = _subset_logits(z, self.class_index) if self.class_index is not None else z
        else:
            z = encode.zero_shot_logits(self.encoded.features, self.head, self.logit_scale)
        bad = ~torch.isfinite(z).all(dim=1) if z.numel() else torch.zeros(0, dtype=torch.bool)
        if bool(bad.any()):
            raise NonFiniteOutputs(
                f"{self.model} on {self.dataset}: its outputs are NaN or infinite for {int(bad.sum())} of "
                f"{len(z)} images (precision {self.precision}). Its checkpoint holds NaN/inf weights (a diverged "
                "training run?) or overflows in this precision: check the weights, or try --precision fp32")
        return z

    def accuracy(self, k: int = 1) -> float:
        return float(accuracy(self.logits, self.labels, k=k))

    def tidy(self) -> pd.DataFrame:
        """One row per metric, with the skipped images named."""
        rows = [dict(metric=f"top{k}", value=self.accuracy(k)) for k in (1, 5) if len(self.classnames) > k]
        df = pd.DataFrame(rows)
        df.insert(0, "prompts", self.prompts)
        df.insert(0, "dataset", self.dataset)
        df.insert(0, "model", self.model)
        df["precision"] = self.precision
        df["n"] = len(self.encoded)
        df["n_skipped"] = len(self.encoded.skipped)
        df["skipped"] = ";".join(self.encoded.skipped)
        return df


def run(model: str | zoo.Loaded, dataset: Any, *, dataset_id: str | None = None, prompts: str = "openai80",
        classnames: Sequence[str] | None = None, device: str = "auto", batch_size: int = 64,
        num_workers: int | str = "auto", precision: str = "auto", progress: bool = True) -> ZeroShot:
    """Encode `dataset` with `model` (cached) and build its zero-shot head.

    `dataset` follows the engine protocol and may carry `classnames` and
    `imagenet_indices` (the columns of the 1000-way head a subset dataset uses).
    """
    device = resolve_device(device)
    precision = encode.resolve_precision(precision, device)
    loaded = model if isinstance(model, zoo.Loaded) else zoo.load(model, device)
    spec = loaded.spec
    dataset_id = dataset_id or getattr(dataset, "dataset_id", None) or getattr(dataset, "name", None)
    if dataset_id is None:
        raise ValueError("dataset_id is needed to key the feature cache")
    names = list(classnames or getattr(dataset, "classnames"))
    if len(names) < 2:  # before any encoding: a one-way choice scores every image right
        raise ClipstudyError(f"{dataset_id}: zero-shot classification needs at least 2 classes; it has "
                             f"{len(names)}{' (' + repr(names[0]) + ')' if names else ''}")
    if loaded.is_classifier and getattr(dataset, "own_classes", False) \
            and getattr(dataset, "imagenet_indices", None) is None:
        raise ClipstudyError(f"{spec.name} is an ImageNet classifier, and {dataset_id} names its own "
                             f"{len(names)} classes with no map into ImageNet's: only a zero-shot CLIP scores it "
                             "(its folder form, with the release's mapping files, scores classifiers too)")
    mid = zoo.model_id(spec)
    enc = encode.encode_images(loaded.model, dataset, model_id=mid, dataset_id=dataset_id,
                               transform_id=loaded.transform_id, batch_size=batch_size, device=device,
                               num_workers=num_workers, weights=loaded.weights_id, precision=precision,
                               progress=progress)
    if len(enc) == 0 and len(dataset):
        from collections import Counter

        why = ", ".join(f"{n} {note}" for note, n in Counter(v.split(" (")[0] for v in enc.notes.values()).items())
        raise ClipstudyError(f"none of the {len(dataset)} images of {dataset_id} could be read ({why}); "
                             f"first: {next(iter(enc.notes.items()), ('', ''))}")
    index = getattr(dataset, "imagenet_indices", None)
    if loaded.is_classifier:
        return ZeroShot(spec.name, dataset_id, "classifier-head", enc, None, 1.0, names,
                        list(index) if index is not None else None, precision=precision)
    head = encode.zero_shot_head(loaded.model, loaded.tokenizer, names, prompt_sets.templates(prompts), device,
                                 model_id=mid, weights=loaded.weights_id,
                                 precision=precision, progress=progress)
    return ZeroShot(spec.name, dataset_id, prompts, enc, head, encode.logit_scale_of(loaded.model), names,
                    precision=precision)
