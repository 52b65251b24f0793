"""Evaluate: every requested axis from the stored units, on CPU, into one tidy results table.

One row per (model, dataset, axis, part, metric, prompts, precision), with the value and its n. `part`
names a slice of the dataset where an axis has several (a corruption and severity, a visual factor, an
OOD score and group, a retrieval direction); `all` otherwise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ..errors import ClipstudyError
from ..axes import Outputs
from ..tasks import LMM
from .unit import Unit, questions_path, read_record

from ..results import STUDY_COLUMNS as COLUMNS, STUDY_IDENTITY as IDENTITY  # the results table these rows go to


def align(frame: pd.DataFrame, keys: list[str], key: str = "key") -> pd.DataFrame:
    """Rows of a dataset frame in the order of the engine's encoded keys (skipped images drop out)."""
    f = frame.set_index(key)
    missing = [k for k in keys if k not in f.index]
    if missing:
        raise KeyError(f"{len(missing)} encoded keys are not in the dataset frame, e.g. {missing[:3]}")
    return f.loc[list(keys)].reset_index()


def outputs(unit: Unit) -> list[Outputs]:
    """The stored outputs of a complete unit, one per prompt set (one for classifiers and caption-only sets)."""
    from .. import store
    from ..cache import FeatureCache
    from ..encode import Encoded
    from ..zeroshot import ZeroShot
    from .data import load_frame

    rec = read_record(unit)
    if rec is None:
        raise ClipstudyError(f"{unit.label}: no complete unit in the store ({unit.entry()})")
    hit = FeatureCache(Path(unit.cache_root) / "features").load(rec.features)
    if hit is None:
        raise ClipstudyError(f"{unit.label}: its features ({rec.features}) are missing or damaged; run it again")
    enc = Encoded(hit["features"], hit["labels"], hit["keys"], hit["skipped"], from_cache=True,
                  notes=dict(hit.get("notes", [])), key=rec.features)
    frame = load_frame(unit.entry() / "frame.parquet")
    if frame is not None and "key" in frame.columns:
        frame = align(frame.astype({"key": str}), [str(k) for k in enc.keys])
    texts = store.safe_load(unit.entry() / "texts.pt") if rec.texts else None
    heads = store.safe_load(unit.entry() / "heads.pt") if rec.heads else {}
    if rec.heads and heads is None:
        raise ClipstudyError(f"{unit.label}: its heads file is damaged; run it again")
    if rec.is_classifier or not rec.classnames:
        sets = ["classifier-head" if rec.is_classifier else "captions"]
    else:
        sets = [p for p in unit.prompts if p in heads]
    out = []
    for p in sets:
        zs = ZeroShot(unit.model, unit.dataset, p, enc, heads.get(p), rec.logit_scale, rec.classnames,
                      rec.class_index, precision=rec.precision)
        f = frame
        if rec.task == LMM:  # an LMM unit: its CLIP's outputs, and the LLaVA's answers as the frame
            q = load_frame(questions_path(unit, p))
            if q is None:
                raise ClipstudyError(f"{unit.label}: its answers under {p} are missing; run it again")
            f = align(q.astype({"key": str}), [str(k) for k in enc.keys])
        out.append(Outputs(unit.model, unit.dataset, rec.task, p, zs, f, texts))
    return out


def evaluate(units: Sequence[Unit], axes: Iterable[str], progress: bool = False,
             failed: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows of every axis for every complete unit. One dataset's outputs are in memory at a time, plus the
    ID sets that calibration and OOD detection read (kept per model).

    Each unit is evaluated on its own: one whose outputs cannot be read or whose metrics raise (a NaN
    checkpoint's logits, say) gives no rows, and its error goes into `failed` (unit key -> message), so the
    other units' rows are still returned. A unit whose ID set failed fails with that reason."""
    from tqdm.auto import tqdm

    from .data import id_set_of
    from .plan import _message

    from .. import axes as axis_registry

    failed = {} if failed is None else failed
    axes = [axis_registry.runner(a) for a in axes]
    by_model: dict[str, dict[str, Unit]] = {}
    for u in units:
        by_model.setdefault(u.model, {})[u.dataset] = u
    rows = []
    for model, us in tqdm(by_model.items(), desc="evaluate", unit="model", disable=not progress):
        kept: dict[str, dict[str, Outputs]] = {}
        broken: dict[str, str] = {}  # dataset -> why its outputs could not be read

        def of(dataset: str) -> dict[str, Outputs]:
            if dataset in broken:
                raise ClipstudyError(broken[dataset])
            if dataset not in kept:
                try:
                    kept[dataset] = {o.prompts: o for o in outputs(us[dataset])}
                except Exception as e:  # noqa: BLE001: this unit fails; the grid goes on
                    broken[dataset] = _message(e)
                    raise
            return kept[dataset]

        def id_of(o: Outputs) -> Outputs | None:
            ref = id_set_of(o.dataset)
            if ref not in us:
                return None
            try:
                return of(ref).get(o.prompts)
            except Exception as e:  # noqa: BLE001
                raise ClipstudyError(f"its ID set {ref} could not be evaluated: {_message(e)}") from e

        ids = {id_set_of(d) for d in us}
        for dataset, u in us.items():
            mine = []
            try:
                for prompts, o in of(dataset).items():
                    for axis in axes:
                        for r in axis.rows(o, id_of):  # a retrieval set's rows read captions, whatever the prompts
                            mine.append(dict(model=model, dataset=dataset, axis=axis.runner, precision=o.zs.precision,
                                             prompts="captions" if o.task == "retrieval" else prompts, **r))
            except Exception as e:  # noqa: BLE001: one unit's failure is reported, the others' rows are kept
                failed[u.key] = f"evaluation failed: {_message(e)}"
            else:
                rows += mine
            if dataset not in ids:
                kept.pop(dataset, None)
    df = pd.DataFrame(rows, columns=COLUMNS).drop_duplicates(subset=list(IDENTITY))
    return df.sort_values(list(IDENTITY), ignore_index=True)
