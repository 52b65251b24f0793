"""Plan: the grid of units (models x datasets), each named by a store key, and which are missing.

Planning loads no model: a unit's key holds the model id (with a local checkpoint's size and mtime, a lab
model's training key), the dataset id and a fingerprint of its files, the precision and the device kind.
A model or dataset that cannot be resolved or opened fails its own units here, with the loaders' errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .. import store
from ..errors import ClipstudyError
from ..models.sources import lab as lab_source, llava
from ..tasks import LMM
from .unit import Unit, UnitResult, is_complete, lab_model_name


@dataclass
class Plan:
    units: list[Unit] = field(default_factory=list)  # every unit that could be planned
    todo: list[Unit] = field(default_factory=list)  # missing from the store
    reused: list[Unit] = field(default_factory=list)  # complete already
    failed: list[UnitResult] = field(default_factory=list)  # could not be planned
    axes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.units) + len(self.failed)


def _message(e: Exception) -> str:
    return " ".join(str(e).split()) if isinstance(e, ClipstudyError) else f"{type(e).__name__}: {e}"


def lab_recipe(name: str, lab_profile: str) -> tuple[str, str] | None:
    """(recipe, profile) of a `lab:RECIPE[@PROFILE]` model name, else None."""
    lab = lab_source.parse(name)
    return None if lab is None else (lab.recipe, lab.profile or lab_profile)


def model_identity(name: str, lab_profile: str = "lab", local: bool = True) -> str:
    """What names a model's weights without loading them: zoo.model_id, plus a lab model's training key.
    A bare `lab:RECIPE` is under `lab_profile` (`lab_model_name`). `local=False` (a grid priced from published
    sizes, which runs nothing) does not ask for a LLaVA checkpoint on this machine."""
    from .. import zoo

    spec = zoo.get(lab_model_name(name, lab_profile))
    if spec.source == llava.SOURCE:  # an LMM unit: the checkpoint (on this machine, else why not) and its CLIP
        from ..lmm import checkpoint_missing

        ckpt, clip = llava.split(name)
        why = checkpoint_missing(ckpt) if local else None
        if why is not None:
            raise why
        return f"{zoo.model_id(spec)}+clip={model_identity(clip, lab_profile, local)}"
    mid = zoo.model_id(spec)
    lab = lab_recipe(name, lab_profile)
    if lab is not None:
        from ..lab import zoo as lab_zoo

        mid += "#" + lab_zoo.model_key(lab_zoo.recipe(lab[0]), lab_zoo.profile_of(lab[1]))
    return mid


def precision_key(precision: str, device_kind: str) -> str:
    """`auto` on CPU is this machine's policy (bf16 with AMX/AVX512-BF16, else fp32: encode.resolve_precision);
    on CUDA the worker's GPU decides (bf16 or fp16), recorded in the unit."""
    if precision != "auto":
        return precision
    if device_kind == "cpu":
        from ..encode import resolve_precision

        return resolve_precision("auto", "cpu")
    return "auto"


def add_id_sets(datasets: list[str], axes: Sequence[str]) -> list[str]:
    """An axis that reads its ID set (OOD detection) gets it: add it to the grid where a dataset of that axis'
    tasks is asked for without it."""
    from .. import axes as axis_registry
    from .data import LAB_TASKS, id_set_of, is_lab, split_lab

    tasks = {t for a in axes for t in axis_registry.runner(a).tasks if axis_registry.runner(a).id_set}
    if not tasks:
        return datasets
    out = list(datasets)
    for d in datasets:
        task = LAB_TASKS[split_lab(d)[0]] if is_lab(d) else _registry_task(d)
        if task in tasks and id_set_of(d) not in out:
            out.insert(0, id_set_of(d))
    return list(dict.fromkeys(out))


def _registry_task(name: str) -> str:
    from .. import datasets

    try:
        return datasets.get(name).task
    except ClipstudyError:
        return ""


PUBLISHED_FINGERPRINT = "published-size"  # the fingerprint of a unit planned from published sizes (never stored)


def published_task(name: str) -> str:
    """What an axis reads a family as, without opening it (as `data.open_dataset` types it)."""
    from .. import datasets
    from .data import TASKS

    datasets.published_size(name)  # a name without a published size fails here
    return TASKS.get(name, datasets.get(name).task)


def plan(models: Iterable[str] | str, datasets: Iterable[str] | str, *, axes: Sequence[str] | str = "all",
         prompts: Sequence[str] | str = "openai80", precision: str = "auto", device: str = "auto",
         device_kind: str | None = None, lab_profile: str | None = None, batch_size: int = 64, num_workers: int | str = "auto",
         study: str = "", cache_root: str | None = None, data_root: str | None = None, sizes: str = "disk") -> Plan:
    """The grid's units, split into missing and complete. `device_kind` (cpu | cuda) is where units will
    run; by default this machine's `device`.

    `sizes="published"` plans without opening any dataset: each family is named by its published size
    (`clipstudy.datasets.PUBLISHED`) instead of its files, so every unit is missing (a cold store) and a name
    without a published size fails its units. This is what `clipstudy run --estimate` prices."""
    from ..models import collection
    from ..config import cache_root as default_cache, data_root as default_data, resolve_device
    from ..encode import PRECISIONS
    from ..errors import UnknownNameError
    from .. import axes as axis_registry
    from .data import open_dataset

    if precision not in PRECISIONS:
        raise UnknownNameError("precision", precision, PRECISIONS)
    axes_ = axis_registry.resolve(axes)
    from .. import prompts as prompt_sets

    prompts_ = tuple(dict.fromkeys(p.strip() for item in ([prompts] if isinstance(prompts, str) else prompts)
                                   for p in item.split(",") if p.strip()))

    if any(p.startswith("lab-") for p in prompts_):
        from ..lab import zoo as _  # noqa: F401: registers the lab's prompt sets
    for p in prompts_:
        prompt_sets.templates(p)  # an unknown prompt set fails the plan, not every unit
    model_names = collection.expand_models(models)
    data_names = add_id_sets(axis_registry.expand_datasets(datasets), axes_)
    if not model_names or not data_names:
        raise ClipstudyError("the grid is empty: give --models and --datasets (names or @collections)")
    lab_profile = lab_profile or "lab"
    kind = device_kind or ("cuda" if resolve_device(device).startswith("cuda") else "cpu")
    cache = str(cache_root or default_cache())
    data_root = str(data_root or default_data())
    out = Plan(axes=list(axes_))

    if sizes not in ("disk", "published"):
        raise UnknownNameError("planning sizes", sizes, ["disk", "published"])
    data: dict[str, tuple[str, str, str] | str] = {}
    for d in data_names:
        try:
            if sizes == "published":
                data[d] = (d, PUBLISHED_FINGERPRINT, published_task(d))
            else:
                x = open_dataset(d, None, lab_profile)
                data[d] = (x.data_id, x.fingerprint, x.task)
        except Exception as e:  # noqa: BLE001: a missing dataset fails its units, the grid goes on
            data[d] = _message(e)
    pk = precision_key(precision, kind)  # resolved once for the grid (on CUDA: "auto", the worker's GPU decides)
    for m in model_names:
        try:
            mid: str | None = model_identity(m, lab_profile, local=sizes == "disk")
            why = ""
        except Exception as e:  # noqa: BLE001
            mid, why = None, _message(e)
        for d in data_names:
            info = data[d]
            if mid is None or isinstance(info, str):
                key = store.unit_key(m, d, pk).name
                out.failed.append(UnitResult(key, m, d, "failed", error=why or str(info)))
                continue
            data_id, fp, task = info
            if llava.is_llava(m):  # an LMM on a labelled set: its two-choice answers (the `lmm` axis reads them)
                if task != "classification":
                    out.failed.append(UnitResult(store.unit_key(m, d, pk).name, m, d, "failed", error=(
                        f"{m} x {d}: an LMM unit asks the two-choice question of a labelled classification set; "
                        f"{d} is a {task} set")))
                    continue
                task = LMM
            key = store.unit_key(mid, f"{data_id}#{fp}", pk, axis_registry.unit_versions(task), device=kind,
                                 lab_profile=lab_profile if data_id != d else "").name
            u = Unit(m, d, pk, prompts_, key, mid, data_id, fp, task, cache, data_root, lab_profile, device,
                     batch_size, num_workers, study)
            out.units.append(u)
            (out.reused if sizes == "disk" and is_complete(u) else out.todo).append(u)
    return out
