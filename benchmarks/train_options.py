"""Issues 17.4 and 25.2: which settings pay for lab training on this machine, side by side (rounds interleaved).

One lab CLIP per architecture (lab.train.build_clip, the lab profile's batch and image size) trained for a
few optimiser steps on random uint8 images and caption tokens through the real loop (lab.train.train_clip),
under each variant: memory format (the loop's policy, `lab.train.channels_last`, forced off or on), torch.compile
(its first two steps timed apart), fused AdamW, torch threads (1 vs all), bf16 autocast, batch and image size.
Each round runs every variant once in turn; the table gives s/step (wall) and CPU s/step (the training loop's process
CPU time, which other load disturbs less) and their ratios to the current setting (fp32, 1 thread, the loop's
channels_last policy) within the round, with the load average at the start of the round. (With more than one
thread, CPU time counts every thread: compare those variants by wall time on a quiet machine.)

`train_options.py candidate` measures a candidate schedule end to end instead: it trains recipes x seeds of the
lab zoo under the candidate (in-process, one torch thread, in its own cache under --workdir, the rendered lab sets
shared), and writes one row per recipe and seed: lab-val top-1 (fp32, the ensemble prompts, the set's full size,
what `seed_intervals.py measure` reads), the training work (optimiser steps x batch x image pixels) and the
training loop's process CPU time (less disturbed by other load than wall time), in the CSV format
`seed_intervals.py compare` reads:

    python benchmarks/train_options.py candidate --recipes base,arch-vit --seeds 0,1,2 \
        --set steps.medium=160 decay=linear lr=5e-3 --out cand.csv
    python benchmarks/seed_intervals.py compare before.csv cand.csv

A candidate is the zoo as it is plus `--set` overrides: the lab profile's fields (`steps.SIZE`, `batch_size`,
`lr`, `ft_steps`, `ft_lr`, `chunk`), the training schedule's (`LabProfile.schedule`, a `profiles.Schedule`: `warmup`, `decay`,
`label_smoothing`, `ema`, `flat_lr`), and `vit_steps_scale` (arch-vit's steps as a multiple of base's).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table  # noqa: E402

import torch  # noqa: E402


PROFILE_FIELDS = ("batch_size", "lr", "ft_steps", "ft_lr", "chunk")
SCHEDULE_FIELDS = ("warmup", "decay", "label_smoothing", "ema", "flat_lr")


def parse_sets(pairs) -> dict:
    """`key=value` overrides of a candidate, values as numbers where they parse."""
    out = {}
    for kv in pairs or ():
        k, sep, v = kv.partition("=")
        if not sep:
            raise SystemExit(f"--set {kv!r}: expected key=value")
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def apply_candidate(sets: dict):
    """The candidate's lab profile (the lab profile with its fields and its schedule, `LabProfile.schedule`,
    replaced), which every call of the candidate passes explicitly; arch-vit's steps scale is replaced in this
    process's recipe registry."""
    import dataclasses

    from clipstudy.lab import zoo as lab_zoo
    from clipstudy.profiles import LAB

    p = LAB
    prof, sched, steps = {}, {}, dict(p.steps)
    for k, v in sets.items():
        if k.startswith("steps."):
            steps[k[6:]] = int(v)
        elif k in PROFILE_FIELDS:
            prof[k] = v
        elif k in SCHEDULE_FIELDS:
            sched[k] = v
        elif k == "vit_steps_scale":
            vit = lab_zoo.recipe("arch-vit")
            lab_zoo.register_recipe(dataclasses.replace(vit, steps_scale=float(v)))
        else:
            raise SystemExit(f"--set {k}: not a candidate field (steps.SIZE, {', '.join(PROFILE_FIELDS)}, "
                             f"{', '.join(SCHEDULE_FIELDS)}, vit_steps_scale)")
    return dataclasses.replace(p, steps=tuple(steps.items()), schedule=dataclasses.replace(p.schedule, **sched), **prof)


def candidate(argv) -> int:
    """Train recipes x seeds under a candidate schedule; lab-val top-1 against training work and CPU time."""
    import hashlib
    import json

    import pandas as pd

    ap = argparse.ArgumentParser(prog="train_options.py candidate", description=candidate.__doc__)
    ap.add_argument("--recipes", default="base,arch-vit,arch-convnext,finetuned,size-small")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--name", default="", help="the candidate's name in the table (default: its --set)")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "clipstudy-bench")
    ap.add_argument("--sets-from", type=Path, default=None,
                    help="a cache whose rendered lab sets (lab/sets) the candidate reads (default: CLIPSTUDY_CACHE)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    sets = parse_sets(a.set)
    name = a.name or " ".join(a.set) or "current"
    digest = hashlib.sha256(json.dumps(sorted(sets.items())).encode()).hexdigest()[:10]
    cache = a.workdir / f"candidate-{digest}"
    shared = (a.sets_from or Path(os.environ.get("CLIPSTUDY_CACHE", cache))) / "lab" / "sets"
    (cache / "lab").mkdir(parents=True, exist_ok=True)
    if shared != cache / "lab" / "sets" and not (cache / "lab" / "sets").exists():
        shared.mkdir(parents=True, exist_ok=True)
        (cache / "lab" / "sets").symlink_to(shared.resolve())
    os.environ["CLIPSTUDY_CACHE"] = str(cache)

    import clipstudy
    from clipstudy.lab import evaluate as lab_eval, train as T, zoo as lab_zoo

    p = apply_candidate(sets)
    seeds = [int(x) for x in a.seeds.split(",")]
    recipes = a.recipes.split(",")
    rows = []
    print(f"# train_options.py candidate {name!r}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{machine()}; cache {cache}", flush=True)
    for rn in recipes:
        for sd in seeds:
            r = lab_zoo.recipe(f"{rn}#{sd}")
            load = os.getloadavg()[0]
            lab_zoo.load(f"{rn}#{sd}", profile=p, progress=False)  # trains it (and a fine-tune's parent) if missing
            rec = lab_zoo.record(r, p)
            acc = lab_eval.accuracy_table([rn], ["lab-val"], profile=p, seeds_=[sd], precision="fp32").iloc[0]
            pixels = rec.get("pixels") or p.image_size ** 2
            rows.append(dict(recipe=rn, seed=sd, accuracy=acc["accuracy"], n=int(acc["n"]), wall_s=rec["wall_s"],
                             cpu_s=rec.get("cpu_s", float("nan")), steps=rec["steps"], batch=p.batch_size,
                             pixels=pixels, work=rec["samples_seen"] * pixels, load=round(load, 2),
                             train_version=T.TRAIN_VERSION, candidate=name, code=str(Path(clipstudy.__file__).parent)))
            print(f"  {rn}#{sd}: lab-val {acc['accuracy']:.3f}, {rec['steps']} steps, cpu {rows[-1]['cpu_s']:.0f} s, "
                  f"wall {rec['wall_s']:.0f} s, load {load:.1f}", file=sys.stderr, flush=True)
            pd.DataFrame(rows).to_csv(a.out, index=False)
    df = pd.DataFrame(rows)
    summary = df.groupby("recipe", sort=False).agg(seeds=("seed", "size"), mean_top1=("accuracy", "mean"),
                                                   min_top1=("accuracy", "min"), steps=("steps", "first"),
                                                   work_gpx=("work", lambda w: w.mean() / 1e9),
                                                   cpu_s=("cpu_s", "mean"), load=("load", "mean")).reset_index()
    print(table(summary.to_dict("records"), floatfmt="{:.3f}"))
    print(f"\n{len(df)} rows -> {a.out}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["candidate"]:
        return candidate(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", default="resnet,vit,convnext")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default="contiguous,channels_last,compile,threads-all,bf16",
                    help="contiguous, channels_last, compile, channels_last+compile, fused-adamw, batch-N, size-N "
                         "threads-all, bf16 (the current setting: 1 thread, the loop's channels_last policy)")
    a = ap.parse_args(argv)

    from clipstudy.lab import train as T
    from clipstudy.lab import zoo as lab_zoo
    from clipstudy.profiles import LAB
    from clipstudy.lab.captions import CONTEXT_LENGTH

    p = LAB
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 90, (1024, 3, CONTEXT_LENGTH), generator=g)
    images_at = {}

    def images(size):
        if size not in images_at:
            images_at[size] = torch.randint(0, 256, (1024, 3, size, size), dtype=torch.uint8, generator=g)
        return images_at[size]
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    compile_s: dict = {}

    def run(arch, threads=1, precision="fp32", cl=None, batch=None, size=None, compiled=False, fused=False):
        size = size or p.image_size
        torch.manual_seed(0)
        m = T.build_clip(arch, "clip", size)
        policy = T.channels_last  # the loop's: ResNet towers train in channels_last; cl=True/False forces it
        if cl is not None:
            T.channels_last = lambda model: cl
        adamw = torch.optim.AdamW
        if fused:  # AdamW's fused CPU kernel, through the loop's own optimiser construction
            torch.optim.AdamW = functools.partial(adamw, fused=True)
        prep = T.Preprocess(size=size)
        old = T.threads

        def pinned(n=None):
            return old(threads)
        if threads:
            T.threads = pinned
        try:
            if compiled:  # the compile is paid on the first steps: timed apart, then the measured run
                m = torch.compile(m)
                t0 = time.perf_counter()
                T.train_clip(m, images(size), tokens, steps=2, batch_size=batch or p.batch_size, lr=p.lr, seed=0,
                             progress=False, preprocess=prep, precision=precision)
                compile_s[(arch, cl)] = time.perf_counter() - t0
            h = T.train_clip(m, images(size), tokens, steps=a.steps, batch_size=batch or p.batch_size, lr=p.lr, seed=0,
                             progress=False, preprocess=prep, precision=precision)
        finally:
            T.threads = old
            torch.optim.AdamW = adamw
            T.channels_last = policy
        return h.wall_s / a.steps, h.cpu_s / a.steps, h.final_loss

    variants = {"current (fp32, 1 thread, channels_last ResNet)": {}}
    for v in a.variants.split(","):
        if v == "threads-all":
            variants["all threads"] = dict(threads=ncpu)
        elif v.startswith("batch-"):
            variants[f"batch {v[6:]}"] = dict(batch=int(v[6:]))
        elif v.startswith("size-"):
            variants[f"{v[5:]} px"] = dict(size=int(v[5:]))
        elif v == "bf16":
            variants["bf16 autocast"] = dict(precision="bf16")
        elif v == "channels_last":
            variants["channels_last"] = dict(cl=True)
        elif v == "contiguous":
            variants["contiguous (no channels_last)"] = dict(cl=False)
        elif v == "compile":
            variants["torch.compile"] = dict(compiled=True)
        elif v == "channels_last+compile":
            variants["channels_last + torch.compile"] = dict(cl=True, compiled=True)
        elif v == "fused-adamw":
            variants["fused AdamW"] = dict(fused=True)
    print(f"# train_options.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}; "
          f"{ncpu} cores; lab profile batch {p.batch_size}, {p.image_size} px, {a.steps} steps per measurement")
    rows = []
    for arch in a.archs.split(","):
        run(arch)  # warm-up
        for r in range(a.rounds):
            load, base = os.getloadavg()[0], None
            for name, kw in variants.items():
                s, cpu, loss = run(arch, **kw)
                base = base or (s, cpu)
                rows.append(dict(arch=arch, round=r + 1, load=load, variant=name, s_per_step=s, cpu_s_per_step=cpu,
                                 vs_current=base[0] / s, vs_current_cpu=base[1] / cpu, final_loss=loss))
                print(f"  {arch} round {r + 1} {name}: {s:.3f} s/step, {cpu:.3f} CPU s/step", file=sys.stderr,
                      flush=True)
    print(table(rows, floatfmt="{:.3f}"))
    if compile_s:
        print("\ncompile (first 2 steps, s): " + ", ".join(f"{k[0]}{' channels_last' if k[1] else ''} {v:.1f}"
                                                         for k, v in compile_s.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
