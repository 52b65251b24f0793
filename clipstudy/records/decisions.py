"""Per-decision records: one tidy row per decision of a human, a model or an LMM on one image.

Three published layouts load into one form:

- `model_vs_human` / `model_vs_human_clip`: model-vs-human's `raw-data/<dataset>/` folders, one CSV per
  (dataset, decider) named `<dataset>_<decider>_session-1.csv` (humans write `session_1`), columns
  `subj,session,trial,rt,object_response,category,condition,imagename` (some headers say `Session`).
- `vlm_shapebias`: Gavrikov et al.'s `raw-data/`: zero-shot CLIPs (`clip/<model>_<prompts>.csv`), ImageNet
  classifiers (`inet_classifier/<timm name>.csv`) and LMMs (`vlm/{vqa,captioning}/<timestamp>_<model>.csv`),
  columns `image` (a stem `<shape><i>-<texture><j>`, no extension) and `pred_label`.
- `texture_vs_shape`: the original cue-conflict experiment (`tables.load_cue_conflict`), reshaped.

Columns: source, model, kind (human | model | lmm), dataset, condition, image, category, decision,
shape, texture (cue-conflict only, else NaN), head (how a model reaches the 16 categories), table (the
file), then the tag columns (`tags.TAG_COLUMNS`), arch, tagged (False: the tag rules do not know this
decider), and for LMMs encoder / encoder_note. `image` is model-vs-human's short image id
(`get_short_imagename`: the trial prefix removed), so trials of different deciders match by image.
A missing condition (models' files write NaN for single-condition datasets) is "0", as humans' files
write it. A non-answer (humans: `na`; Gavrikov: `None`) is the decision "na".
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import MissingDataError, SchemaError
from . import tags as T
from .schema import describe, read_tables
from .sources import FETCH_CMD, check_published, require

MVH_SCHEMA = {"subj": "str", "session": "num", "trial": "num!", "rt": "num", "object_response": "str",
              "category": "str", "condition": "text", "imagename": "str"}
GAVRIKOV_SCHEMA = {"image": "str", "pred_label": "text"}
COLUMNS = ["source", "model", "kind", "dataset", "condition", "image", "category", "decision", "shape", "texture",
           "head", "table"]
CUE_CONFLICT = "cue-conflict"
NO_ANSWER = "na"
# how a decider reaches the 16 categories
HEAD_IMAGENET, HEAD_16, HEAD_LMM = "ImageNet-1k mapped to 16", "direct 16-way", "LMM answer"
_CUE = re.compile(r"^([a-z]+)\d+-([a-z]+)\d+$")
_MVH_FILE = re.compile(r"^(?P<model>.+)_session[-_]?(?P<session>\d+)\.csv$")
_STAMP = re.compile(r"^[0-9x]{8}_[0-9y]{6}_(?P<model>.+)$")


def short_image(name: str) -> str:
    """model-vs-human's image id (its `get_short_imagename`): '0001_cop_s01_c30_knife_10_n03041632_7380.png'
    -> 'n03041632_7380.png', '0001_s5n_s01_0_bird_00_bird3-clock2.png' -> 'bird3-clock2.png',
    'airplane1.png' unchanged."""
    parts = name.rsplit("_", 2)
    if len(parts) == 1:
        return name
    a, b = parts[-2:]
    return f"{a}_{b}" if a.startswith("n0") else b


def short_images(names: pd.Series) -> pd.Series:
    """`short_image` over a column."""
    return pd.Series([short_image(n) for n in names], index=names.index, dtype=object)


def _bad(path: Path, schema: dict, row: int, why: str) -> SchemaError:
    return SchemaError(f"{path}, row {row} (line {row + 1}): {why}.\nExpected schema (column:kind): "
                       f"{describe(schema)}")


def cue_classes(images: pd.Series, locate, schema: dict) -> tuple[pd.Series, pd.Series]:
    """Shape and texture classes from cue-conflict image ids (`<shape><i>-<texture><j>[.png]`);
    `locate(i)` -> (path, row) names a bad one."""
    got = images.str.replace(r"\.png$", "", regex=True).str.extract(_CUE)
    bad = got[0].isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        path, row = locate(i)
        raise _bad(path, schema, row, f"not a cue-conflict image name (<shape><i>-<texture><j>): {images.iloc[i]!r}")
    return got[0], got[1]


def _with_tags(df: pd.DataFrame, tag_of, keys: list[str]) -> pd.DataFrame:
    """Attach one tag row per distinct `keys` value (tag_of(*key) -> dict) to every decision."""
    uniq = df[keys].drop_duplicates()
    tags = pd.DataFrame([{**dict(zip(keys, k)), **tag_of(*k)} for k in uniq.itertuples(index=False)])
    return df.merge(tags, on=keys, how="left")


def _folder(name: str, root) -> Path:
    d = require(name, root)
    raw = d / "raw-data"
    if not raw.is_dir():
        raise MissingDataError(f"records/{name}/raw-data", raw, layout=f"  records/{name}/raw-data/<dataset>/...",
                               fetch=FETCH_CMD)
    return raw


def _read(paths: list[Path], schema: dict, lower: bool = False) -> tuple[pd.DataFrame, object]:
    df = read_tables(paths, schema, lower=lower)
    if df.empty:
        folders = sorted({str(p.parent) for p in paths})
        raise SchemaError(f"{', '.join(folders[:3])}{' ...' if len(folders) > 3 else ''}: holds no decisions: its "
                          f"{len(paths)} decision file(s) have a header and no rows")
    return df, lambda i: (paths[int(df["_file"].iloc[i])], int(df["_row"].iloc[i]))


# ---- model-vs-human -----------------------------------------------------------------------------

def mvh_model(path: Path, dataset: str) -> str:
    """The decider of a raw-data file, from its name `<dataset>_<decider>_session[-_]1.csv`."""
    m = _MVH_FILE.match(path.name)
    if not path.name.startswith(dataset + "_") or not m or len(m.group("model")) <= len(dataset) + 1:
        raise SchemaError(f"{path}: not a model-vs-human raw-data file name; expected "
                          f"{dataset}_<subject-or-model>_session-1.csv (or session_1) in raw-data/{dataset}/")
    return m.group("model")[len(dataset) + 1:]


def load_model_vs_human(root=None, datasets=None, *, source: str = "model_vs_human") -> pd.DataFrame:
    """Every decision of `records/<source>/raw-data/<dataset>/*.csv` (all datasets, or `datasets`).

    `root` may be any folder holding `records/<source>/raw-data/` in this layout, e.g. runs of your
    own models made with model-vs-human; decider names the tag rules do not know are tagged unknown.
    """
    raw = _folder(source, root)
    folders = sorted(p for p in raw.iterdir() if p.is_dir() and p.name != "performances")
    if datasets is not None:
        want = set([datasets] if isinstance(datasets, str) else datasets)
        folders = [p for p in folders if p.name in want]
    paths = [f for d in folders for f in sorted(d.glob("*.csv"))]
    if not paths:
        raise MissingDataError(f"decision files in records/{source}/raw-data", raw,
                               layout="  <dataset>/<dataset>_<subject-or-model>_session-1.csv", fetch=FETCH_CMD)
    files = pd.DataFrame({"dataset": [f.parent.name for f in paths],
                          "model": [mvh_model(f, f.parent.name) for f in paths],
                          "table": [f"{f.parent.name}/{f.name}" for f in paths]})
    df, locate = _read(paths, MVH_SCHEMA, lower=True)
    meta = files.iloc[df["_file"].to_numpy()].reset_index(drop=True)
    cond, resp = df["condition"], df["object_response"]  # read_tables checked them; the files have no padding
    image = short_images(df["imagename"])
    out = pd.DataFrame({"source": source, "model": meta["model"], "dataset": meta["dataset"],
                        "condition": cond.where(~cond.isin(["", "nan", "NaN", "na", "NA"]), "0"), "image": image,
                        "category": df["category"], "decision": resp.where(resp != "", NO_ANSWER),
                        "shape": None, "texture": None, "table": meta["table"]})
    cue = (out["dataset"] == CUE_CONFLICT).to_numpy()
    if cue.any():
        idx = np.flatnonzero(cue)
        shape, texture = cue_classes(image.iloc[idx].reset_index(drop=True), lambda i: locate(int(idx[i])), MVH_SCHEMA)
        out.loc[cue, "shape"], out.loc[cue, "texture"] = shape.to_numpy(), texture.to_numpy()
    for f in paths:
        check_published(f)
    out = _with_tags(out, lambda m: {**T.mvh_tags(m), "head": None if m.startswith("subject-") else HEAD_IMAGENET},
                     ["model"])
    return _finish(out)


def load_model_vs_human_clip(root=None, datasets=None) -> pd.DataFrame:
    """The same layout for OpenAI CLIP ViT-B/32 (`clip`), B/16 (`clip-16`) and L/14 (`clip-14`)."""
    return load_model_vs_human(root, datasets, source="model_vs_human_clip")


# ---- Gavrikov et al. (vlm_shapebias) -------------------------------------------------------------

def _gavrikov_files(raw: Path, parts) -> list[tuple[Path, str, str | None, str]]:
    """(file, model, prompts, part) of every decision file of the chosen parts."""
    out = []
    if "clip" in parts:
        out += [(f, *T.split_prompt(f.stem), "clip") for f in sorted((raw / "clip").glob("*.csv"))]
    if "inet_classifier" in parts:
        out += [(f, f.stem, None, "inet_classifier") for f in sorted((raw / "inet_classifier").glob("*.csv"))]
    for part, prompts in (("vqa", T.VQA), ("captioning", T.CAPTION)):
        if part in parts:
            for f in sorted((raw / "vlm" / part).glob("*.csv")):
                m = _STAMP.match(f.stem)
                out.append((f, m.group("model") if m else f.stem, prompts, part))
    return out


def _gavrikov_tags(model: str, prompts: str | None, part: str) -> dict:
    if part == "clip":
        return {**T.gavrikov_clip_tags(model, prompts), "head": HEAD_16}
    if part == "inet_classifier":
        return {**T.classifier_tags(model), "head": HEAD_IMAGENET}
    return {**T.lmm_tags(model, prompts), "head": HEAD_LMM}


def load_vlm_shapebias(root=None, parts=("clip", "inet_classifier", "vqa", "captioning")) -> pd.DataFrame:
    """Gavrikov et al.'s cue-conflict decisions: zero-shot CLIPs under three prompt sets, ImageNet
    classifiers (CLIP fine-tunes among them), and LMMs asked the 16-way question (`vqa`) or to caption."""
    raw = _folder("vlm_shapebias", root)
    found = _gavrikov_files(raw, parts)
    if not found:
        raise MissingDataError("decision files in records/vlm_shapebias/raw-data", raw,
                               layout="  clip/<model>_<prompts>.csv\n  inet_classifier/<timm name>.csv\n"
                                      "  vlm/vqa/<timestamp>_<model>.csv", fetch=FETCH_CMD)
    paths = [f for f, *_ in found]
    files = pd.DataFrame([dict(model=m, prompts=p, part=part, table=f.relative_to(raw).as_posix())
                          for f, m, p, part in found])
    df, locate = _read(paths, GAVRIKOV_SCHEMA)
    meta = files.iloc[df["_file"].to_numpy()].reset_index(drop=True)
    image = df["image"].str.strip()
    shape, texture = cue_classes(image, locate, GAVRIKOV_SCHEMA)
    label = df["pred_label"].str.strip()
    out = pd.DataFrame({"source": "vlm_shapebias", "model": meta["model"], "dataset": CUE_CONFLICT, "condition": "0",
                        "image": image + ".png", "category": shape,
                        "decision": label.where(~label.isin(["", "None", "nan"]), NO_ANSWER), "shape": shape,
                        "texture": texture, "table": meta["table"], "prompts": meta["prompts"], "part": meta["part"]})
    for f in paths:
        check_published(f)
    keys = ["model", "prompts", "part"]
    out["prompts"] = out["prompts"].fillna("-")  # merge keys cannot be NaN-safe across pandas versions
    out = _with_tags(out, lambda m, p, part: {k: v for k, v in _gavrikov_tags(m, None if p == "-" else p, part)
                                              .items() if k != "prompts"}, keys)
    out["prompts"] = out["prompts"].replace("-", None)
    return _finish(out.drop(columns="part"))


# ---- texture-vs-shape, in the same form -----------------------------------------------------------

def load_texture_vs_shape(root=None) -> pd.DataFrame:
    """The original cue-conflict experiment (10 humans; AlexNet, GoogLeNet, VGG-16) as decision rows."""
    from .tables import load_cue_conflict

    c = load_cue_conflict(root)
    out = pd.DataFrame({"source": "texture_vs_shape", "model": c["subject"], "dataset": CUE_CONFLICT,
                        "condition": "0", "image": short_images(c["imagename"]), "category": c["category"],
                        "decision": c["response"].where(c["response"] != "", NO_ANSWER), "shape": c["shape"],
                        "texture": c["texture"], "table": c["table"]})

    def tag(subject: str) -> dict:
        if subject.startswith("subject-"):
            return {**T.human_tags(), "head": None}
        return {**T._imagenet_model(subject, T.family_from_name(subject)), "head": HEAD_IMAGENET}

    return _finish(_with_tags(out, tag, ["model"]))


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("shape", "texture", "encoder", "encoder_note", "zs_base"):
        if c not in df.columns:
            df[c] = None
    front = [c for c in COLUMNS if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


def unknown_models(decisions: pd.DataFrame) -> pd.DataFrame:
    """The deciders the tag rules do not know (kept in every table, tagged unknown), with their row counts."""
    u = decisions[~decisions["tagged"].astype(bool)]
    return u.groupby(["source", "model", "kind"], as_index=False).size().rename(columns={"size": "decisions"})


def models(decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per (source, model, prompts) with its tags: the list of deciders in a decision frame."""
    keys = ["source", "model", "prompts"]
    extra = dict.fromkeys(["kind", "arch", "head", *T.TAG_COLUMNS, "tagged", "encoder", "encoder_note", "zs_base"])
    cols = keys + [c for c in extra if c in decisions.columns and c not in keys]
    return decisions[cols].drop_duplicates(keys).reset_index(drop=True)
