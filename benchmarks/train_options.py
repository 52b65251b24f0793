"""Issues 17.4 and 25.2: which settings pay for lab training on this machine, side by side (rounds interleaved).

One lab CLIP per architecture (lab.train.build_clip, the lab profile's batch and image size) trained for a
few optimiser steps on random uint8 images and caption tokens through the real loop (lab.train.train_clip),
under each variant: memory format (the loop's policy, `lab.train.channels_last`, forced off or on), torch.compile
(its first two steps timed apart), fused AdamW, torch threads (1 vs all), bf16 autocast, batch and image size.
Each round runs every variant once in turn; the table gives s/step and the ratio to the current setting (fp32, 1
thread, the loop's channels_last policy) within the round, with the load average at the start of the round.
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


def main(argv=None) -> int:
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
        return h.wall_s / a.steps, h.final_loss

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
                s, loss = run(arch, **kw)
                base = base or s
                rows.append(dict(arch=arch, round=r + 1, load=load, variant=name, s_per_step=s, vs_current=base / s,
                                 final_loss=loss))
                print(f"  {arch} round {r + 1} {name}: {s:.3f} s/step", file=sys.stderr, flush=True)
    print(table(rows, floatfmt="{:.3f}"))
    if compile_s:
        print("\ncompile (first 2 steps, s): " + ", ".join(f"{k[0]}{' channels_last' if k[1] else ''} {v:.1f}"
                                                         for k, v in compile_s.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
