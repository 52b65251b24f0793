"""`clipstudy export predictions`: per-image predictions of a study's units, from the store, in the field's formats.

The study folder's `units.csv` names the units; each complete unit's features and zero-shot heads are read back
from the store (`run.evaluate.outputs`, as the axes read them: nothing is encoded). Formats:

- `csv`: one tidy table, `predictions.csv`: one row per (model, dataset, prompts, image) with the label, the
  predicted class (index and name) and its softmax probability, and `correct`. Shape-bias sets are decided
  among their 16 categories as the shape axis decides them; OOD sets are predicted over the ImageNet head
  (label -1); retrieval sets have no class predictions and are left out.
- `imagenet-x`: imagenetx's predictions folder for ImageNet val, one `<model>.csv` per (model, prompts) with
  `file_name,predicted_class,predicted_probability` (the class an index into the 1000 ImageNet classes), which
  `imagenet_x.utils.load_model_predictions(DIR)` and `imagenet_x.get_factor_accuracies(DIR)` read. Units of
  `imagenet` or `imagenet-x` whose images keep their ILSVRC2012 file names qualify; that loader scores all
  50,000 val images, in its `filename_label.csv` order, so a model must have a prediction for each of them (a
  partial run is refused, with the count: `--format csv` exports it).
- `model-vs-human`: model-vs-human's `raw-data/<dataset>/<dataset>_<model>_session-1.csv` files,
  `subj,session,trial,rt,object_response,category,condition,imagename`, for the cue-conflict, edge and
  silhouette sets the study has (clipstudy's `cue-conflict`, `edges`, `silhouettes`); model-vs-human's
  evaluation, and `clipstudy.records.load("model_vs_human", root=...)`, read them.

A model's name becomes a file-name stem with `/`, `:` and other characters outside `[A-Za-z0-9._-]` as `-`,
plus `_<prompts>` when the study holds several prompt sets for it; `export` prints which stem is which model.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from .errors import ClipstudyError, UnknownNameError

FORMATS = ("csv", "imagenet-x", "model-vs-human")
MVH_DATASETS = {"cue-conflict": "cue-conflict", "edges": "edge", "silhouettes": "silhouette"}
IMAGENET_X_DATASETS = ("imagenet-x", "imagenet")  # the first present wins for a (model, prompts)
MVH_COLUMNS = ["subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename"]
IMAGENET_X_COLUMNS = ["file_name", "predicted_class", "predicted_probability"]


def stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def units(study: str | Path, cache_root: str | Path | None = None) -> list:
    """The study's complete units (computed or reused in `units.csv`) as runner Units, their prompt sets from
    their records; a unit whose store entry is gone is skipped with a note on stderr."""
    import sys

    from .config import cache_root as default_cache
    from .run.runner import read_units
    from .run.unit import Unit, read_record

    study = Path(study).expanduser()
    table = study / "units.csv"
    if not table.is_file():
        raise ClipstudyError(f"--study {study}: no units.csv there; run `clipstudy run ... --study {study}` first")
    cache = str(cache_root or default_cache())
    out = []
    for r in read_units(table).itertuples():
        if r.status not in ("computed", "reused"):
            continue
        u = Unit(r.model, r.dataset, "", (), r.key, "", "", "", "", cache)
        rec = read_record(u)
        if rec is None:
            print(f"clipstudy: {r.model} x {r.dataset}: its unit is not in the store under {cache} (CLIPSTUDY_CACHE); "
                  "skipped", file=sys.stderr)
            continue
        out.append(dataclasses.replace(u, prompts=tuple(rec.heads), model_id=rec.model_id, data_id=rec.data_id,
                                       task=rec.task))
    return out


def _predictions(o) -> pd.DataFrame | None:
    """One row per image of one stored output: label, predicted class, its probability (None: no classes)."""
    import torch

    from .metrics.shape_bias import live_decisions

    if not o.has_head or o.task == "retrieval":
        return None
    keys = [str(k) for k in o.zs.encoded.keys]
    names = list(o.zs.classnames)
    if o.task == "shape-bias":
        from .datasets import cue_conflict

        if o.zs.head is not None:
            probs = torch.softmax(o.zs.logits.float(), dim=1)
        else:
            probs = cue_conflict.aggregate_probabilities(torch.softmax(o.zs.encoded.features.float(), dim=1))
        pred = live_decisions(o.zs, cue_conflict.aggregate_probabilities)
        prob = probs[torch.arange(len(pred)), torch.as_tensor(pred)].numpy()
        names = list(cue_conflict.CATEGORIES)
    else:
        probs = torch.softmax(o.zs.logits.float(), dim=1)
        p, idx = probs.max(dim=1)
        pred, prob = idx.numpy(), p.numpy()
    labels = o.zs.labels.numpy()
    df = pd.DataFrame({"model": o.model, "dataset": o.dataset, "prompts": o.prompts, "precision": o.zs.precision,
                       "key": keys, "label": labels.astype(int),
                       "label_name": [names[y] if 0 <= y < len(names) else "" for y in labels],
                       "predicted_class": np.asarray(pred, dtype=int),
                       "predicted_name": [names[i] for i in pred], "predicted_probability": prob.astype(float)})
    df["correct"] = df["label"] == df["predicted_class"]
    if o.frame is not None:
        extra = [c for c in ("file_name", "shape", "texture", "group") if c in o.frame.columns]
        for c in extra:
            df[c] = o.frame[c].to_numpy()
    return df


def frames(study: str | Path, cache_root: str | Path | None = None,
           datasets: tuple[str, ...] | None = None) -> Iterator[pd.DataFrame]:
    """Per-image prediction frames of the study's complete units (optionally only some datasets)."""
    from .run.evaluate import outputs

    for u in units(study, cache_root):
        if datasets is not None and u.dataset not in datasets:
            continue
        for o in outputs(u):
            df = _predictions(o)
            if df is not None:
                yield df


def _stems(df: pd.DataFrame) -> dict[tuple[str, str], str]:
    """A file stem per (model, prompts): the model, plus the prompt set when a model has several."""
    pairs = df[["model", "prompts"]].drop_duplicates().itertuples(index=False)
    pairs = list(pairs)
    many = {m for m in {p.model for p in pairs} if sum(p.model == m for p in pairs) > 1}
    return {(p.model, p.prompts): stem(p.model) + (f"_{stem(p.prompts)}" if p.model in many else "") for p in pairs}


def export(study: str | Path, fmt: str, out: str | Path, cache_root: str | Path | None = None) -> list[Path]:
    """Write the study's per-image predictions in `fmt` under `out`; returns the files written."""
    from .store import atomic_write_text

    if fmt not in FORMATS:
        raise UnknownNameError("export format", fmt, FORMATS)
    out = Path(out).expanduser()
    want = {"csv": None, "imagenet-x": IMAGENET_X_DATASETS, "model-vs-human": tuple(MVH_DATASETS)}[fmt]
    parts = list(frames(study, cache_root, want))
    if not parts:
        what = {"csv": "units with class predictions", "imagenet-x": "units of imagenet or imagenet-x",
                "model-vs-human": "units of cue-conflict, edges or silhouettes"}[fmt]
        raise ClipstudyError(f"--study {study}: no complete {what} to export (units.csv lists the study's units)")
    df = pd.concat(parts, ignore_index=True)
    written: list[Path] = []
    if fmt == "csv":
        path = out / "predictions.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(df.to_csv(index=False), path)
        return [path]
    stems = _stems(df)
    if fmt == "imagenet-x":
        if "file_name" not in df.columns or df["file_name"].isna().all():
            raise ClipstudyError("imagenet-x predictions need ImageNet val's file names (ILSVRC2012_val_*.JPEG): "
                                 "the study's ImageNet units do not keep them")
        df = df[df["predicted_class"].between(0, 999) & df["file_name"].notna()]
        df = df.assign(_order=df["dataset"].map({d: i for i, d in enumerate(IMAGENET_X_DATASETS)}))
        df = df.sort_values("_order", kind="stable").drop_duplicates(["model", "prompts", "file_name"])
        from .datasets.imagenet import val_labels

        order = list(val_labels())  # imagenet_x's filename_label.csv order, which its loader compares by
        groups = list(df.groupby(["model", "prompts"], sort=True))
        for (model, prompts), g in groups:
            if len(g) != len(order) or set(g["file_name"]) != set(order):
                raise ClipstudyError(
                    f"imagenet-x: {model} ({prompts}) has predictions for {g['file_name'].nunique()} of the "
                    f"{len(order):,} ImageNet val images; imagenet_x's loader (load_model_predictions, "
                    "get_factor_accuracies) scores every one of them, so a partial set is not written. Run the "
                    "study on the whole of ImageNet val (imagenet or imagenet-x), or export --format csv.")
        out.mkdir(parents=True, exist_ok=True)
        for (model, prompts), g in groups:
            path = out / f"{stems[(model, prompts)]}.csv"
            g = g.set_index("file_name").loc[order].reset_index()
            atomic_write_text(g[IMAGENET_X_COLUMNS].to_csv(index=False), path)
            written.append(path)
        return written
    for (model, prompts, dataset), g in df.groupby(["model", "prompts", "dataset"], sort=True):
        name = MVH_DATASETS[dataset]
        subj = stems[(model, prompts)]
        g = g.sort_values("key")
        raw = pd.DataFrame({"subj": subj, "session": 1, "trial": np.arange(1, len(g) + 1), "rt": np.nan,
                            "object_response": g["predicted_name"].to_numpy(), "category": g["label_name"].to_numpy(),
                            "condition": np.nan, "imagename": [Path(k).name for k in g["key"]]})
        path = out / "raw-data" / name / f"{name}_{subj}_session-1.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(raw[MVH_COLUMNS].to_csv(index=False, na_rep="NaN"), path)
        written.append(path)
    return written
