"""The paper's grid, priced (issue 25, item 4): `clipstudy.run.estimate` over every registry model x every dataset
a chapter reads, scaled to the paper's model counts. Nothing is loaded, opened or timed: the numbers come from the
datasets' published sizes and the throughput figures `clipstudy.run.estimate` documents.

The registry has fewer models than Tu et al. (84 zero-shot CLIPs, 44 ImageNet fine-tuned, 127 ImageNet baselines).
The paper scale is explicit: the k-th extra model of a role is a copy of the role's (k mod n)-th registry model,
so each role's counts and GPU-hours are its registry totals x paper / registry (up to the cyclic rounding).

    .venv/bin/python benchmarks/grid_estimate.py                # markdown for benchmarks/README.md
    .venv/bin/python benchmarks/grid_estimate.py --gpus 16
"""
from __future__ import annotations

import argparse
import time

import common  # noqa: F401: puts the checkout on sys.path

import pandas as pd

PAPER = {"zero-shot": 84, "fine-tuned": 44, "baselines": 127}  # Tu, Deng & Gedeon (arXiv 2410.01534)

# The cross-check of GFLOPs scaling: timm's own RTX 4090 rows (same file as clipstudy.run.estimate.TIMM_RTX4090:
# infer_samples_per_sec) for the image towers of open_clip architectures that timm also builds.
TIMM_TOWERS = {
    "RN50": ("resnet50_clip @224", 3513.39), "RN101": ("resnet101_clip @224", 2414.07),
    "RN50x4": ("resnet50x4_clip @288", 1179.84), "RN50x16": ("resnet50x16_clip @384", 396.57),
    "RN50x64": ("resnet50x64_clip @448", 147.7), "ViT-B-16": ("vit_base_patch16_clip_224", 2783.55),
    "ViT-B-16-plus-240": ("vit_base_patch16_plus_240", 1770.19),
    "ViT-L-14-336": ("vit_large_patch14_clip_336", 291.64), "ViT-H-14": ("vit_huge_patch14_clip_224", 345.85),
    "ViT-g-14": ("vit_giant_patch14_clip_224", 224.09), "ViT-bigG-14": ("vit_gigantic_patch14_clip_224", 131.25),
    "ViT-B-16-SigLIP": ("vit_base_patch16_siglip_224", 2438.72),
    "ViT-B-16-SigLIP-384": ("vit_base_patch16_siglip_384", 796.23),
    "ViT-L-16-SigLIP-256": ("vit_large_patch16_siglip_256", 625.66),
    "ViT-SO400M-14-SigLIP": ("vit_so400m_patch14_siglip_224", 463.58),
    "EVA02-B-16": ("eva02_base_patch16_clip_224", 1707.16), "EVA02-L-14": ("eva02_large_patch14_clip_224", 422.17),
    "EVA01-g-14": ("eva_giant_patch14_clip_224", 229.31), "convnext_base": ("convnext_base @224", 2095.37),
    "convnext_xxlarge": ("convnext_xxlarge @256", 281.32),
}


def md(df: pd.DataFrame) -> str:
    from clipstudy.run.estimate import _md

    return _md(df)


def at_paper_scale(frame: pd.DataFrame, roles: dict[str, list[str]]) -> pd.DataFrame:
    """A unit (or per-axis) table at the paper's counts: extra models of a role cycle through its registry models."""
    parts = []
    for role, members in roles.items():
        present = [m for m in members if m in set(frame["model"])]
        for k in range(PAPER[role]):
            parts.append(frame[frame["model"] == present[k % len(present)]].assign(role=role, copy=k))
    return pd.concat(parts, ignore_index=True)


def role_table(units: pd.DataFrame, axis: pd.DataFrame, registry_n: dict[str, int], paper: bool) -> pd.DataFrame:
    rows = []
    for role in PAPER:
        u, a = units[units["role"] == role], axis[axis["role"] == role]
        rows.append({"role": role, "models": PAPER[role] if paper else registry_n[role], "units": len(u),
                     "images": int(u["images"].sum()), "prompts + captions": int((u["prompts"] + u["captions"]).sum()),
                     "GPU-h once per unit": u["seconds"].sum() / 3600,
                     "images per axis": int(a["images"].sum()), "GPU-h per axis": a["seconds"].sum() / 3600})
    t = pd.DataFrame(rows)
    total = {c: (t[c].sum() if c != "role" else "**all**") for c in t.columns}
    t = pd.concat([t, pd.DataFrame([total])], ignore_index=True)
    t["per axis / once (images)"] = t["images per axis"] / t["images"]
    t["per axis / once (GPU-h)"] = t["GPU-h per axis"] / t["GPU-h once per unit"]
    return t


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpus", type=int, default=8, help="GPUs at once, one unit per array task (default 8)")
    p.add_argument("--time-min", type=int, default=240, help="the SLURM time limit per task checked (minutes)")
    p.add_argument("--prompts", default="openai80")
    a = p.parse_args(argv)

    from clipstudy.models import collection
    from clipstudy.run import estimate as E

    roles = {r: collection.models(r) for r in PAPER}
    e = E.estimate(",".join(f"@{r}" for r in PAPER), "@book", prompts=a.prompts, gpus=a.gpus, time_min=a.time_min)
    assert not e.plan.failed and not e.unpriced, (e.plan.failed[:3], e.unpriced)
    role_of = {m: r for r, ms in roles.items() for m in ms}
    e.units["role"] = e.units["model"].map(role_of)
    e.per_axis["role"] = e.per_axis["model"].map(role_of)
    reg_n = {r: e.units.loc[e.units["role"] == r, "model"].nunique() for r in PAPER}
    su, sa = at_paper_scale(e.units, roles), at_paper_scale(e.per_axis, roles)

    out = [f"Generated by `benchmarks/grid_estimate.py --gpus {a.gpus}` on {time.strftime('%Y-%m-%d')} "
           f"(prompt set {a.prompts}: {E._templates([a.prompts])} templates). Rates: "
           + (f"measurements on {e.device}." if e.device else f"{E.TIMM_SOURCE}; no GPU measurement exists on this "
              "machine."), ""]
    what = {"zero-shot": "zero-shot CLIPs", "fine-tuned": "ImageNet fine-tuned CLIPs",
            "baselines": "ImageNet baselines"}
    out += ["**The grid at the paper's scale.** The registry has "
            + ", ".join(f"{reg_n[r]} {what[r]}" for r in PAPER) + "; the paper has "
            + ", ".join(f"{PAPER[r]} {what[r]}" for r in PAPER) + ". Each role is scaled to the paper's count by "
            "repeating its registry models in order (so its mean cost per model is the registry's).", ""]
    out += [md(role_table(su, sa, reg_n, True)), ""]
    out += ["The registry's own grid (`clipstudy run --dry-run --estimate --models @zero-shot,@fine-tuned,@baselines "
            "--datasets @book`):", "", md(role_table(e.units, e.per_axis, reg_n, False)), ""]

    # SLURM at the paper's scale: one unit per array task on one GPU
    secs = sorted(su["seconds"].tolist(), reverse=True)
    asecs = sorted(sa["seconds"].tolist(), reverse=True)
    over = sum(s > a.time_min * 60 for s in secs)
    long = su.sort_values("seconds", ascending=False).iloc[0]
    out += [f"**SLURM at the paper's scale, {a.gpus} GPUs, one unit per array task** (`--executor slurm "
            f"--gpus-per-job 1 --array-parallelism {a.gpus}`): an array of **{len(secs):,} tasks** "
            f"(`--array=0-{len(secs) - 1}%{a.gpus}`), wall time **{E.makespan(secs, a.gpus) / 3600:,.1f} h** "
            f"(longest-first list scheduling; {su['seconds'].sum() / 3600 / a.gpus:,.1f} h if the work split evenly). "
            f"The per-axis way: {len(asecs):,} tasks, {E.makespan(asecs, a.gpus) / 3600:,.1f} h. The longest unit is "
            f"{long['model']} x {long['dataset']}, {long['seconds'] / 3600:,.1f} h; {over:,} units exceed "
            f"`--time-min {a.time_min}` (they are requeued and resume from their finished shards, or need a longer "
            "limit).", ""]
    for g in (a.gpus * 4,):
        out += [f"At {g} GPUs: wall time {E.makespan(secs, g) / 3600:,.1f} h (per axis "
                f"{E.makespan(asecs, g) / 3600:,.1f} h).", ""]

    # without ImageNet-3DCC, which is 12 x 5 copies of ImageNet val
    no3 = su[su["dataset"] != "imagenet-3dcc"]
    no3a = sa[sa["dataset"] != "imagenet-3dcc"]
    share = 1 - no3["images"].sum() / su["images"].sum()
    out += [f"**ImageNet-3DCC is {share:.0%} of the images** (3,000,000 per model). Without it the paper's grid is "
            f"{no3['images'].sum():,} images and {no3['seconds'].sum() / 3600:,.1f} GPU-h once per unit against "
            f"{no3a['images'].sum():,} images and {no3a['seconds'].sum() / 3600:,.1f} GPU-h per axis: "
            f"**{no3a['images'].sum() / no3['images'].sum():.2f}x** the images and "
            f"**{no3a['seconds'].sum() / no3['seconds'].sum():.2f}x** the GPU-hours.", ""]

    out += ["Per dataset (registry grid; the per-axis way encodes a dataset once per axis that reads it):", "",
            E.dataset_table(e), ""]
    out += ["Per architecture (registry grid). `rate from`: *published* = a row of timm's table as published, "
            "*scaled* = an anchor's img/s x its image GFLOPs / this architecture's (open_clip `model_profile.csv`); "
            f"`loader cores` = img/s / {E.DECODE_IMG_S_PER_CORE:.0f} (the cores that decode JPEGs fast enough to keep "
            "the GPU busy at the fast end of DESIGN.md's 100-650 img/s per core):", "", E.arch_table(e), ""]

    # how far GFLOPs scaling is from timm's own rows for the same towers
    rows, alt = [], e.units.copy()
    for arch, (row, ips) in TIMM_TOWERS.items():
        r = e.units[e.units["arch"] == arch]
        if r.empty:
            continue
        scaled = float(r["img_s"].iloc[0])
        rows.append({"architecture": arch, "scaled img/s": scaled, "timm row": row, "timm img/s": ips,
                     "scaled / timm": scaled / ips})
        m = alt["arch"] == arch
        alt.loc[m, "seconds"] = alt.loc[m, "seconds"] - alt.loc[m, "images"] / scaled + alt.loc[m, "images"] / ips
    ct = pd.DataFrame(rows)
    out += ["**GFLOPs scaling against timm's own rows** for the image towers of the open_clip architectures timm "
            "builds (same table, same GPU). GFLOPs miss what a FLOP costs in each architecture: CLIP ResNets "
            "(attention pooling, small early convolutions) and EVA02 run slower per FLOP than the ViT anchors.", "",
            md(ct), "",
            f"With those rows in place of the scaled ones, the registry grid is {alt['seconds'].sum() / 3600:,.1f} "
            f"GPU-h instead of {e.units['seconds'].sum() / 3600:,.1f} (open_clip architectures without a timm row "
            "stay scaled).", ""]
    text = "\n".join(out)
    print(text)
    return text


if __name__ == "__main__":
    main()
