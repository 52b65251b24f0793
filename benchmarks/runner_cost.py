"""The study runner's cost (issue 16): redundancy, the naive per-axis way, and 2 local workers against 1.

Two grids, each run through `clipstudy.run` (plan -> execute -> evaluate every axis):
- synthetic live grid: 3 small random open_clip CLIPs (saved as `local-dir:` folders) x 6 real dataset
  families in their on-disk layouts, filled with generated pictures (ImageNet val, ImageNet-Sketch,
  Textures as the OOD set, cue-conflict, ImageNet-3DCC, COCO Karpathy test), every axis;
- the lab book: the lab zoo x the 9 lab evaluation sets, both lab prompt sets, every axis (default: the
  smoke profile, `--lab-profile lab` for the book's own sizes; the lab models are trained once, first).

Reported per grid:
- redundancy = images encoded / unique (model, image, transform) triples, cold (goal: exactly 1.00) and
  warm (goal: 0 images encoded). Unique images are counted from the files (resolved paths) or lab renders
  the datasets read, so two dataset names over the same files would count once;
- the naive per-axis way: each axis run on its own, with its own empty store (as a per-task tool would),
  over the datasets it reads; its images and prompts encoded against the runner's;
- wall clock of the local executor, cold: 1 worker with 2 torch threads (the default on this 2-core CPU),
  1 worker with 1 thread, and 2 workers with 1 thread each; rounds interleaved so load drifts hit all alike.

Random weights and generated images: the counts and times are the result, never the metric values.

    .venv/bin/python benchmarks/runner_cost.py                    # both grids, ~10 min on 2 CPU cores
    .venv/bin/python benchmarks/runner_cost.py --grid synthetic --rounds 1
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, _picture, machine, table

sys.path.insert(0, str(ROOT / "tests"))  # the tests' fixture layouts and tiny local-dir models


def synthetic_data(root: Path, per_set: int = 96, size=(160, 120)) -> list[str]:
    """Generated pictures in six real layouts under `root` (a CLIPSTUDY_DATA); returns the dataset names."""
    import json

    import numpy as np

    from clipstudy.datasets import cue_conflict, imagenet

    done = root / ".complete"
    if done.exists() and done.read_text() == repr((per_set, size)):
        return DATASETS
    rng = np.random.default_rng(0)
    wn = imagenet.wnids()

    def save(path: Path, fmt: str = "JPEG") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        _picture(rng, *size).save(buf, fmt)
        path.write_bytes(buf.getvalue())

    for i in range(per_set):
        save(root / "imagenet" / "val" / wn[i % 12] / f"ILSVRC2012_val_{i + 1:08d}.JPEG")
        save(root / "imagenet-sketch" / "sketch" / wn[i % 12] / f"sketch_{i}.JPEG")
        save(root / "textures" / "dtd" / "images" / f"texture{i % 6}" / f"t_{i:04d}.jpg")
        shape, texture = cue_conflict.CATEGORIES[i % 16], cue_conflict.CATEGORIES[(i * 7 + 3) % 16]
        save(root / "cue-conflict" / shape / f"{shape}{i}-{texture}{i % 10}.png", "PNG")
    corruptions, severities = ("fog_3d", "near_focus", "xy_motion_blur"), (1, 3, 5)
    k = 0
    while k < per_set:
        c, s = corruptions[k % 3], severities[(k // 3) % 3]
        save(root / "imagenet-3dcc" / c / str(s) / wn[k % 12] / f"ILSVRC2012_val_{k + 1:08d}.JPEG")
        k += 1
    n_coco = per_set // 2
    images = []
    for i in range(n_coco):
        fname = f"COCO_val2014_{i:012d}.jpg"
        save(root / "coco-5k" / "val2014" / fname)
        sents = [{"raw": f"a picture number {i}, caption {j}.", "imgid": i, "sentid": 5 * i + j} for j in range(5)]
        images.append({"filename": fname, "filepath": "val2014", "split": "test", "sentences": sents, "imgid": i,
                       "cocoid": i, "sentids": [s["sentid"] for s in sents]})
    (root / "coco-5k" / "dataset_coco.json").write_text(json.dumps({"images": images, "dataset": "coco"}))
    done.write_text(repr((per_set, size)))
    return DATASETS


DATASETS = ["imagenet", "imagenet-sketch", "textures", "cue-conflict", "imagenet-3dcc", "coco-5k"]
LAB_SETS = ["lab-val", "lab-v2", "lab-sketch", "lab-silhouette", "lab-cue-conflict", "lab-factors", "lab-3dcc",
            "lab-ood", "lab-retrieval"]


def lab_grid(profile: str) -> tuple[list[str], list[str]]:
    """The lab book's grid: every lab recipe x the 9 lab sets (smoke: the sizes of profiles.SMOKE_SETS)."""
    from clipstudy.profiles import SMOKE_SETS
    from clipstudy.lab import zoo as lab_zoo

    sets = [f"{s}:{dict(SMOKE_SETS)[s]}" if profile == "smoke" else s for s in LAB_SETS]
    return [f"lab:{r}@{profile}" for r in lab_zoo.names()], sets


def unique_triples(models: list[str], datasets: list[str], lab_profile: str) -> int:
    """Distinct images the grid reads (resolved files, or lab renders), times the models (one transform each)."""
    from clipstudy.run.data import open_dataset

    images: set = set()
    for d in datasets:
        x = open_dataset(d, None, lab_profile)
        paths = getattr(x.dataset, "paths", None)
        images |= {str(Path(p).resolve()) for p in paths} if paths is not None else \
            {f"{x.data_id}/{i}" for i in range(len(x.dataset))}
    return len(models) * len(images)


def reset_store(cache: Path) -> None:
    """An empty feature and unit store (lab models and rendered lab sets are kept)."""
    for d in ("features", "units"):
        shutil.rmtree(cache / d, ignore_errors=True)


def once(models, datasets, work: Path, *, axes="all", workers: int = 1, threads: int | None = None,
         **kw) -> tuple[dict, float]:
    from clipstudy import run

    t0 = time.perf_counter()
    out = run.run(models, datasets, axes=axes, study=work / "study", progress=False,
                  executor_options=dict(workers=workers, threads=threads), **kw)
    secs = time.perf_counter() - t0
    assert not out.failed, [(r.model, r.dataset, r.error) for r in out.failed]
    return out.summary.as_dict(), secs


def naive(models, datasets, cache: Path, work: Path, **kw) -> dict:
    """Each axis on its own, with an empty store, over the datasets it reads (plus the ID set it needs)."""
    from clipstudy.run import axes as registry
    from clipstudy.run.data import open_dataset

    tasks = {d: open_dataset(d, None, kw.get("lab_profile") or "lab").task for d in datasets}
    reads = {"shifts": {"classification"}, "calibration": {"classification"}, "ood": {"ood"},
             "shape": {"shape-bias"}, "factors": {"factors"}, "3d": {"3d"}, "retrieval": {"retrieval"}}
    total = dict(images_encoded=0, prompts_encoded=0, axes=0)
    for axis in registry.names():
        sets = [d for d in datasets if tasks[d] in reads[axis]]
        if not sets:
            continue
        reset_store(cache)
        s, _ = once(models, sets, work, axes=[axis], **kw)
        total["images_encoded"] += s["images_encoded"]
        total["prompts_encoded"] += s["prompts_encoded"]
        total["axes"] += 1
    return total


# (label, workers, torch threads per worker); 2 workers get 1 thread each on 2 cores
CONFIGS = (("1 worker, 2 threads", 1, 2), ("1 worker, 1 thread", 1, 1), ("2 workers, 1 thread each", 2, 1))


def timing(models, datasets, cache: Path, work: Path, rounds: int, **kw) -> dict[str, list[float]]:
    """Cold wall clock of each local configuration, rounds interleaved so that load drifts hit all alike."""
    times: dict[str, list[float]] = {c[0]: [] for c in CONFIGS}
    images = None
    for _ in range(rounds):
        for label, workers, threads in CONFIGS:
            reset_store(cache)
            s, secs = once(models, datasets, work, workers=workers, threads=threads, **kw)
            assert images is None or s["images_encoded"] == images
            images = s["images_encoded"]
            times[label].append(secs)
    return times


def report(name: str, models, datasets, cache: Path, work: Path, rounds: int, timing_only: bool = False,
           **kw) -> list[dict]:
    from clipstudy.run.plan import add_id_sets

    datasets = add_id_sets(list(datasets), ["ood"])
    print(f"\n## {name}: {len(models)} models x {len(datasets)} datasets ({len(models) * len(datasets)} units), "
          "every axis")
    rows = []
    if not timing_only:
        unique = unique_triples(models, datasets, kw.get("lab_profile") or "lab")
        print(f"unique (model, image, transform) triples: {unique}")
        reset_store(cache)
        cold, t_cold = once(models, datasets, work, **kw)
        warm, t_warm = once(models, datasets, work, **kw)
        nv = naive(models, datasets, cache, work, **kw)
        rows += [
            dict(what="cold: images encoded", value=cold["images_encoded"], ratio=cold["images_encoded"] / unique,
                 note="redundancy = images / unique triples"),
            dict(what="warm: images encoded", value=warm["images_encoded"], ratio=float("nan"),
                 note=f"units reused {warm['units_reused']}/{warm['units_total']}, prompts {warm['prompts_encoded']}"),
            dict(what="naive per-axis: images encoded", value=nv["images_encoded"],
                 ratio=nv["images_encoded"] / cold["images_encoded"],
                 note=f"{nv['axes']} axes, each with an empty store; ratio = naive / runner"),
            dict(what="naive per-axis: prompts encoded", value=nv["prompts_encoded"],
                 ratio=nv["prompts_encoded"] / max(1, cold["prompts_encoded"]),
                 note=f"runner: {cold['prompts_encoded']}"),
            dict(what="cold run / warm re-run (s)", value=f"{t_cold:.1f} / {t_warm:.1f}", ratio=t_cold / t_warm,
                 note=""),
        ]
    times = timing(models, datasets, cache, work, rounds, **kw)
    base = sum(times[CONFIGS[0][0]]) / rounds
    for label, _, _ in CONFIGS:
        mean = sum(times[label]) / rounds
        rows.append(dict(what=f"wall clock, {label} (s)", value=round(mean, 1), ratio=base / mean,
                         note="ratio = (1 worker, 2 threads) / this; rounds: " + ", ".join(f"{t:.1f}" for t in times[label])))
    print(table(rows))
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", choices=["synthetic", "lab", "both"], default="both")
    p.add_argument("--images", type=int, default=96, help="synthetic: images per dataset")
    p.add_argument("--lab-profile", choices=["smoke", "lab"], default="smoke")
    p.add_argument("--rounds", type=int, default=2, help="interleaved 1-worker / 2-worker cold runs")
    p.add_argument("--prompts", default="single", help="synthetic grid's prompt set (the book uses openai80)")
    p.add_argument("--widths", default="96,128,160", help="synthetic: vision widths of the 3 tiny CLIPs")
    p.add_argument("--image-size", type=int, default=64, help="synthetic: the tiny CLIPs' input size")
    p.add_argument("--timing-only", action="store_true", help="only the wall-clock rows")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "clipstudy-bench", "runner"))
    a = p.parse_args(argv)
    work = Path(a.workdir)
    cache = work / "cache"
    os.environ["CLIPSTUDY_CACHE"] = str(cache)
    print("# the study runner's cost (issue 16)")
    print("# " + machine())
    if a.grid in ("synthetic", "both"):
        import runner_fixtures as R

        os.environ["CLIPSTUDY_DATA"] = str(work / "data")
        datasets = synthetic_data(work / "data", a.images)
        widths = [int(w) for w in a.widths.split(",")]
        models = [R.tiny_local_dir(work / f"m{i}-w{w}-s{a.image_size}", i, width=w, image_size=a.image_size)
                  for i, w in enumerate(widths)]
        report(f"synthetic live grid (widths {a.widths}, {a.image_size} px)", models, datasets, cache, work, a.rounds,
               a.timing_only, prompts=a.prompts)
    if a.grid in ("lab", "both"):
        from clipstudy.lab import zoo as lab_zoo

        models, sets = lab_grid(a.lab_profile)
        t0 = time.perf_counter()
        lab_zoo.train(None, profile=a.lab_profile)
        print(f"\n(lab zoo {a.lab_profile} ready in {time.perf_counter() - t0:.0f}s: not part of the figures)")
        report(f"lab book ({a.lab_profile} profile)", models, sets, cache, work, a.rounds, a.timing_only,
               prompts="lab-single,lab-ensemble", lab_profile=a.lab_profile)


if __name__ == "__main__":
    main()
