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
plus `_<prompts>` when the study holds several prompt sets for it and `_<precision>` when it holds several
precisions (each is a subject of its own: one file each); `export` prints which stem is which model. In the
`csv` export, a text cell that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or
a carriage return) is prefixed with a quote; the other formats are written as their own tools read them.

`clipstudy export results --format clip_benchmark` writes the study's results table as CLIP_benchmark's per-run
JSON files, the ones its `clip_benchmark build` merges into a benchmark CSV: one
`{dataset}_{pretrained}_{model}_{language}_{task}.json` per (model, dataset) under one prompt set, holding `dataset`
(CLIP_benchmark's name: `imagenet1k`, `imagenetv2`, `imagenet_sketch`, `imagenet-a`, `imagenet-r`, `objectnet`,
`mscoco_captions`, `flickr30k`), `model`, `pretrained`, `task` (`zeroshot_classification` | `zeroshot_retrieval`),
`language` (`en`) and `metrics`: `acc1`, `acc5` (NaN under 5 classes, as there), `mean_per_class_recall` (sklearn's
balanced accuracy of the stored predictions, as CLIP_benchmark computes it), or `image_retrieval_recall@5` (texts
query images) and `text_retrieval_recall@5`; and `prompts`, the prompt set (an extra key: CLIP_benchmark's own
runs use the 80 OpenAI templates for the ImageNet family, clipstudy's `openai80`). `model_and_pretrained` says what
`model` and `pretrained` are for each name form.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from .jsontypes import fits
from .errors import ClipstudyError, UnknownNameError

FORMATS = ("csv", "imagenet-x", "model-vs-human")
RESULT_FORMATS = ("clip_benchmark",)
MVH_DATASETS = {"cue-conflict": "cue-conflict", "edges": "edge", "silhouettes": "silhouette"}
IMAGENET_X_DATASETS = ("imagenet-x", "imagenet")  # the first present wins for a (model, prompts)
MVH_COLUMNS = ["subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename"]
IMAGENET_X_COLUMNS = ["file_name", "predicted_class", "predicted_probability"]


def stem(text: str) -> str:
    """A file-name stem of a model or prompt-set name: safe characters only, never a path, never too long for a
    file name (a long one keeps its start and a short hash of the whole)."""
    out = re.sub(r"^[.-]+|-+$", "", re.sub(r"[^A-Za-z0-9._-]+", "-", text)) or "model"
    if len(out) > 120:
        import hashlib

        out = f"{out[:100]}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    return out


def _is_key(key: str) -> bool:
    """A store entry's name (`store.Key.name`): one plain path component, so it cannot lead out of the store."""
    return bool(re.fullmatch(r"[A-Za-z0-9._-]{1,200}", key)) and key not in (".", "..")


def _record(u, label: str):
    """A unit's record (`run.unit.UnitRecord`) as the export reads it: None when the store has no record for it; a
    record that lacks a field, or holds one of another type than the record declares, is an error naming the file
    and the field, and is left in place (an export deletes nothing)."""
    import dataclasses
    import json
    import typing

    from .run.unit import RECORD, UnitRecord

    path = u.entry() / RECORD
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as e:
        raise ClipstudyError(f"{label}: its unit record {path} cannot be read ({type(e).__name__}); run the study "
                             "again to recompute it") from e
    if not isinstance(rec, dict):
        raise ClipstudyError(f"{label}: its unit record {path} is not a JSON object; run the study again to "
                             "recompute it")
    hints = typing.get_type_hints(UnitRecord)
    for f in dataclasses.fields(UnitRecord):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name not in rec:
            if required:
                raise ClipstudyError(f"{label}: its unit record {path} lacks the field {f.name!r} (written by another "
                                     "version of clipstudy, or damaged); run the study again to recompute it")
            continue
        if not fits(rec[f.name], hints[f.name]):
            want = str(hints[f.name]).replace("typing.", "")
            raise ClipstudyError(f"{label}: its unit record {path} holds a {type(rec[f.name]).__name__} in the field "
                                 f"{f.name!r}, where a {getattr(hints[f.name], '__name__', want)} belongs; run the "
                                 "study again to recompute it")
    if not _is_key(rec["features"]):
        raise ClipstudyError(f"{label}: its unit record {path} names the feature entry {rec['features'][:60]!r}, which "
                             "is not a store key (letters, digits, '.', '_', '-'); run the study again")
    names = {f.name for f in dataclasses.fields(UnitRecord)}
    return UnitRecord(**{k: v for k, v in rec.items() if k in names})


def units(study: str | Path, cache_root: str | Path | None = None) -> list:
    """The study's complete units (computed or reused in `units.csv`) as runner Units, their prompt sets from
    their records; a unit whose store entry is gone is skipped with a note on stderr."""
    import sys

    from .config import cache_root as default_cache
    from .run.runner import read_units
    from .run.unit import Unit

    study = Path(study).expanduser()
    table = study / "units.csv"
    if not table.is_file():
        raise ClipstudyError(f"--study {study}: no units.csv there; run `clipstudy run ... --study {study}` first")
    cache = str(cache_root or default_cache())
    out = []
    for r in read_units(table).itertuples():
        if r.status not in ("computed", "reused"):
            continue
        if not _is_key(str(r.key)):
            raise ClipstudyError(f"{table}: the unit key {str(r.key)[:60]!r} ({r.model} x {r.dataset}) is not a store "
                                 "key (letters, digits, '.', '_', '-'); units.csv was edited or damaged")
        u = Unit(r.model, r.dataset, "", (), r.key, "", "", "", "", cache)
        rec = _record(u, f"{r.model} x {r.dataset}")
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


RUN = ["model", "prompts", "precision"]  # one subject (one file) of the field's formats


def _stems(df: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    """A file stem per (model, prompts, precision): the model, plus the prompt set when a model has several, plus
    the precision when it has several; two models whose stems would collide are told apart by a number."""
    runs = list(df[RUN].drop_duplicates().itertuples(index=False, name=None))
    out: dict[tuple[str, str, str], str] = {}
    for m, p, prec in runs:
        prompts = {r[1] for r in runs if r[0] == m}
        precisions = {r[2] for r in runs if r[0] == m}
        out[(m, p, prec)] = stem(m) + (f"_{stem(p)}" if len(prompts) > 1 else "") + \
            (f"_{stem(prec)}" if len(precisions) > 1 else "")
    taken: dict[str, int] = {}
    for run in sorted(out):  # two names that map to one stem (`a/b` and `a:b`) must not share a file
        s = out[run]
        taken[s] = taken.get(s, 0) + 1
        if taken[s] > 1:
            out[run] = f"{s}-{taken[s]}"
    return out


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so as a formula (OWASP)


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell that a spreadsheet would run as a formula prefixed with a quote (OWASP's
    CSV-injection advice); numbers, and text that cannot start a formula, are left as they are."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_START) else v for v in out[c]]
    return out


def export(study: str | Path, fmt: str, out: str | Path, cache_root: str | Path | None = None) -> list[Path]:
    """Write the study's per-image predictions in `fmt` under `out`; returns the files written."""
    from .store import atomic_write_text

    from .paths import writable_dir

    if fmt not in FORMATS:
        raise UnknownNameError("export format", fmt, FORMATS)
    out = writable_dir(out, "--out")  # before any unit is read
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
        atomic_write_text(spreadsheet_safe(df).to_csv(index=False), path)
        return [path]
    stems = _stems(df)
    if fmt == "imagenet-x":
        if "file_name" not in df.columns or df["file_name"].isna().all():
            raise ClipstudyError("imagenet-x predictions need ImageNet val's file names (ILSVRC2012_val_*.JPEG): "
                                 "the study's ImageNet units do not keep them")
        df = df[df["predicted_class"].between(0, 999) & df["file_name"].notna()]
        df = df.assign(_order=df["dataset"].map({d: i for i, d in enumerate(IMAGENET_X_DATASETS)}))
        df = df.sort_values("_order", kind="stable").drop_duplicates(RUN + ["file_name"])
        from .datasets.imagenet import val_labels

        order = list(val_labels())  # imagenet_x's filename_label.csv order, which its loader compares by
        groups = list(df.groupby(RUN, sort=True))
        for (model, prompts, precision), g in groups:
            if len(g) != len(order) or set(g["file_name"]) != set(order):
                raise ClipstudyError(
                    f"imagenet-x: {model} ({prompts}, {precision}) has predictions for {g['file_name'].nunique()} of "
                    f"the {len(order):,} ImageNet val images; imagenet_x's loader (load_model_predictions, "
                    "get_factor_accuracies) scores every one of them, so a partial set is not written. Run the "
                    "study on the whole of ImageNet val (imagenet or imagenet-x), or export --format csv.")
        out.mkdir(parents=True, exist_ok=True)
        for run, g in groups:
            path = out / f"{stems[run]}.csv"
            g = g.set_index("file_name").loc[order].reset_index()
            atomic_write_text(g[IMAGENET_X_COLUMNS].to_csv(index=False), path)
            written.append(path)
        return written
    for (*run, dataset), g in df.groupby(RUN + ["dataset"], sort=True):
        name = MVH_DATASETS[dataset]
        subj = stems[tuple(run)]
        g = g.sort_values("key")
        raw = pd.DataFrame({"subj": subj, "session": 1, "trial": np.arange(1, len(g) + 1), "rt": np.nan,
                            "object_response": g["predicted_name"].to_numpy(), "category": g["label_name"].to_numpy(),
                            "condition": np.nan, "imagename": [Path(k).name for k in g["key"]]})
        path = out / "raw-data" / name / f"{name}_{subj}_session-1.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(raw[MVH_COLUMNS].to_csv(index=False, na_rep="NaN"), path)
        written.append(path)
    return written


# ----------------------------------------------------------------- results in CLIP_benchmark's per-run JSON
CB_TASKS = {"classification": "zeroshot_classification", "retrieval": "zeroshot_retrieval"}
CB_RETRIEVAL = {"text→image": "image_retrieval_recall@5", "image→text": "text_retrieval_recall@5"}


def cb_dataset(dataset: str) -> str | None:
    """CLIP_benchmark's name of a study dataset (a folder family or a `wds/NAME`); None where it has none."""
    from .datasets import wds

    if dataset.startswith(wds.PREFIX):
        return wds._split_name(dataset)[0]
    form = wds.wds_form(dataset)
    return form[len(wds.PREFIX):] if form else None


def model_and_pretrained(name: str) -> tuple[str, str]:
    """CLIP_benchmark's (`model`, `pretrained`) of a model name, as its `--model`/`--pretrained` would name it:
    `ARCH/TAG` -> (ARCH, TAG); `ARCH@PATH` -> (ARCH, PATH); `hf-hub:ORG/REPO[@REV]` -> (`hf-hub:ORG/REPO`, the
    resolved commit: open_clip loads `hf-hub:` models by that name, and the commit pins the weights);
    `local-dir:PATH` -> (`local-dir:PATH`, a digest of the folder's files); any other name -> (name, "")."""
    from . import zoo

    spec = zoo.get(name)
    if spec.source == "hf-hub":
        return name.partition("@")[0], spec.revision
    if spec.arch.startswith(zoo.LOCAL_DIR):
        return spec.arch, zoo.model_id(spec).rpartition("#")[2]
    if spec.source == "open_clip" and spec.pretrained:
        return spec.arch, spec.pretrained
    return name, ""


def _per_class_recall(study: str | Path, cache_root: str | Path | None, prompts: str) -> dict[tuple[str, str], float]:
    """Balanced accuracy (sklearn's, as CLIP_benchmark reports mean_per_class_recall) of each (model, dataset)'s
    stored predictions under `prompts`."""
    from sklearn.metrics import balanced_accuracy_score

    import warnings

    out = {}
    for df in frames(study, cache_root):
        df = df[df["prompts"] == prompts]
        for (m, d), g in df.groupby(["model", "dataset"]):
            with warnings.catch_warnings():  # a class predicted but never shown: its recall is undefined, left out
                warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
                out[(m, d)] = float(balanced_accuracy_score(g["label"], g["predicted_class"]))
    return out


def export_results(study: str | Path, fmt: str, out: str | Path, prompts: str = "openai80",
                   cache_root: str | Path | None = None) -> list[Path]:
    """The study's results table as CLIP_benchmark's per-run JSON files under `out` (see the module docstring);
    returns the files written. Datasets CLIP_benchmark has no name for are left out, and said so on stderr."""
    import json
    import math
    import sys

    from .results import read_study
    from .store import atomic_write_text

    if fmt not in RESULT_FORMATS:
        raise UnknownNameError("results export format", fmt, RESULT_FORMATS)
    table = read_study(study)
    cls = table[(table["axis"] == "shifts") & (table["prompts"] == prompts) & (table["part"] == "all")]
    ret = table[(table["axis"] == "retrieval") & table["metric"].eq("recall@5")]
    have = sorted(set(table.loc[table["axis"] == "shifts", "prompts"]))
    if cls.empty and (have or ret.empty):
        raise ClipstudyError(f"--study {study}: no zero-shot accuracy under prompts {prompts!r} (it has "
                             f"{', '.join(have) or 'none'}); export those with --prompts, or run the study under "
                             f"{prompts}")
    recall = _per_class_recall(study, cache_root, prompts) if not cls.empty else {}
    runs: list[tuple[str, str, str, dict]] = []
    for (m, d), g in cls.groupby(["model", "dataset"], sort=True):
        v = dict(zip(g["metric"], g["value"]))
        runs.append((m, d, "classification", {"acc1": v.get("top1"), "acc5": v.get("top5", math.nan),
                                              "mean_per_class_recall": recall.get((m, d), math.nan)}))
    for (m, d), g in ret.groupby(["model", "dataset"], sort=True):
        runs.append((m, d, "retrieval", {CB_RETRIEVAL[p]: float(v) for p, v in zip(g["part"], g["value"])
                                         if p in CB_RETRIEVAL}))
    out = Path(out).expanduser()
    written, skipped = [], set()
    for m, d, task, metrics in runs:
        name = cb_dataset(d)
        if name is None:
            skipped.add(d)
            continue
        model, pretrained = model_and_pretrained(m)
        run_ = dict(dataset=name, model=model, pretrained=pretrained, task=CB_TASKS[task], metrics=metrics,
                    language="en", prompts=prompts if task == "classification" else "captions")
        slug = stem(Path(pretrained).name if "/" in pretrained else pretrained) if pretrained else ""
        path = out / f"{name}_{slug}_{stem(model)}_en_{CB_TASKS[task]}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(run_, indent=1) + "\n", path)
        written.append(path)
    if skipped:
        print(f"clipstudy: no CLIP_benchmark name for {', '.join(sorted(skipped))}: left out", file=sys.stderr)
    if not written:
        raise ClipstudyError(f"--study {study}: none of its datasets has a CLIP_benchmark name "
                             f"({', '.join(sorted(skipped))})")
    return written
