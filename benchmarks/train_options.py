"""Issue 17.4: which settings pay for lab training on this machine, side by side (rounds interleaved).

One lab CLIP per architecture (lab.train.build_clip, the lab profile's batch and image size) trained for a
few optimiser steps on random uint8 images and caption tokens through the real loop (lab.train.train_clip),
under each variant: torch threads (1 vs all), bf16 autocast (the precision policy's training path),
channels_last. Each round runs every variant once in turn; the table gives s/step and the ratio to the
current setting (fp32, all threads) within the round, with the load average at the start of the round.
"""
from __future__ import annotations

import argparse
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
    ap.add_argument("--variants", default="threads-all,bf16,channels_last,batch-64,size-48,size-32",
                    help="threads-all, bf16, channels_last, batch-N, size-N (the current setting is 1 thread)")
    a = ap.parse_args(argv)

    from clipstudy.lab import train as T
    from clipstudy.lab import zoo as lab_zoo
    from clipstudy.lab.captions import CONTEXT_LENGTH

    p = lab_zoo.profile_of("lab")
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 90, (1024, 3, CONTEXT_LENGTH), generator=g)
    images_at = {}

    def images(size):
        if size not in images_at:
            images_at[size] = torch.randint(0, 256, (1024, 3, size, size), dtype=torch.uint8, generator=g)
        return images_at[size]
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def run(arch, threads=1, precision="fp32", cl=False, batch=None, size=None):
        size = size or p.image_size
        torch.manual_seed(0)
        m = T.build_clip(arch, "clip", size)
        if cl:
            m = m.to(memory_format=torch.channels_last)
        pre = T.Preprocess(size=size)
        prep = (lambda x: pre(x).contiguous(memory_format=torch.channels_last)) if cl else pre
        old = T.threads

        def pinned(n=None):
            return old(threads)
        if threads:
            T.threads = pinned
        try:
            h = T.train_clip(m, images(size), tokens, steps=a.steps, batch_size=batch or p.batch_size, lr=p.lr, seed=0,
                             progress=False, preprocess=prep, precision=precision)
        finally:
            T.threads = old
        return h.wall_s / a.steps, h.final_loss

    variants = {"current (fp32, 1 thread)": {}}
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
    print(f"# train_options.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}; "
          f"{ncpu} cores; lab profile batch {p.batch_size}, {p.image_size} px, {a.steps} steps per measurement")
    rows = []
    for arch in a.archs.split(","):
        run(arch)  # warm-up
        for r in range(a.rounds):
            load, base = os.getloadavg()[0], None
            for name, kw in variants.items():
                if kw.get("cl") and arch == "vit":
                    continue
                s, loss = run(arch, **kw)
                base = base or s
                rows.append(dict(arch=arch, round=r + 1, load=load, variant=name, s_per_step=s, vs_current=base / s,
                                 final_loss=loss))
                print(f"  {arch} round {r + 1} {name}: {s:.3f} s/step", file=sys.stderr, flush=True)
    print(table(rows, floatfmt="{:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
