"""Zero-shot CLIPs under three test-time prompt sets: the records of Udandarao et al. (NeurIPS 2024, "No 'Zero-Shot'
Without Exponential Data"), `frequency_determines_performance/`.

Each `zero_shot_evaluations/<dataset>_<prompts>_results.json` maps a model key `backbone<ARCH>_pretrained<DATA>` to
`{"full": top-1 in percent, "classwise": {class name: accuracy in percent}}`. The prompt sets (its
`src/zero_shot_eval.py`): `class` is the bare class name, `simple` is "A photo of a {c}.", `ensemble` is the dataset's
templates in `src/zero_shot_templates.py` (for ImageNet, -Sketch and -R: OpenAI's 80 ImageNet templates, the class
embedding the normalised mean of the normalised prompt embeddings).

`CHECKPOINTS` is that repository's `BACKBONES_AND_PRETRAINED` table, for the 21 keys its published files hold, written
here as data: which checkpoint each key evaluated. 13 are open_clip pretrained tags (their `model` is open_clip's
`ARCH/TAG`, the name open_clip's results table uses); 8 are other releases: CyCLIP's RN50 on CC3M, thaottn's RN50s on
CC12M and YFCC15M (hub checkpoints, named by their `hf-hub:` name), SLIP's ViT-B/16 on CC3M, CC12M and YFCC15M,
SynthCLIP's ViT-B/16 on SynthCI-30M and a ViT-B/32 on LAION pruned of test-like images (these named by their file).
Two open_clip evaluations were built with the plain architecture name, so with GELU, where their tags were trained
with QuickGELU (`gelu_built`): ViT-B-32 `laion400m_e32` and RN101 `yfcc15m`. open_clip's own table has the same
mistake in its plain-name rows; analyses leave these two out and name them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import tags as T
from .schema import json_error, read_json
from .sources import check_published, require

FOLDER = "frequency_determines_performance"
RESULTS = "zero_shot_evaluations"
PROMPT_SETS = ("class", "simple", "ensemble")
# the source's prompt sets in the project's vocabulary (`tags.PROMPTS`)
PROMPTS = {"class": T.BARE_NAME, "simple": T.ONE_TEMPLATE, "ensemble": T.ENSEMBLE80}
DATASETS = ("imagenet", "imagenet-sketch", "imagenet-r")
_FILE = re.compile(r"^(?P<dataset>.+)_(?P<prompts>class|simple|ensemble)_results\.json$")
_KEY = re.compile(r"^backbone(?P<backbone>.+?)_pretrained(?P<pretraining>.+)$")
EXPECTED = ('{"backbone<ARCH>_pretrained<DATA>": {"full": <top-1 in percent>, "classwise": {<class name>: '
            '<accuracy in percent>, ...}}, ...} (frequency_determines_performance zero_shot_evaluations/'
            '<dataset>_{class,simple,ensemble}_results.json)')
OPEN_CLIP, OTHER = "open_clip", "other"


@dataclass(frozen=True)
class Checkpoint:
    """What one model key evaluated (the source's `BACKBONES_AND_PRETRAINED`): `arch` is the open_clip architecture
    name it was built with, `checkpoint` the open_clip tag, `hf-hub:` name or file it loaded, `kind` "open_clip"
    (an open_clip pretrained tag) or "other", `released_by` who published the weights, `data` the training source
    (`clipstudy.data_sources`), `gelu_built` True where the plain (GELU) architecture was built for a tag trained
    with QuickGELU."""

    backbone: str
    pretraining: str
    arch: str
    checkpoint: str
    kind: str
    released_by: str
    data: str
    gelu_built: bool = False

    @property
    def key(self) -> str:
        return f"backbone{self.backbone}_pretrained{self.pretraining}"

    @property
    def model(self) -> str:
        """open_clip's `ARCH/TAG` for its tags, the `hf-hub:` name for hub checkpoints, else the file's stem."""
        if self.kind == OPEN_CLIP:
            return f"{self.arch}/{self.checkpoint}"
        return self.checkpoint.removesuffix(".pt")


_OC, _CYCLIP, _QNQ = "open_clip", "CyCLIP (goel-shashank/CyCLIP)", "Quality Not Quantity (thaottn on the HF hub)"
_SLIP, _SYNTH = "SLIP (facebookresearch/SLIP)", "SynthCLIP (hammoudhasan/SynthCLIP)"
_PRUNED = "Mayilvahanan et al. 2024 (brendel-group/clip-ood)"
CHECKPOINTS: tuple[Checkpoint, ...] = (
    Checkpoint("RN50", "cc3m", "RN50", "clip_RN50_CC3M_from_cyclip.pt", OTHER, _CYCLIP, "cc3m"),
    Checkpoint("RN50", "cc12m", "RN50", "hf-hub:thaottn/OpenCLIP-resnet50-CC12M", OTHER, _QNQ, "cc12m"),
    Checkpoint("RN50", "yfcc15m", "RN50", "hf-hub:thaottn/OpenCLIP-resnet50-YFCC15M", OTHER, _QNQ, "yfcc15m"),
    Checkpoint("RN101", "yfcc15m", "RN101", "yfcc15m", OPEN_CLIP, _OC, "yfcc15m", gelu_built=True),
    Checkpoint("ViT-B-32", "laion400m", "ViT-B-32", "laion400m_e32", OPEN_CLIP, _OC, "laion400m", gelu_built=True),
    Checkpoint("ViT-B-32", "laion2b", "ViT-B-32", "laion2b_s34b_b79k", OPEN_CLIP, _OC, "laion2b"),
    Checkpoint("ViT-B-32", "datacomp", "ViT-B-32", "datacomp_xl_s13b_b90k", OPEN_CLIP, _OC, "datacomp-1b"),
    Checkpoint("ViT-B-32", "laion200m_train_test_sim_normalized", "ViT-B-32",
               "clip_ViT-B-32_train-test-sim-normalized_from_prasanna.pt", OTHER, _PRUNED, "laion200m-sim-normalized"),
    Checkpoint("ViT-B-16", "laion400m", "ViT-B-16", "laion400m_e32", OPEN_CLIP, _OC, "laion400m"),
    Checkpoint("ViT-B-16", "laion2b", "ViT-B-16", "laion2b_s34b_b88k", OPEN_CLIP, _OC, "laion2b"),
    Checkpoint("ViT-B-16", "datacomp", "ViT-B-16", "datacomp_xl_s13b_b90k", OPEN_CLIP, _OC, "datacomp-1b"),
    Checkpoint("ViT-B-16", "cc12m", "ViT-B-16", "clip_ViT-B-16_CC12M_from_slip.pt", OTHER, _SLIP, "cc12m"),
    Checkpoint("ViT-B-16", "cc3m", "ViT-B-16", "clip_ViT-B-16_CC3M_from_slip.pt", OTHER, _SLIP, "cc3m"),
    Checkpoint("ViT-B-16", "yfcc15m", "ViT-B-16", "clip_ViT-B-16_YFCC15M_from_slip.pt", OTHER, _SLIP, "yfcc15m"),
    Checkpoint("ViT-B-16", "synthci30m", "ViT-B-16", "clip_ViT-B-16_SynthCI30M.pt", OTHER, _SYNTH, "synthci-30m"),
    Checkpoint("ViT-L-14", "laion400m", "ViT-L-14", "laion400m_e32", OPEN_CLIP, _OC, "laion400m"),
    Checkpoint("ViT-L-14", "laion2b", "ViT-L-14", "laion2b_s32b_b82k", OPEN_CLIP, _OC, "laion2b"),
    Checkpoint("ViT-L-14", "datacomp", "ViT-L-14", "datacomp_xl_s13b_b90k", OPEN_CLIP, _OC, "datacomp-1b"),
    Checkpoint("ViT-H-14", "laion2b", "ViT-H-14", "laion2b_s32b_b79k", OPEN_CLIP, _OC, "laion2b"),
    Checkpoint("ViT-g-14", "laion2b", "ViT-g-14", "laion2b_s34b_b88k", OPEN_CLIP, _OC, "laion2b"),
    Checkpoint("ViT-bigG-14", "laion2b", "ViT-bigG-14", "laion2b_s39b_b160k", OPEN_CLIP, _OC, "laion2b"),
)
BY_KEY: dict[str, Checkpoint] = {c.key: c for c in CHECKPOINTS}
CHECKPOINT_COLUMNS = ["key", "backbone", "pretraining", "arch", "checkpoint", "checkpoint_kind", "released_by",
                      "gelu_built"]


def checkpoint_tags(c: Checkpoint | None, key: str, backbone: str) -> dict:
    """Tag columns of one model key (`tags.TAG_COLUMNS`, prompts set per row by the loader) and its checkpoint
    columns. An open_clip tag is tagged as open_clip's loader tags it; another release by its architecture's
    open_clip config and its training source (samples seen unknown: NaN). A key the table does not hold keeps its
    row with unknown tags (`tagged` False)."""
    from .tables import _open_clip_config

    if c is None:
        t = T.unknown_tags(key, kind="model", group=T.ZS_CLIP)
        return {**t, "model": key, "key": key, "backbone": backbone, "pretraining": None, "checkpoint": None,
                "checkpoint_kind": T.UNKNOWN, "released_by": None, "gelu_built": False}
    config = _open_clip_config(c.arch)
    if c.kind == OPEN_CLIP:
        t = T.open_clip_tags(c.arch, c.checkpoint, config)
    else:
        t = {**T.open_clip_arch(c.arch, config), "data": c.data, "dataset_size": T.DATA_SIZES.get(c.data, T.NAN),
             "samples_seen": T.NAN, "finetuned": False, "finetune_data": None, "loss": T.loss_from_name(c.arch),
             "group": T.ZS_CLIP, "kind": "model", "prompts": None}
    return {**t, "arch": c.arch, "tagged": True, "model": c.model, "key": key, "backbone": c.backbone,
            "pretraining": c.pretraining, "checkpoint": c.checkpoint, "checkpoint_kind": c.kind,
            "released_by": c.released_by, "gelu_built": c.gelu_built}


def _percent(path: Path, where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise json_error(path, where, f"should be an accuracy in percent (0-100), got {value!r}", EXPECTED)
    return float(value)


def _read_results(path: Path) -> tuple[list[dict], list[dict]]:
    """(one row per model key: key, full; one row per (key, class): key, class, value), in percent, checked."""
    data, raw = read_json(path, EXPECTED)
    if not isinstance(data, dict) or not data:
        raise json_error(path, "", f"the top level should be a non-empty object of model keys, got "
                                   f"{type(data).__name__}", EXPECTED)
    full, per_class, classes = [], [], None
    for key, entry in data.items():
        if not _KEY.match(key):
            raise json_error(path, f"key {key!r}", "not a model key backbone<ARCH>_pretrained<DATA>", EXPECTED)
        if not isinstance(entry, dict) or set(entry) != {"full", "classwise"}:
            got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise json_error(path, f"key {key!r}", f"should hold exactly 'full' and 'classwise', got {got}", EXPECTED)
        full.append({"key": key, "full": _percent(path, f"key {key!r}, 'full'", entry["full"])})
        cw = entry["classwise"]
        if not isinstance(cw, dict) or not cw:
            raise json_error(path, f"key {key!r}, 'classwise'", "should be a non-empty object of class accuracies",
                             EXPECTED)
        if classes is None:
            classes = list(cw)
        elif list(cw) != classes:
            missing = sorted(set(classes) - set(cw))[:3]
            raise json_error(path, f"key {key!r}, 'classwise'", f"its classes differ from the first key's "
                                                                 f"({len(cw)} vs {len(classes)}; missing e.g. "
                                                                 f"{missing})", EXPECTED)
        per_class += [{"key": key, "class": name, "value": _percent(path, f"key {key!r}, class {name!r}", v)}
                      for name, v in cw.items()]
    check_published(path, raw)  # after the checks above, whose errors name the key
    return full, per_class


def result_files(root=None) -> list[tuple[Path, str, str]]:
    """[(file, dataset, prompt set)] of `zero_shot_evaluations/`, sorted; a folder with none is a clear error."""
    from ..errors import MissingDataError
    from .sources import FETCH_CMD

    d = require(FOLDER, root) / RESULTS
    files = [(f, m.group("dataset"), m.group("prompts")) for f in sorted(d.glob("*_results.json"))
             if (m := _FILE.match(f.name))]
    if not files:
        raise MissingDataError(f"records/{FOLDER}/{RESULTS}/<dataset>_<class|simple|ensemble>_results.json", d,
                               fetch=FETCH_CMD)
    return files


def load_frequency(root=None, per_class: bool = False) -> pd.DataFrame:
    """Top-1 of every (model key, dataset, prompt set), as a fraction: one row each (`per_class=True`: one row per
    class as well, `class` holding the class name).

    Columns: source, model, key, backbone, pretraining, arch, checkpoint, checkpoint_kind (open_clip | other),
    released_by, gelu_built, dataset, prompt_set (class | simple | ensemble), prompts (`tags.PROMPTS`), metric
    ("acc1"), value, n_classes, table, the tag columns (`tags.TAG_COLUMNS`) and tagged."""
    rows, tag_cache = [], {}
    for path, dataset, prompt_set in result_files(root):
        full, per = _read_results(path)
        n_classes = len(per) // max(len(full), 1)
        src = per if per_class else full
        for r in src:
            value = (r["value"] if per_class else r["full"]) / 100.0
            row = {"key": r["key"], "dataset": dataset, "prompt_set": prompt_set, "metric": "acc1", "value": value,
                   "n_classes": n_classes, "table": path.stem}
            if per_class:
                row["class"] = r["class"]
            rows.append(row)
    df = pd.DataFrame(rows)
    for key in df["key"].unique():
        backbone = _KEY.match(key).group("backbone")
        tag_cache[key] = checkpoint_tags(BY_KEY.get(key), key, backbone)
    tags = pd.DataFrame([tag_cache[k] for k in df["key"]])
    df = pd.concat([df.reset_index(drop=True), tags.drop(columns=["key"])], axis=1)
    df["prompts"] = df["prompt_set"].map(PROMPTS)
    df.insert(0, "source", FOLDER)
    first = ["source", "model", "key", "backbone", "pretraining", "arch", "checkpoint", "checkpoint_kind",
             "released_by", "gelu_built", "dataset", "prompt_set", "prompts", *(["class"] if per_class else []),
             "metric", "value", "n_classes", "table"]
    rest = [c for c in T.TAG_COLUMNS if c != "prompts"] + ["tagged"]
    return df[first + rest]


def checkpoints_frame() -> pd.DataFrame:
    """`CHECKPOINTS` as a frame (one row per model key): key, model, backbone, pretraining, arch, checkpoint,
    checkpoint_kind, released_by, data, gelu_built."""
    return pd.DataFrame([{"key": c.key, "model": c.model, "backbone": c.backbone, "pretraining": c.pretraining,
                          "arch": c.arch, "checkpoint": c.checkpoint, "checkpoint_kind": c.kind,
                          "released_by": c.released_by, "data": c.data, "gelu_built": c.gelu_built}
                         for c in CHECKPOINTS])


def gelu_built(frame: pd.DataFrame) -> list[str]:
    """The models of a frequency frame evaluated with GELU where their tag was trained with QuickGELU."""
    return sorted(frame.loc[frame["gelu_built"].astype(bool), "model"].unique())


__all__ = ["Checkpoint", "CHECKPOINTS", "BY_KEY", "PROMPT_SETS", "PROMPTS", "DATASETS", "load_frequency",
           "checkpoints_frame", "gelu_built", "result_files", "OPEN_CLIP", "OTHER"]
