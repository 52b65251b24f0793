"""Issue 17.4: which settings pay for lab training on this machine, side by side (rounds interleaved).

One lab CLIP per architecture (lab.train.build_clip, the lab profile's batch and image size) trained for a
few optimiser steps on random uint8 images and caption tokens through the real loop (lab.train.train_clip),
under each variant: torch threads (1 vs all), bf16 autocast (the precision policy's training path),
channels_last. Each round runs every variant once in turn; the table gives s/step and the ratio to the
current setting (fp32, all threads) within the round, with the load average at the start of the round.
"""
from __future__ import annotations

import argparse
import copy
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
    ap.add_argument("--variants", default="threads-1,bf16,channels_last")
    a = ap.parse_args(argv)

    from clipstudy.lab import train as T
    from clipstudy.lab import zoo as lab_zoo
    from clipstudy.lab.captions import CONTEXT_LENGTH

    p = lab_zoo.profile_of("lab")
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (1024, 3, p.image_size, p.image_size), dtype=torch.uint8, generator=g)
    tokens = torch.randint(1, 90, (1024, 3, CONTEXT_LENGTH), generator=g)
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def run(model, threads=None, precision="fp32", cl=False):
        m = copy.deepcopy(model)
        if cl:
            m = m.to(memory_format=torch.channels_last)
        pre = T.Preprocess(size=p.image_size)
        prep = (lambda x: pre(x).contiguous(memory_format=torch.channels_last)) if cl else pre
        old = T.threads

        def pinned(n=None):
            return old(threads)
        if threads:
            T.threads = pinned
        try:
            h = T.train_clip(m, images, tokens, steps=a.steps, batch_size=p.batch_size, lr=p.lr, seed=0,
                             progress=False, preprocess=prep, precision=precision)
        finally:
            T.threads = old
        return h.wall_s / a.steps, h.final_loss

    variants = {"current (fp32, all threads)": {}}
    for v in a.variants.split(","):
        if v == "threads-1":
            variants["1 thread"] = dict(threads=1)
        elif v == "bf16":
            variants["bf16 autocast"] = dict(precision="bf16")
        elif v == "channels_last":
            variants["channels_last"] = dict(cl=True)
    print(f"# train_options.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}; "
          f"{ncpu} cores; lab profile batch {p.batch_size}, {p.image_size} px, {a.steps} steps per measurement")
    rows = []
    for arch in a.archs.split(","):
        torch.manual_seed(0)
        model = T.build_clip(arch, "clip", p.image_size)
        run(model)  # warm-up
        for r in range(a.rounds):
            load, base = os.getloadavg()[0], None
            for name, kw in variants.items():
                if kw.get("cl") and arch == "vit":
                    continue
                s, loss = run(model, **kw)
                base = base or s
                rows.append(dict(arch=arch, round=r + 1, load=load, variant=name, s_per_step=s, vs_current=base / s,
                                 final_loss=loss))
                print(f"  {arch} round {r + 1} {name}: {s:.3f} s/step", file=sys.stderr, flush=True)
    print(table(rows, floatfmt="{:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
