"""LMMs against their own CLIP (chapter 9): the two-choice comparison tables of `clipstudy.lmm.compare`
(or `clipstudy.lab.llava.evaluate`) turned into gains, split by whether CLIP's full-way prediction was right.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

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


# ---- records: real LMMs against their own vision encoder (Gavrikov et al.'s cue-conflict decisions) ----

def lmm_encoder_pairs(sb: pd.DataFrame, encoder_prompts: str = "ensemble80") -> pd.DataFrame:
    """Each LMM (one row per LMM and question: vqa | caption) next to the zero-shot CLIP its vision tower
    starts from, both scored on the same cue-conflict images. `sb` is `records.shape_bias_table` of
    vlm_shapebias; the encoder is scored with its `encoder_prompts` head. LMMs whose tower is not among
    those CLIPs keep their row with no encoder value (listed, not paired)."""
    v = sb[sb["source"] == "vlm_shapebias"]
    clip = v[(v["group"] == "zero-shot CLIP") & (v["prompts"] == encoder_prompts)].set_index("model")
    lmm = v[v["kind"] == "lmm"]
    out = lmm[["model", "prompts", "shape_bias", "encoder", "encoder_note"]].rename(
        columns={"model": "lmm", "prompts": "question", "shape_bias": "sb_lmm"})
    out["encoder_label"] = out["encoder"].map(clip["arch"])
    out["sb_encoder"] = out["encoder"].map(clip["shape_bias"])
    out["difference"] = out["sb_lmm"] - out["sb_encoder"]
    out["family"] = out["lmm"].str.extract(r"^(llava_1_5|llava_1_6|llava_rlhf|moe_llava|instructblip|emu2)",
                                           expand=False).fillna("other")
    return out.sort_values(["question", "family", "lmm"], ignore_index=True)


def records_lmm_effects(pairs: pd.DataFrame) -> list[dict]:
    """Paired effects of turning a CLIP into an LMM, on shape bias (n and a 95% bootstrap interval over LMMs).

    fine-tuning (the LMM's projector and language model trained on its CLIP's features; LLaVA-1.5 and
    InstructBLIP keep the tower frozen): each LMM minus its own encoder, over all LMMs with a known
    encoder, then LLaVA-1.5 alone; test-time prompts: the same LMM captioning minus answering the
    16-way question, paired per LMM.
    """
    from .effects import bootstrap_mean, effect

    rows = []

    def add(factor, res, metric, text):
        rows.append(effect(factor, AXIS, metric, res["effect"], text, "records", n=res["n"],
                           ci=(res["ci_low"], res["ci_high"])))

    vqa = pairs[(pairs["question"] == "vqa")].dropna(subset=["difference"])
    add("fine-tuning", bootstrap_mean(vqa["difference"].to_numpy()), "shape bias, LMM − its CLIP (16-way question)",
        "LMMs vs their own vision encoder's zero-shot CLIP (80 templates), paired per LMM")
    l15 = vqa[vqa["family"] == "llava_1_5"]
    add("fine-tuning", bootstrap_mean(l15["difference"].to_numpy()), "shape bias, LMM − its CLIP (16-way question)",
        "LLaVA-1.5 (7B, 13B) vs OpenAI CLIP ViT-L/14-336, paired")
    w = pairs.pivot_table(index="lmm", columns="question", values="sb_lmm", aggfunc="first")
    if {"vqa", "caption"} <= set(w.columns):
        d = (w["caption"] - w["vqa"]).dropna()
        add("test-time prompts", bootstrap_mean(d.to_numpy()), "shape bias (LMM)",
            "captioning vs the 16-way question, paired per LMM")
    return rows


HARD_SHARE = 1 / 3  # the hard categories: the third of the classes where the CLIP is weakest


def _half(keys: pd.Series, seed: int = 0) -> np.ndarray:
    """A fixed split of images into two halves by a hash of the key (the same image is in the same half for
    every model and seed, so the choice and the score never share an image)."""
    import hashlib

    return np.array([int(hashlib.sha256(f"{seed}:{k}".encode()).hexdigest()[:8], 16) % 2 for k in keys.astype(str)])


def hard_classes(questions: pd.DataFrame, share: float = HARD_SHARE) -> list:
    """The classes (`label`) where the CLIP's full-way top-1 (`clip_correct`) is lowest on these questions: the
    weakest `share` of the classes (at least one). Ties are broken by class index, so the choice is fixed."""
    acc = questions.groupby("label")["clip_correct"].mean().sort_index()
    k = max(1, int(round(share * len(acc))))
    return list(acc.sort_values(kind="stable").index[:k])


def hard_category_split(questions: pd.DataFrame, share: float = HARD_SHARE, seed: int = 0) -> pd.DataFrame:
    """Two-fold cross-fitting of the hard categories: the images are split in halves; the hard classes are chosen
    on one half and the images of those classes are scored on the other, then the halves swap. Every image is
    scored at most once and never by a choice it took part in.

    questions: one row per question with key, label, match (the LMM's TRUE/FALSE/BOTH/NEITHER) and clip_correct.
    Returns the scored rows with `fold` (the half scored) and `chosen_on` (the other half)."""
    half = _half(questions["key"], seed)
    parts = []
    for fold in (0, 1):
        chosen = hard_classes(questions[half != fold], share)
        s = questions[(half == fold) & questions["label"].isin(chosen)]
        parts.append(s.assign(fold=fold, chosen_on=1 - fold))
    return pd.concat(parts, ignore_index=True)


def paired_gain(questions: pd.DataFrame) -> tuple[float, float, int]:
    """(LMM minus CLIP two-choice accuracy, its variance, n) over the questions the LMM answered TRUE or FALSE,
    paired over images: the CLIP's two-choice answer is right exactly when its full-way top-1 is (its other
    choice is its own top-1 or top-2), so each image gives d = lmm_right - clip_right."""
    q = questions[questions["match"].isin(["TRUE", "FALSE"])]
    d = (q["match"] == "TRUE").to_numpy(float) - q["clip_correct"].astype(bool).to_numpy(float)
    n = len(d)
    if n < 2:
        return (float(d.mean()) if n else np.nan, np.nan, n)
    return float(d.mean()), float(d.var(ddof=1) / n), n


def seeds_gain(per_seed: Sequence[tuple[float, float, int]]) -> dict:
    """The mean over training seeds of per-seed paired gains, with an interval from the seeds and the images:
    variance = between-seed variance of the mean + the mean within-seed (image) variance (the seeds share the same
    images, so that part does not shrink with more seeds), t with seeds - 1 df.
    One seed: the images' normal interval. Returns dict(effect, n (scored images over all seeds), ci_low, ci_high,
    p, seeds)."""
    from scipy import stats

    per = [x for x in per_seed if np.isfinite(x[0])]
    out = dict(effect=np.nan, n=int(sum(x[2] for x in per)), ci_low=np.nan, ci_high=np.nan, p=np.nan, seeds=len(per))
    if not per or not all(np.isfinite(x[1]) for x in per):
        return out
    d = np.array([x[0] for x in per])
    v_img = float(np.mean([x[1] for x in per]))
    k = len(d)
    if k == 1:
        var, q, dist = v_img, stats.norm.ppf(0.975), stats.norm
    else:
        var = d.var(ddof=1) / k + v_img
        q, dist = stats.t.ppf(0.975, k - 1), stats.t(k - 1)
    se = float(np.sqrt(var))
    out.update(effect=float(d.mean()), ci_low=float(d.mean() - q * se), ci_high=float(d.mean() + q * se),
               p=float(2 * dist.sf(abs(d.mean()) / se)) if se > 0 else np.nan)
    return out
