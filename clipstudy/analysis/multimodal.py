"""LMMs against their own CLIP (chapter 9): the two-choice comparison tables of `clipstudy.lmm.compare`
(or `clipstudy.lab.llava.evaluate`) turned into gains, split by whether CLIP's full-way prediction was right.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from .effects import recipe_contrast

AXIS = "LMM vs its CLIP"


def gain_table(result: pd.DataFrame, lmm: str, clip: str = "clip",
               by: Sequence[str] = ("recipe", "set", "clip_full")) -> pd.DataFrame:
    """LMM minus CLIP two-choice accuracy on the same questions, per (by...).

    result: rows with columns model, clip_full, accuracy, n (and any of `by`). Columns: by..., n,
    acc_lmm, acc_clip, gain, n_both, n_neither (the LMM's unmatched answers, reported not guessed).
    """
    by = [b for b in by if b in result.columns]
    for need in ("model", "accuracy", "clip_full"):
        if need not in result.columns:
            raise ValueError(f"result lacks column {need!r}; expected clipstudy.lmm.compare's output")
    models = set(result["model"])
    if lmm not in models or clip not in models:
        raise ValueError(f"result has models {sorted(models)}; expected both {lmm!r} and {clip!r}")
    a = result[result["model"] == lmm].set_index(by)
    c = result[result["model"] == clip].set_index(by)
    out = pd.DataFrame({"n": a["n"], "acc_lmm": a["accuracy"], "acc_clip": c["accuracy"].reindex(a.index)})
    out["gain"] = out["acc_lmm"] - out["acc_clip"]
    for k in ("n_both", "n_neither"):
        if k in a.columns:
            out[k] = a[k]
    return out.reset_index()


def recipe_effects(gains: pd.DataFrame, factors: Mapping[str, str], value: str = "acc_lmm", *, base: str = "base",
                   clip_full: str = "all", set_name: str | None = None, metric: str | None = None,
                   source: str = "lab") -> pd.DataFrame:
    """Each recipe's `value` (on clip_full rows, averaged over sets or one set) minus the base recipe's."""
    where = {"clip_full": clip_full, **({"set": set_name} if set_name is not None else {})}
    return recipe_contrast(gains, factors, value, metric or f"{value} ({clip_full} questions)", AXIS,
                           model_col="recipe", base=base, where=where, source=source)


def llava_missing(checkpoint: str) -> str | None:
    """None when the checkpoint's config is in the local Hugging Face cache (or a local folder), else why not.

    Only the config is looked up: nothing is downloaded or loaded here.
    """
    from pathlib import Path

    from .. import lmm

    hf_id = lmm.CHECKPOINTS.get(checkpoint, {}).get("hf_id")
    if hf_id is None:
        p = Path(checkpoint).expanduser()
        return None if (p / "config.json").is_file() else f"{checkpoint}: no LLaVA checkpoint folder with config.json"
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(hf_id, "config.json"), str):
        return None
    return f"{checkpoint}: not in the local Hugging Face cache; get it with `huggingface-cli download {hf_id}`"


def live_panel(enabled: bool, checkpoints: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """(checkpoints ready to run, what is missing) for the live LMM section: each LLaVA checkpoint, the CLIP
    it is built on, and ImageNet-D."""
    from .. import live, lmm

    if not enabled:
        return [], ["the live profile was not selected: build with `clipstudy build --profile live` on a machine "
                    "with the LLaVA checkpoints and ImageNet-D"]
    checkpoints = list(checkpoints or lmm.CHECKPOINTS)
    missing = []
    why = live.dataset_present("imagenet-d")
    if why:
        missing.append(why)
    ready = []
    for c in checkpoints:
        reasons = [r for r in (llava_missing(c), live.weights_present(lmm.CHECKPOINTS.get(c, {}).get("clip", "")))
                   if r]
        missing += reasons
        if not reasons:
            ready.append(c)
    return ([] if why else ready), missing


def live_lmm(checkpoints: Sequence[str], *, device: str = "cpu", prompts: str = "openai80",
             seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each LLaVA checkpoint against its own CLIP on ImageNet-D with the two-choice protocol of clipstudy.lmm.

    Returns (per-question frame, comparison frame) with a `checkpoint` column; the comparison's LMM rows
    are named by the checkpoint, the CLIP rows 'clip'."""
    from .. import datasets, lmm, zeroshot, zoo

    details, tables = [], []
    for c in checkpoints:
        loaded = zoo.load(lmm.CHECKPOINTS[c]["clip"], device)
        ds = datasets.load("imagenet-d", transform=loaded.preprocess)
        zs = zeroshot.run(loaded, ds, dataset_id="imagenet-d", prompts=prompts, device=device, progress=False)
        d, t = lmm.evaluate(c, ds, zs.logits, classnames=ds.classnames, keys=[str(k) for k in zs.encoded.keys],
                            labels=zs.labels.numpy(), seed=seed, device=device, progress=False)
        details.append(d.assign(checkpoint=c))
        tables.append(t.assign(checkpoint=c))
    if not tables:
        return pd.DataFrame(), pd.DataFrame()
    return pd.concat(details, ignore_index=True), pd.concat(tables, ignore_index=True)
