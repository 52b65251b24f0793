"""Price a grid before running it: `clipstudy run --dry-run --estimate`.

The runner's own planner (`plan.plan(..., sizes="published")`) gives the units; each dataset is counted by its
published size (`clipstudy.datasets.PUBLISHED`), so nothing is opened, no model is loaded and no image is read.
For every unit it counts the images to encode, the prompts of the zero-shot heads (classes x templates of each
prompt set; a head is built once per model and class list, as the engine's head cache does) and the captions
of retrieval sets; then it prices them in GPU-hours per architecture:

- **measured**: an architecture this machine has a GPU measurement of (`throughput.csv` in the store's
  `benchmarks/` folder, which `benchmarks/gpu.py --record` appends to) runs at that rate;
- **published**: otherwise timm's inference benchmark on an RTX 4090 (AMP, NCHW, torch 2.4, CUDA 12.4:
  `results/benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv` in huggingface/pytorch-image-models). Its rows for
  timm models are used as they are (`TIMM_RTX4090`); open_clip architectures are scaled from the nearest anchor
  (in log GFLOPs) by image GFLOPs from open_clip's `docs/model_profile.csv` (the records' copy): the anchors are
  the ViT-B-32 and ViT-L-14 image towers, 10,128 and 658 img/s (`ANCHORS`). Text runs at its anchor's
  effective FLOP rate, over the profile's text GFLOPs (an upper bound: the engine runs causal text towers only
  up to the pooled token). Where a measurement exists, the published figures of other architectures are
  multiplied by measured / published of the measured anchors, so one table never mixes two GPUs.

The same grid is counted the per-axis way, as a tool that evaluates one task at a time does (CLIP_benchmark:
one `eval` per dataset and task; here, as `benchmarks/runner_cost.py`'s naive way, each axis run alone with an
empty store over the datasets it reads, plus the ID set OOD detection needs): ImageNet val is then encoded once
by shifts, once by calibration and once as OOD detection's ID set, where the runner encodes it once.

An LMM unit (`llava:` on a labelled set) is priced as its CLIP's encoding and zero-shot head, which choose its
questions; the language model's answers (one generation per image) are counted, not priced: no published or
measured LLaVA generation rate is at hand, and a zero would understate the grid.

Only the forward passes are priced. JPEG decoding runs at about 100-650 img/s per core (DESIGN.md), so a small
model keeps a GPU busy only with enough loader cores: `cores` in the architecture table is img/s / 650.
"""
from __future__ import annotations

import heapq
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from .. import tasks
from ..errors import ClipstudyError
from ..tasks import LMM
from .plan import Plan, plan
from .unit import lab_model_name

TIMM_SOURCE = ("timm's inference benchmark, RTX 4090, AMP (huggingface/pytorch-image-models "
               "results/benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv)")
# (timm architecture, image size) -> (img/s, GMACs), rows of that file for the architectures the registry and the
# @baselines collection use (infer_samples_per_sec, infer_gmacs), copied as published.
TIMM_RTX4090: dict[tuple[str, int], tuple[float, float]] = {
    # the CLIP image towers timm fine-tunes (and the two anchors)
    ("vit_base_patch32_clip_224", 224): (10127.52, 4.41),
    ("vit_base_patch16_clip_224", 224): (2783.55, 17.58),
    ("vit_base_patch16_clip_384", 384): (912.89, 55.54),
    ("vit_large_patch14_clip_224", 224): (658.44, 81.08),
    ("vit_large_patch14_clip_336", 336): (291.64, 191.11),
    ("vit_huge_patch14_clip_224", 224): (345.85, 167.4),
    ("convnext_base", 256): (1605.42, 20.09),
    ("convnext_large_mlp", 256): (921.21, 44.94),
    # @baselines (ImageNet-1k-trained)
    ("resnet50", 224): (4217.6, 4.11),
    ("resnet101", 224): (2736.75, 7.83),
    ("resnet152", 224): (1941.85, 11.56),
    ("wide_resnet50_2", 224): (2792.33, 11.43),
    ("resnext50_32x4d", 224): (3427.06, 4.26),
    ("densenet121", 224): (3614.99, 2.87),
    ("vgg16", 224): (2165.35, 15.47),
    ("inception_v3", 299): (3663.18, 5.73),
    ("efficientnet_b0", 224): (8926.12, 0.4),
    ("efficientnet_b3", 288): (2792.77, 1.63),
    ("mobilenetv3_large_100", 224): (14191.17, 0.23),
    ("regnety_040", 224): (3819.46, 4.0),
    ("convnext_tiny", 224): (4796.99, 4.47),
    ("convnext_base", 224): (2095.37, 15.38),
    ("vit_small_patch16_224", 224): (7693.38, 4.61),
    ("vit_base_patch16_224", 224): (2787.15, 17.58),
    ("deit_small_patch16_224", 224): (7687.89, 4.61),
    ("deit_base_patch16_224", 224): (2847.84, 17.58),
    ("swin_tiny_patch4_window7_224", 224): (2659.27, 4.51),
    ("swin_base_patch4_window7_224", 224): (1207.02, 15.47),
}
# the published anchors: open_clip architecture -> its image tower's row in TIMM_RTX4090
ANCHORS: dict[str, tuple[str, int]] = {"ViT-B-32": ("vit_base_patch32_clip_224", 224),
                                       "ViT-L-14": ("vit_large_patch14_clip_224", 224)}


def axis_reads() -> dict[str, tuple[str, ...]]:
    """What each runner axis reads, by dataset task (its declared `Axis.tasks`; benchmarks/runner_cost.py's naive
    way prices each axis on its own); an axis that reads its ID set (OOD) adds it."""
    from .. import axes

    out = {name: a.tasks for name, a in axes.runner_axes().items()}
    tasks.check(*(t for reads in out.values() for t in reads))  # each one of clipstudy.tasks.TASKS
    return out


DECODE_IMG_S_PER_CORE = 650.0  # the fast end of DESIGN.md's JPEG decoding rate per core
MEASURED_COLUMNS = ("arch", "device", "img_s")


@dataclass(frozen=True)
class Rate:
    """How fast one architecture encodes on the priced GPU, and where the figure comes from."""

    img_s: float
    text_s: float | None  # prompts (or captions) per second; None for classifiers
    source: str  # measured | published | scaled
    anchor: str  # the measurement, timm row or anchor the figure rests on


def measured_path() -> Path:
    from ..config import cache_root

    return Path(cache_root()) / "benchmarks" / "throughput.csv"


def measurements(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """GPU rows of this machine's throughput file (arch, device, img_s, ...), the fastest per arch; empty if none."""
    p = Path(path) if path is not None else measured_path()
    if not p.is_file():
        return pd.DataFrame(columns=list(MEASURED_COLUMNS))
    df = pd.read_csv(p)
    missing = [c for c in MEASURED_COLUMNS if c not in df.columns]
    if missing:
        raise ClipstudyError(f"{p}: a throughput file has columns {', '.join(MEASURED_COLUMNS)}; "
                             f"missing {', '.join(missing)}")
    df = df[df["device"].astype(str).str.startswith("cuda") & (pd.to_numeric(df["img_s"], errors="coerce") > 0)]
    return df.sort_values("img_s", ascending=False).drop_duplicates("arch").reset_index(drop=True)


def record_throughput(rows: Iterable[dict], path: str | os.PathLike | None = None) -> Path:
    """Append GPU measurements (dicts with at least arch, device, img_s) to this machine's throughput file,
    under a lock and atomically; `measurements` reads the fastest row per architecture."""
    from ..results import lock_path
    from ..store import atomic_write_text, locked

    p = Path(path) if path is not None else measured_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    new = pd.DataFrame(list(rows))
    missing = [c for c in MEASURED_COLUMNS if c not in new.columns]
    if missing:
        raise ClipstudyError(f"a throughput row needs {', '.join(MEASURED_COLUMNS)}; missing {', '.join(missing)}")
    with locked(lock_path(p)):
        old = pd.read_csv(p) if p.is_file() else None
        df = pd.concat([old, new], ignore_index=True) if old is not None else new
        atomic_write_text(df.to_csv(index=False), p)
    return p


def _profile() -> pd.DataFrame:
    from ..records.tables import PROFILE_SCHEMA, read_table, require

    cols = {**PROFILE_SCHEMA, "image_gflops": "num", "text_gflops": "num"}
    return read_table(require("open_clip") / "model_profile.csv", cols).set_index("model")


def is_classifier(spec) -> bool:
    """timm models are seen through their ImageNet head (`models.sources.timm`): no text tower, no prompts."""
    return spec.source == "timm"


def arch_key(spec) -> tuple[str, int]:
    """(architecture, image size): an open_clip model name, or a timm architecture at its input size."""
    if spec.source != "timm":
        return spec.arch, int(spec.resolution)
    from ..models import registry

    tname, size = spec.arch, int(spec.resolution)
    if spec.name not in registry.REGISTRY:  # curated rows carry their resolution; a resolved timm name asks timm
        try:
            import timm

            size = int(timm.get_pretrained_cfg(tname).input_size[-1])  # a lookup in timm's tables, no weights
        except Exception:  # noqa: BLE001: an unknown tag keeps the spec's resolution
            pass
    return tname.split(".")[0], size


class Rates:
    """Throughput per architecture (see the module docstring); `get` says None where no figure exists."""

    def __init__(self, measured: pd.DataFrame | None = None):
        self.measured = measurements() if measured is None else measured
        self._prof: pd.DataFrame | None = None
        meas = {str(r.arch): float(r.img_s) for r in self.measured.itertuples()}
        self.meas = meas
        self.device = ", ".join(sorted({str(d) for d in self.measured.get("device", [])})) or ""
        # anchors: measured open_clip architectures with a profile row, else the published ones
        prof = self.profile
        mine = {a: v for a, v in meas.items() if a in prof.index}
        if mine:
            self.anchors = {a: (v, f"measured {a} on {self.device}") for a, v in mine.items()}
        else:
            self.anchors = {a: (TIMM_RTX4090[row][0], f"{a} = timm {row[0]} @{row[1]}") for a, row in ANCHORS.items()}
        # published figures of other architectures move by measured / published of the measured anchors
        both = [meas[a] / TIMM_RTX4090[ANCHORS[a]][0] for a in meas if a in ANCHORS]
        self.device_factor = math.exp(sum(map(math.log, both)) / len(both)) if both else 1.0

    @property
    def profile(self) -> pd.DataFrame:
        if self._prof is None:
            try:
                self._prof = _profile()
            except ClipstudyError:
                self._prof = pd.DataFrame(columns=["image_gflops", "text_gflops"])
        return self._prof

    def _effective(self, anchor: str) -> float:
        """The anchor's effective image GFLOP/s (img/s x its profile GFLOPs)."""
        return self.anchors[anchor][0] * float(self.profile.loc[anchor, "image_gflops"])

    def get(self, spec) -> Rate | None:
        arch, size = arch_key(spec)
        classifier = is_classifier(spec)
        prof = self.profile
        text_gf = float(prof.loc[arch, "text_gflops"]) if arch in prof.index else None
        if spec.source != "timm" and arch in prof.index:
            gf = float(prof.loc[arch, "image_gflops"])
            anchor = min(self.anchors, key=lambda a: abs(math.log(gf / float(prof.loc[a, "image_gflops"]))))
            eff = self._effective(anchor)
            text_s = eff / text_gf if text_gf and not classifier else None
            if arch in self.meas:
                return Rate(self.meas[arch], text_s, "measured", f"measured on {self.device}")
            if arch == anchor and arch in ANCHORS and not self.meas:
                return Rate(self.anchors[arch][0], text_s, "published", self.anchors[arch][1])
            return Rate(eff / gf, text_s, "scaled",
                        f"{self.anchors[anchor][1]} x {float(prof.loc[anchor, 'image_gflops']):g}/{gf:g} GFLOPs")
        key = f"{arch}@{size}"
        if key in self.meas:
            return Rate(self.meas[key], None, "measured", f"measured on {self.device}")
        if (arch, size) in TIMM_RTX4090:
            ips = TIMM_RTX4090[(arch, size)][0] * self.device_factor
            note = f"timm {arch} @{size}" + (f" x {self.device_factor:.2f} (measured/published)"
                                             if self.device_factor != 1.0 else "")
            return Rate(ips, None, "published", note)
        return None


# ----------------------------------------------------------------- counting
def _templates(prompts: Sequence[str]) -> int:
    from .. import prompts as prompt_sets

    return sum(len(prompt_sets.templates(p)) for p in prompts)


def _counts(units: Sequence, specs: dict, n_templates: int) -> pd.DataFrame:
    """One row per unit: images, prompts (a head counted on the first unit of its model that needs it) and
    captions. Units are in plan order (model-major)."""
    from ..datasets import published_size

    rows, built = [], set()
    for u in units:
        size = published_size(u.dataset)
        clip = not is_classifier(specs[u.model])
        prompts = 0
        if clip and size.classes and (u.model, size.head) not in built:
            built.add((u.model, size.head))
            prompts = size.classes * n_templates
        rows.append(dict(model=u.model, dataset=u.dataset, images=size.images, prompts=prompts,
                         captions=size.captions if clip else 0))
    return pd.DataFrame(rows, columns=["model", "dataset", "images", "prompts", "captions"])


@dataclass
class Estimate:
    """What `estimate` found: the plan, one row per unit (with its architecture and seconds), the same per
    (axis, unit) for the per-axis way, the rates, and what could not be priced."""

    plan: Plan
    units: pd.DataFrame
    per_axis: pd.DataFrame
    rates: dict[str, Rate | None]
    gpus: int
    time_min: int
    unpriced: list[str] = field(default_factory=list)
    device: str = ""  # the GPU of the measurements the rates rest on ('' where only published figures are used)
    questions: dict[str, int] = field(default_factory=dict)  # LMM model -> questions its language model answers

    # ---- totals
    def totals(self) -> dict:
        u, a = self.units, self.per_axis
        t = dict(units=len(u), images=int(u["images"].sum()), prompts=int(u["prompts"].sum()),
                 captions=int(u["captions"].sum()), gpu_hours=float(u["seconds"].sum()) / 3600,
                 axis_units=len(a), axis_images=int(a["images"].sum()), axis_prompts=int(a["prompts"].sum()),
                 axis_captions=int(a["captions"].sum()), axis_gpu_hours=float(a["seconds"].sum()) / 3600)
        t["image_ratio"] = t["axis_images"] / t["images"] if t["images"] else float("nan")
        t["gpu_hour_ratio"] = t["axis_gpu_hours"] / t["gpu_hours"] if t["gpu_hours"] else float("nan")
        return t

    def by_arch(self) -> pd.DataFrame:
        """GPU-hours per architecture, once per unit and per axis, with the rate and its source."""
        u, a = self.units, self.per_axis
        g = u.groupby("arch", sort=False).agg(models=("model", "nunique"), units=("model", "size"),
                                              images=("images", "sum"), prompts=("prompts", "sum"),
                                              captions=("captions", "sum"), seconds=("seconds", "sum"))
        g["axis_images"] = a.groupby("arch")["images"].sum().reindex(g.index).fillna(0).astype(int)
        g["axis_seconds"] = a.groupby("arch")["seconds"].sum().reindex(g.index).fillna(0)
        rate = u.drop_duplicates("arch").set_index("arch")
        g["img_s"] = rate["img_s"]
        g["source"] = rate["source"]
        g["anchor"] = rate["anchor"]
        g["gpu_hours"] = g.pop("seconds") / 3600
        g["axis_gpu_hours"] = g.pop("axis_seconds") / 3600
        g["cores"] = (g["img_s"] / DECODE_IMG_S_PER_CORE).apply(math.ceil)
        return g.sort_values("gpu_hours", ascending=False).reset_index()

    def by_dataset(self) -> pd.DataFrame:
        """Per dataset: units, images once per unit, how many axes read it, and images the per-axis way."""
        u, a = self.units, self.per_axis
        g = u.groupby("dataset", sort=False).agg(units=("model", "size"), images=("images", "sum"))
        g["axes"] = a.groupby("dataset")["axis"].nunique().reindex(g.index).fillna(0).astype(int)
        g["axis_images"] = a.groupby("dataset")["images"].sum().reindex(g.index).fillna(0).astype(int)
        return g.reset_index()

    def slurm(self, gpus: int | None = None) -> dict:
        """One unit per array task on one GPU, `gpus` at once: array size, wall time (longest-first list
        scheduling of the units' seconds), the longest unit and how many exceed --time-min."""
        gpus = gpus or self.gpus
        secs = sorted(self.units["seconds"].tolist(), reverse=True)
        axis_secs = sorted(self.per_axis["seconds"].tolist(), reverse=True)
        return dict(gpus=gpus, array_size=len(secs), wall_hours=makespan(secs, gpus) / 3600,
                    axis_array_size=len(axis_secs), axis_wall_hours=makespan(axis_secs, gpus) / 3600,
                    longest_unit_hours=(secs[0] / 3600 if secs else 0.0),
                    over_time_limit=sum(s > self.time_min * 60 for s in secs), time_min=self.time_min)

    def markdown(self) -> str:
        return report(self)


def makespan(seconds: Sequence[float], slots: int) -> float:
    """Longest-processing-time-first list scheduling on `slots` identical GPUs (within 4/3 of optimal)."""
    if not seconds:
        return 0.0
    heap = [0.0] * max(1, min(slots, len(seconds)))
    for s in sorted(seconds, reverse=True):
        heapq.heappush(heap, heapq.heappop(heap) + s)
    return max(heap)


def estimate(models: Iterable[str] | str, datasets: Iterable[str] | str, *, axes: Sequence[str] | str = "all",
             prompts: Sequence[str] | str = "openai80", precision: str = "auto", gpus: int = 8, time_min: int = 240,
             measured: pd.DataFrame | None = None, lab_profile: str | None = None) -> Estimate:
    """Price the grid (see the module docstring). Loads no model and opens no dataset."""
    from .. import zoo

    if gpus < 1:
        raise ClipstudyError(f"--gpus must be at least 1, got {gpus}")
    p = plan(models, datasets, axes=axes, prompts=prompts, precision=precision, device_kind="cuda",
             lab_profile=lab_profile, sizes="published")
    prompts_ = tuple(dict.fromkeys(x.strip() for item in ([prompts] if isinstance(prompts, str) else prompts)
                                   for x in item.split(",") if x.strip()))
    n_templates = _templates(prompts_)
    specs = {u.model: zoo.get(lab_model_name(u.model, u.lab_profile)) for u in p.units}  # a bare lab: name: its profile
    specs = {m: _priced_as(m, s) for m, s in specs.items()}  # an LMM: its CLIP's encoding
    rates_ = Rates(measured)
    rates = {m: rates_.get(s) for m, s in specs.items()}
    unpriced = [m for m, r in rates.items() if r is None]
    units = _counts(p.units, specs, n_templates)
    from ..datasets import published_size

    questions: dict[str, int] = {}
    for u in p.units:
        if u.task == LMM:
            questions[u.model] = questions.get(u.model, 0) + published_size(u.dataset).images
    per_axis = []
    from .plan import add_id_sets

    axis_tasks = axis_reads()
    for axis in p.axes:
        lmm_axis = LMM in axis_tasks.get(axis, ())
        mine = [u for u in p.units if (u.task == LMM) == lmm_axis]  # the LMM axis reads LMM units alone
        reads = list(dict.fromkeys(u.dataset for u in mine if u.task in axis_tasks.get(axis, ())))
        if not reads:
            continue
        sets = set(add_id_sets(reads, [axis]))
        c = _counts([u for u in mine if u.dataset in sets], specs, n_templates)  # heads rebuilt per axis
        per_axis.append(c.assign(axis=axis))
    per_axis_df = (pd.concat(per_axis, ignore_index=True) if per_axis
                   else pd.DataFrame(columns=list(units.columns) + ["axis"]))
    for df in (units, per_axis_df):
        _price(df, specs, rates)
    keep = ~units["model"].isin(unpriced)
    if not keep.any():  # nothing priced: an error that says why, never a table of zeros and "nanx"
        why = [f"{r.model} x {r.dataset}: {r.error}" for r in p.failed[:5]]
        if unpriced:
            why.append(f"no rate for {', '.join(unpriced[:5])} (no measurement, no timm row, and no open_clip "
                       "profile: records/open_clip/model_profile.csv, from `clipstudy fetch records`)")
        raise ClipstudyError("nothing to price: no unit of this grid has a published size and a rate"
                             + (": " + "; ".join(why) if why else ""))
    return Estimate(p, units[keep].reset_index(drop=True),
                    per_axis_df[~per_axis_df["model"].isin(unpriced)].reset_index(drop=True),
                    rates, gpus, time_min, unpriced, rates_.device if rates_.meas else "", questions)


def _priced_as(name: str, spec):
    """The spec whose forward passes a unit of `name` runs on the priced GPU: an LMM's CLIP (its vision tower,
    which encodes the images and builds the head that chooses the questions), else the model itself."""
    from .. import zoo
    from ..models.sources import llava

    if spec.source != llava.SOURCE:
        return spec
    return zoo.get(llava.split(name)[1])


def _price(df: pd.DataFrame, specs: dict, rates: dict[str, Rate | None]) -> None:
    def arch(m: str) -> str:
        a, size = arch_key(specs[m])
        return a if specs[m].source != "timm" else f"timm:{a}@{size}"

    archs = {m: arch(m) for m in df["model"].unique()}
    df["arch"] = df["model"].map(archs)
    for col in ("img_s", "source", "anchor"):
        df[col] = df["model"].map(lambda m: getattr(rates[m], col) if rates[m] else None)
    text = df["model"].map(lambda m: rates[m].text_s if rates[m] and rates[m].text_s else float("inf"))
    img = df["img_s"].astype(float)
    df["seconds"] = df["images"] / img + (df["prompts"] + df["captions"]) / text


# ----------------------------------------------------------------- printing
def _md(df: pd.DataFrame) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:,.1f}" if abs(v) >= 10 else f"{v:,.2f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.astype(object).itertuples(index=False)]
    return "\n".join(lines)


def arch_table(e: Estimate) -> str:
    t = e.by_arch()
    t = t.assign(ratio=t["axis_gpu_hours"] / t["gpu_hours"])
    t = t[["arch", "models", "units", "images", "prompts", "captions", "img_s", "source", "anchor", "cores",
           "gpu_hours", "axis_images", "axis_gpu_hours", "ratio"]]
    t.columns = ["architecture", "models", "units", "images", "prompts", "captions", "img/s", "rate from",
                 "anchor / row", "loader cores", "GPU-h once per unit", "images per axis", "GPU-h per axis",
                 "per axis / once"]
    return _md(t)


def dataset_table(e: Estimate) -> str:
    t = e.by_dataset()
    t = t.assign(ratio=t["axis_images"] / t["images"])
    t.columns = ["dataset", "units", "images once per unit", "axes that read it", "images per axis",
                 "per axis / once"]
    return _md(t)


def report(e: Estimate) -> str:
    t, s = e.totals(), e.slurm()
    out = [f"# estimate: {t['units']} units ({len(e.plan.failed)} could not be planned), priced on "
           + (f"measurements on {e.device}" if e.device else "published figures: " + TIMM_SOURCE), "",
           arch_table(e), "", dataset_table(e), "",
           f"once per unit (clipstudy): {t['images']:,} images, {t['prompts']:,} prompts, {t['captions']:,} captions, "
           f"{t['gpu_hours']:,.1f} GPU-h",
           f"per axis (CLIP_benchmark's way): {t['axis_images']:,} images, {t['axis_prompts']:,} prompts, "
           f"{t['axis_captions']:,} captions, {t['axis_gpu_hours']:,.1f} GPU-h",
           f"per axis / once: images {t['image_ratio']:.3f}x, GPU-hours {t['gpu_hour_ratio']:.3f}x",
           f"SLURM, one unit per array task, {s['gpus']} GPU(s) at once: --array=0-{s['array_size'] - 1}%{s['gpus']} "
           f"({s['array_size']} tasks), wall time {s['wall_hours']:,.1f} h (per axis: {s['axis_array_size']} tasks, "
           f"{s['axis_wall_hours']:,.1f} h); longest unit {s['longest_unit_hours']:,.2f} h"
           + (f"; {s['over_time_limit']} unit(s) exceed --time-min {s['time_min']} and would be requeued "
              f"(they resume from finished shards) or need a longer limit" if s["over_time_limit"] else "")]
    if e.unpriced:
        out.append(f"not priced (no measurement, no timm row, no open_clip profile): {', '.join(e.unpriced)}")
    if e.questions:
        out.append("LMM units, priced above as their CLIP's encoding only; their language model's answers are "
                   "counted, not priced (no published or measured LLaVA generation rate): "
                   + ", ".join(f"{m} {q:,} questions" for m, q in e.questions.items()))
    for r in e.plan.failed:
        out.append(f"not planned: {r.model} x {r.dataset}: {r.error}")
    return "\n".join(out)

