"""Shape vs texture bias (chapter 04): lab cue-conflict, and decisions of live models on real stimuli.

Shape bias = shape hits / (shape + texture hits) over conflict images only (metrics.shape_bias).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..data_sources import GROUPS


def lab_shape_bias(decisions: Any, factors: pd.DataFrame) -> dict:
    """Shape bias and hit counts on lab-cue-conflict: `decisions` [N] predicted class ids, `factors`
    the set's frame (columns shape_label, texture_label). Adds shape_acc and texture_acc (fractions
    of conflict images decided by shape / by texture)."""
    from ..metrics import shape_bias, shape_texture_hits

    for c in ("shape_label", "texture_label"):
        if c not in factors.columns:
            from ..errors import SchemaError

            raise SchemaError(f"lab_shape_bias: factors lacks {c!r}; build the set with sets.build('lab-cue-conflict')")
    d = np.asarray(decisions).astype(np.int64)
    s = factors["shape_label"].to_numpy().astype(np.int64)
    t = factors["texture_label"].to_numpy().astype(np.int64)
    hits = shape_texture_hits(d, s, t)
    n = max(hits["n_conflict"], 1)
    return dict(shape_bias=shape_bias(d, s, t), **hits, shape_acc=hits["shape_hits"] / n,
                texture_acc=hits["texture_hits"] / n)


def align(frame: pd.DataFrame, keys: list[str], key: str = "key") -> pd.DataFrame:
    """Rows of a dataset frame in the order of the engine's encoded keys (skipped images drop out)."""
    f = frame.set_index(key)
    missing = [k for k in keys if k not in f.index]
    if missing:
        raise KeyError(f"{len(missing)} encoded keys are not in the dataset frame, e.g. {missing[:3]}")
    return f.loc[list(keys)].reset_index()


def live_decisions(zs: Any, aggregate=None) -> np.ndarray:
    """16-way decisions of a zero-shot result: argmax of the direct head for a CLIP, or for a
    1000-way classifier (no head) the category with the highest mean probability (`aggregate`,
    e.g. datasets.cue_conflict.aggregate_probabilities, as the texture-vs-shape code does)."""
    import torch

    if zs.head is not None:
        return zs.logits.argmax(1).numpy()
    if aggregate is None:
        raise ValueError("a 1000-way classifier needs `aggregate` to map its probabilities to the 16 categories")
    probs = torch.softmax(zs.encoded.features.float(), dim=1)
    return np.asarray(aggregate(probs).argmax(1))


def live_shape_bias(decisions: Any, frame: pd.DataFrame) -> dict:
    """Shape bias on the real cue-conflict images from decisions aligned with `frame` (label =
    shape class, texture_label = texture class)."""
    from ..metrics import shape_bias, shape_texture_hits

    d = np.asarray(decisions).astype(np.int64)
    s, t = frame["label"].to_numpy().astype(np.int64), frame["texture_label"].to_numpy().astype(np.int64)
    return dict(shape_bias=shape_bias(d, s, t), **shape_texture_hits(d, s, t))


# ---- records: real CLIPs, fine-tuned CLIPs, ImageNet models, LMMs and humans ----------------------

AXIS = "shape bias"
RECORD_FOLDERS = ("vlm_shapebias", "model_vs_human", "model_vs_human_clip", "texture_vs_shape")
DATA_GROUP = dict(GROUPS)  # data source -> the group compared (clipstudy.data_sources)
PANEL_ORDER = ("human", "zero-shot CLIP", "CLIP fine-tuned", "ImageNet model", "LMM", "unknown")


def records_decisions(root=None) -> pd.DataFrame:
    """Every cue-conflict decision of the records, once: Gavrikov et al. (CLIPs x 3 prompt sets, ImageNet
    classifiers, LMMs), model-vs-human (humans, ResNet-50, BagNet, SimCLR, SWAG), its CLIP fork, and the
    three CNNs of the original texture-vs-shape experiment (its ten humans are model-vs-human's cue-conflict
    observers, decision for decision, so they are counted there only)."""
    from .. import records

    parts = [records.load("vlm_shapebias", root),
             records.load("model_vs_human", root, datasets=["cue-conflict"]),
             records.load("model_vs_human_clip", root, datasets=["cue-conflict"])]
    tvs = records.load("texture_vs_shape", root)
    parts.append(tvs[tvs["kind"] != "human"])
    return pd.concat(parts, ignore_index=True)


def label(row: Any) -> str:
    """A short display name: the architecture, the source for the CLIP fork, the prompt set."""
    name = row["arch"] if row["kind"] != "human" else row["model"]
    if row["source"] == "model_vs_human_clip":
        name += " [model-vs-human head]"
    if isinstance(row.get("prompts"), str):
        name += f" · {row['prompts']}"
    return name


CATEGORY_ORDER = ("humans", "zero-shot CLIP · ViT", "zero-shot CLIP · ResNet", "CLIP fine-tuned on ImageNet",
                  "ImageNet model", "LMM", "unknown")


def category(row: Any) -> str:
    """The figure's group: humans, zero-shot CLIPs by tower family, fine-tuned CLIPs, ImageNet models, LMMs."""
    g = row["group"]
    if g == "human":
        return "humans"
    if g == "zero-shot CLIP":
        return f"zero-shot CLIP · {'ResNet' if row['family'] == 'resnet' else 'ViT'}"
    if g == "CLIP fine-tuned":
        return "CLIP fine-tuned on ImageNet"
    return g if g in CATEGORY_ORDER else "unknown"


def records_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """`records.shape_bias_table` plus a display `label`, the figure `panel` (group) and `category`, and
    `data_group` (OpenAI WIT | LAION | EVA Merged-2B)."""
    from .. import records

    sb = records.shape_bias_table(decisions)
    sb["label"] = sb.apply(label, axis=1)
    sb["panel"] = pd.Categorical(sb["group"].where(sb["group"].isin(PANEL_ORDER), "unknown"), PANEL_ORDER)
    sb["category"] = pd.Categorical(sb.apply(category, axis=1), CATEGORY_ORDER)
    sb["data_group"] = sb["data"].map(DATA_GROUP)
    return sb.sort_values(["panel", "shape_bias"], ignore_index=True)


def zero_shot(sb: pd.DataFrame) -> pd.DataFrame:
    """Gavrikov et al.'s zero-shot CLIPs: one direct 16-way head, three prompt sets each."""
    return sb[(sb["source"] == "vlm_shapebias") & (sb["group"] == "zero-shot CLIP")]


def finetune_pairs(sb: pd.DataFrame, prompts: str = "ensemble80") -> pd.DataFrame:
    """Each ImageNet-fine-tuned CLIP next to its own zero-shot version (`zs_base`; its `prompts` head)."""
    zs = zero_shot(sb)
    zs = zs[zs["prompts"] == prompts].set_index("model")["shape_bias"]
    ft = sb[(sb["group"] == "CLIP fine-tuned") & sb["zs_base"].notna()]
    out = ft[["model", "zs_base", "shape_bias"]].rename(columns={"model": "finetuned", "shape_bias": "sb_finetuned"})
    out["sb_zero_shot"] = out["zs_base"].map(zs)
    out["difference"] = out["sb_finetuned"] - out["sb_zero_shot"]
    return out.dropna(subset=["sb_zero_shot"]).reset_index(drop=True)


def records_effects(sb: pd.DataFrame) -> list[dict]:
    """Shape-bias effects among real models (metric: shape bias; n and a 95% bootstrap interval over models).

    architecture: ViT minus ResNet zero-shot CLIPs, within OpenAI's data, matched on prompt set;
    training distribution: LAION minus OpenAI, and EVA's Merged-2B minus OpenAI (ViT CLIPs, matched on prompts);
    test-time prompts: the bare class name, and one template, minus the 80-template ensemble, paired per CLIP;
    fine-tuning: each ImageNet-fine-tuned CLIP minus its own zero-shot self (80 templates), paired.
    """
    from .effects import bootstrap_mean, effect, grouped_effect, paired_effect

    zs = zero_shot(sb).assign(data_group=lambda d: d["data"].map(DATA_GROUP))
    rows = []

    def add(factor, res, text):
        ci = (res["ci_low"], res["ci_high"])
        rows.append(effect(factor, AXIS, "shape bias", res["effect"], text, "records", n=res["n"], ci=ci))

    oa = zs[zs["data"] == "openai-wit"]
    a = grouped_effect(oa, "family", "vit", "resnet", "shape_bias", match=["prompts"])
    add("architecture", a, f"ViT vs ResNet zero-shot CLIPs, OpenAI data, matched on prompts "
                           f"({a['n_treatment']} vs {a['n_base']} models)")
    vit = zs[zs["family"] == "vit"]
    for treat in ("LAION", "EVA Merged-2B"):
        g = grouped_effect(vit, "data_group", treat, "OpenAI WIT", "shape_bias", match=["prompts"])
        add("training distribution", g, f"{treat} vs OpenAI WIT ViT CLIPs, matched on prompts "
                                        f"({g['n_treatment']} vs {g['n_base']} models)")
    for treat, words in (("one-template", "one template"), ("bare-name", "the bare class name")):
        p = paired_effect(zs, "model", "prompts", treat, "ensemble80", "shape_bias")
        add("test-time prompts", p, f"{words} vs the 80-template ensemble, paired per zero-shot CLIP")
    ft = finetune_pairs(sb)
    add("fine-tuning", bootstrap_mean(ft["difference"].to_numpy()),
        "ImageNet-fine-tuned CLIPs vs their own zero-shot versions (80 templates), paired")
    return rows


# the lab contrast that varies the same factor in the same direction as a records row
LAB_COUNTERPART = {"architecture": ("arch-vit vs base", "ViT vs ResNet"),
                   "fine-tuning": ("finetuned vs base", "ImageNet-fine-tuned"),
                   "test-time prompts": ("one template vs the template ensemble", "one template vs")}


def lab_agreement(effects: pd.DataFrame) -> pd.DataFrame:
    """For each factor whose lab recipe and records contrast vary the same thing, the lab's (causal)
    effect, the records' effect with its interval, and `verdict`: does the real-model interval agree
    with the lab's direction? Columns: factor, lab, lab_effect, records, records_effect, n, ci_low,
    ci_high, verdict. When the lab effect's own interval (over seeds and images) covers 0, the lab has no
    direction to agree with and the verdict is inconclusive."""
    from .effects import covers_zero, verdict

    rows = []
    for factor, (lab_key, rec_key) in LAB_COUNTERPART.items():
        lab = effects[(effects["factor"] == factor) & (effects["source"] == "lab")
                      & effects["comparison"].str.startswith(lab_key)]
        rec = effects[(effects["factor"] == factor) & (effects["source"] == "records")
                      & effects["comparison"].str.startswith(rec_key)]
        if lab.empty or rec.empty:
            continue
        lv, rv = lab.iloc[0], rec.iloc[0]
        v = verdict(rv["effect"], rv["ci_low"], rv["ci_high"], np.sign(lv["effect"]))
        if covers_zero(lv) and v != "not measured":  # the lab shows no detectable effect: it has no direction
            v = "inconclusive"
        rows.append(dict(factor=factor, lab=lv["comparison"], lab_effect=lv["effect"], records=rv["comparison"],
                         records_effect=rv["effect"], n=rv["n"], ci_low=rv["ci_low"], ci_high=rv["ci_high"],
                         verdict=v))
    return pd.DataFrame(rows, columns=["factor", "lab", "lab_effect", "records", "records_effect", "n", "ci_low",
                                       "ci_high", "verdict"])


def claims(sb: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """The paper's shape-bias claims against the records, each with a computed verdict (`effects.verdict`).

    C2 "zero-shot CLIPs decide more by shape than by texture": the mean shape bias of Gavrikov et al.'s
    zero-shot CLIPs (80 templates) minus 0.5, bootstrap over the CLIPs. C3 "fine-tuning a CLIP on ImageNet
    lowers its shape bias": the paired fine-tuning effect of `records_effects`.
    """
    from .effects import bootstrap_mean, verdict

    zs = zero_shot(sb)
    c2 = bootstrap_mean((zs.loc[zs["prompts"] == "ensemble80", "shape_bias"] - 0.5).to_numpy())
    ft = effects[(effects["factor"] == "fine-tuning") & (effects["source"] == "records")]
    c3 = ft.iloc[0].to_dict() if len(ft) else dict(effect=np.nan, n=0, ci_low=np.nan, ci_high=np.nan)
    rows = [dict(id="C2", claim="Zero-shot CLIPs decide more by shape than by texture",
                 measured="mean shape bias of the zero-shot CLIPs (80 templates) minus 0.5", expected="positive", **c2),
            dict(id="C3", claim="Fine-tuning a CLIP on ImageNet lowers its shape bias",
                 measured="fine-tuned minus its own zero-shot CLIP, paired", expected="negative",
                 **{k: c3[k] for k in ("effect", "n", "ci_low", "ci_high")})]
    out = pd.DataFrame(rows)
    out["verdict"] = [verdict(r.effect, r.ci_low, r.ci_high, r.expected) for r in out.itertuples()]
    return out


# The same real model evaluated in two record sets is one model (the unit of replication is the model): these
# names are one checkpoint each. model-vs-human's CLIP fork loads OpenAI's ViT-L/14 (`clip-14`), which Gavrikov et
# al. also ran; model-vs-human's `resnet50` is torchvision's ResNet-50, which vlm_shapebias names `tv_resnet50`.
SAME_MODEL = {("model_vs_human_clip", "clip-14"): "ViT_L_14_openai", ("model_vs_human", "resnet50"): "tv_resnet50"}
IMAGENET_DATA = ("imagenet-1k", "imagenet-21k")  # trained on ImageNet alone (SWAG pre-trains on Instagram)


def model_units(sb: pd.DataFrame, group: str, prompts: str = "ensemble80", data: Sequence[str] | None = None
                ) -> pd.DataFrame:
    """One row per real model of `group` on the cue-conflict images (shape_bias averaged over the record sets
    that hold it; `SAME_MODEL` joins names of one checkpoint), zero-shot CLIPs under `prompts` (a record set
    with no prompt sets, model-vs-human's fork, counts as the ensemble it used). Columns: unit, shape_bias,
    sources, n_sources."""
    g = sb[sb["group"] == group]
    if group == "zero-shot CLIP":
        g = g[(g["prompts"] == prompts) | (g["source"] == "model_vs_human_clip")]
    if data is not None:
        g = g[g["data"].isin(list(data))]
    unit = [SAME_MODEL.get((s, m), m) for s, m in zip(g["source"], g["model"])]
    out = g.assign(unit=unit).groupby("unit").agg(shape_bias=("shape_bias", "mean"),
                                                  sources=("source", lambda s: ", ".join(sorted(set(s)))),
                                                  n_sources=("source", "nunique"))
    return out.reset_index()


# ---- lab: the kind of fine-tuning (claim C9) --------------------------------------------------------

# the lab recipes that fine-tune `base` in another way than `finetuned` (cross-entropy, whole tower), by the
# words the effects rows use: metric "shape-bias drop, standard minus <kind>"
FT_KIND_RECIPES = {"contrastive": "finetuned-contrastive", "parameter-efficient": "finetuned-peft"}
FT_DROP_METRIC = "shape-bias drop, standard minus {kind}"
FT_DROP_COMPARISON = "drop under {standard} minus drop under {recipe} (each from its own seed's {base}, paired by seed)"


def finetune_drops(lab_sb: pd.DataFrame, base: str = "base", recipes: tuple[str, ...] = (),
                   value: str = "shape_bias", prompts: str | None = "ensemble") -> pd.DataFrame:
    """Per seed, each fine-tuned recipe's shape-bias drop from its own parent: drop = value(base, seed k) -
    value(recipe, seed k). `lab_sb` has one row per (recipe, seed[, prompts]); with a `prompts` column only the
    `prompts` rows are used (a classifier's row carries the prompt set it was asked for, which it ignores).
    Columns: recipe, seed, base_value, value, drop (seeds without a base value are left out)."""
    t = lab_sb if prompts is None or "prompts" not in lab_sb.columns else lab_sb[lab_sb["prompts"] == prompts]
    b = t[t["recipe"] == base].set_index("seed")[value]
    out = []
    for r in recipes:
        g = t[t["recipe"] == r]
        for sd, v in zip(g["seed"], g[value]):
            if sd in b.index:
                out.append(dict(recipe=r, seed=sd, base_value=float(b[sd]), value=float(v), drop=float(b[sd] - v)))
    return pd.DataFrame(out, columns=["recipe", "seed", "base_value", "value", "drop"])


def finetune_kind_effects(lab_sb: pd.DataFrame, axis: str = AXIS, base: str = "base", standard: str = "finetuned",
                          kinds: dict[str, str] | None = None, value: str = "shape_bias", boot: str = "boot",
                          prompts: str | None = "ensemble") -> list[dict]:
    """Claim C9 in the lab: for each kind of fine-tuning (`kinds`: words -> recipe, default FT_KIND_RECIPES), the
    shape-bias drop under standard fine-tuning minus the drop under that kind, paired by seed. Positive: the
    kind keeps more of base's shape bias than standard fine-tuning does.

    Each drop is taken within a seed: value(base, k) - value(recipe, k), the fine-tune against the very CLIP it
    started from (only seeds that have base, `standard` and the kind count). The effect is the mean over seeds of
    the standard drops minus the mean of the kind's drops, with the interval every lab effect has
    (`effects.seed_image_effect`: seeds and images; the image replicates of a drop are base's minus the
    recipe's on the same resamples, `boot` holding each row's `image_boot` replicates, or no column: seeds
    only). n counts the fine-tuned models behind it (seeds of standard + seeds of the kind). Rows: factor
    "fine-tuning", metric FT_DROP_METRIC, comparison FT_DROP_COMPARISON, source "lab"."""
    from .effects import effect, seed_image_effect

    kinds = dict(FT_KIND_RECIPES if kinds is None else kinds)
    t = lab_sb if prompts is None or "prompts" not in lab_sb.columns else lab_sb[lab_sb["prompts"] == prompts]
    has_boot = boot in t.columns
    by = {(r, sd): row for r, sd, row in zip(t["recipe"], t["seed"], t.to_dict("records"))}
    rows = []
    for words, rec in kinds.items():
        seeds = sorted(sd for (r, sd) in by if r == base and (standard, sd) in by and (rec, sd) in by)
        if not seeds:
            continue

        def drops(r: str):
            d = np.array([by[(base, sd)][value] - by[(r, sd)][value] for sd in seeds], float)
            if not has_boot:
                return d, None
            bt = np.stack([np.asarray(by[(base, sd)][boot], float) - np.asarray(by[(r, sd)][boot], float)
                           for sd in seeds])
            return d, bt

        (ds, bs), (dk, bk) = drops(standard), drops(rec)
        e = seed_image_effect(ds, dk, bs, bk)
        rows.append(effect("fine-tuning", axis, FT_DROP_METRIC.format(kind=words), e["effect"],
                           FT_DROP_COMPARISON.format(standard=standard, recipe=rec, base=base), "lab", n=e["n"],
                           ci=(e["ci_low"], e["ci_high"]), p=e["p"]))
    return rows
