"""Chapter 04: shape vs texture decisions on cue-conflict images (records, lab ablations, live).

Shape bias = shape hits / (shape + texture hits) over conflict images only (`metrics.shape_bias`, which also
turns a zero-shot result into decisions). The axis's tables are pure functions over frames: the records' real
CLIPs, fine-tuned CLIPs, ImageNet models, LMMs and humans, and the lab's kinds of fine-tuning.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .. import chapter, plots
from .. import effects as E
from ..data_sources import GROUPS
from ..lab import evaluate as lab_eval
from ..metrics.shape_bias import lab_shape_bias, live_decisions, live_shape_bias
from . import evidence as ev
from .core import IdLookup, Outputs, Row, row, LAB_FACTORS, Axis, display, live_wide, register, show
from .evidence import evidence
from .visual_factors import _runs

AXIS_NAME = "shape bias"


def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Shape bias over cue-conflict images (shape / (shape + texture) decisions), and 16-way accuracy."""
    if "shape_label" in o.frame.columns:  # the lab's cue-conflict set
        s = lab_shape_bias(o.zs.logits.argmax(1).numpy(), o.frame)
        n = int(s["n_conflict"])
        return [row("conflict", k, s[k], n) for k in ("shape_bias", "shape_acc", "texture_acc")]
    from ..datasets import cue_conflict

    dec = live_decisions(o.zs, cue_conflict.aggregate_probabilities)
    rows = [row("all", "accuracy16", float((dec == o.frame["label"].to_numpy()).mean()), len(dec))]
    if "texture_label" in o.frame.columns:
        s = live_shape_bias(dec, o.frame)
        rows.append(row("conflict", "shape_bias", s["shape_bias"], s["n_conflict"]))
    return rows


AXIS = register(Axis("shape_bias", AXIS_NAME, "04_shape_bias", live=("cue-conflict", "edges", "silhouettes"),
                     order=4,
                     lab=("lab-val", "lab-cue-conflict"), runner="shape", tasks=("shape-bias",), evaluate=evaluate,
                     metrics=("shape_bias", "shape_acc", "texture_acc", "accuracy16")))

# every real decider's shape bias on the cue-conflict images (`records_table`): C2's and C14's records evidence
RECORDS_SHAPE_BIAS = AXIS.table("records_shape_bias", source="text", model="text", prompts="text", group="text",
                                data="text", shape_bias="float64", n_conflict="int64")
# every lab recipe's shape bias per seed and prompt set (`lab`): C2's lab evidence
LAB_SHAPE_BIAS = AXIS.table("lab_shape_bias", recipe="text", seed="int64", prompts="text", factor="text",
                            shape_bias="float64", n_conflict="int64")


# ---- tables: the records' real CLIPs, fine-tuned CLIPs, ImageNet models, LMMs and humans ----------------------

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


def records_shape_bias_effects(sb: pd.DataFrame) -> list[dict]:
    """Shape-bias effects among real models (metric: shape bias; n and a 95% bootstrap interval over models).

    architecture: ViT minus ResNet zero-shot CLIPs, within OpenAI's data, matched on prompt set;
    training distribution: LAION minus OpenAI, and EVA's Merged-2B minus OpenAI (ViT CLIPs, matched on prompts);
    test-time prompts: the bare class name, and one template, minus the 80-template ensemble, paired per CLIP;
    fine-tuning: each ImageNet-fine-tuned CLIP minus its own zero-shot self (80 templates), paired.
    """
    from ..effects import bootstrap_mean, effect, grouped_effect, paired_effect

    zs = zero_shot(sb).assign(data_group=lambda d: d["data"].map(DATA_GROUP))
    rows = []

    def add(factor, res, text):
        ci = (res["ci_low"], res["ci_high"])
        rows.append(effect(factor, AXIS_NAME, "shape bias", res["effect"], text, "records", n=res["n"], ci=ci))

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
    from ..effects import covers_zero, verdict

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


# ---- tables: the lab's kind of fine-tuning (claim C9) --------------------------------------------------------

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


def finetune_kind_effects(lab_sb: pd.DataFrame, axis: str = AXIS_NAME, base: str = "base", standard: str = "finetuned",
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
    from ..effects import effect, seed_image_effect

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


# ---- records ---------------------------------------------------------------------------------------
def records(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Shape bias of every real decider (humans, CLIPs, ImageNet models, LMMs), its strip plot and finding."""
    if not chapter.records_ready(*RECORD_FOLDERS):  # else one "Records missing" notice naming the fetch command
        return None
    sb = ch.publish(RECORDS_SHAPE_BIAS, records_table(records_decisions()))
    unknown = sb[~sb["tagged"].astype(bool)]
    print(f"{len(sb)} (decider, prompt set) rows from {sb['source'].nunique()} sources; "
          f"{unknown['model'].nunique()} deciders the tag rules do not know (kept, tagged unknown)")
    fig_data = sb[sb["category"] != "LMM"]
    fig, ax = plots.shape_bias_strip(fig_data, order=[c for c in CATEGORY_ORDER if c in set(fig_data["category"])],
                                     title="Shape bias on cue-conflict images: real deciders")
    ch.figure(fig, fig_data, "records_shape_bias")
    show()
    cat = fig_data.groupby("category", observed=True)["shape_bias"].mean()
    chapter.finding("Mean shape bias: humans {h:.3f}, zero-shot CLIP ViTs {v:.3f}, zero-shot CLIP ResNets {r:.3f}, "
                    "ImageNet-fine-tuned CLIPs {f:.3f}, ImageNet models {i:.3f}.", h=cat.get("humans", np.nan),
                    v=cat.get("zero-shot CLIP · ViT", np.nan), r=cat.get("zero-shot CLIP · ResNet", np.nan),
                    f=cat.get("CLIP fine-tuned on ImageNet", np.nan), i=cat.get("ImageNet model", np.nan))
    return sb


def records_paired(ch: chapter.Chapter, sb: pd.DataFrame | None) -> None:
    """Per CLIP: shape bias under three prompt sets, and before and after fine-tuning."""
    if sb is None:
        return
    zs = zero_shot(sb)
    ftp = finetune_pairs(sb)
    ft_long = pd.concat([ftp.assign(stage="zero-shot", shape_bias=ftp["sb_zero_shot"]),
                         ftp.assign(stage="fine-tuned on ImageNet", shape_bias=ftp["sb_finetuned"])])
    fig = plots.paired_panels([
        dict(frame=zs, x="prompts", y="shape_bias", unit="model", order=["ensemble80", "one-template", "bare-name"],
             hue="arch", ylabel="shape bias", title="Prompt sets, per zero-shot CLIP"),
        dict(frame=ft_long, x="stage", y="shape_bias", unit="finetuned", order=["zero-shot", "fine-tuned on ImageNet"],
             hue="finetuned", ylabel="shape bias", title="Fine-tuning, per CLIP")], figsize=(11, 4))
    ch.figure(fig, pd.concat([zs, ft_long]), "records_paired")
    show()


def records_effects(ch: chapter.Chapter, sb: pd.DataFrame | None) -> pd.DataFrame | None:
    if sb is None:
        return None
    rec = E.effects_frame(ch.effects.extend(records_shape_bias_effects(sb)))
    display(rec[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
    for r in rec.to_dict("records"):
        chapter.finding("{factor} ({comp}): {e:+.3f} ({ci}): {word}.", factor=r["factor"], comp=r["comparison"],
                        e=r["effect"], ci=E.interval_text(r) or f"n={r['n']:.0f}, no interval",
                        word=E.direction_words(r, "shape bias rises", "shape bias falls"))
    return rec


# ---- lab -------------------------------------------------------------------------------------------
def _boot(dec: np.ndarray, f: pd.DataFrame) -> np.ndarray:
    """Image-bootstrap replicates of shape bias (same resamples for every recipe and seed)."""
    s, t = f["shape_label"].to_numpy(), f["texture_label"].to_numpy()
    sh = E.image_boot(((dec == s) & (s != t)).astype(float))
    tx = E.image_boot(((dec == t) & (s != t)).astype(float))
    with np.errstate(all="ignore"):
        return sh / (sh + tx)


def lab(ch: chapter.Chapter) -> pd.DataFrame:
    """Shape bias of every recipe and seed (base also with one template) on lab-cue-conflict, with replicates."""
    recs = lab_eval.recipes(ch.lab_profile)
    rows = []
    for r, sd, prompts in _runs(ch):
        zs, ls = lab_eval.zero_shot(r, "lab-cue-conflict", n=ch.n_eval, profile=ch.lab_profile, prompts=prompts,
                                    device=ch.device, seed=sd, precision=ch.precision)
        dec = zs.logits.argmax(1).numpy()
        rows.append(dict(recipe=r, seed=sd, prompts=prompts, **lab_shape_bias(dec, ls.factors),
                         boot=_boot(dec, ls.factors)))
    lab_sb = pd.DataFrame(rows).merge(recs[["recipe", "factor", "shape_texture_corr"]], on="recipe")
    lab_sb["study factor"] = lab_sb["factor"].map(LAB_FACTORS).fillna("base")
    ch.publish(LAB_SHAPE_BIAS, lab_sb.drop(columns="boot"))
    print(f"mean over {len(lab_eval.seeds(ch.lab_profile))} training seeds per recipe:")
    display(lab_sb.groupby(["recipe", "prompts", "factor"])[["shape_bias", "shape_acc", "texture_acc", "n_conflict"]]
             .mean().round(3))
    return lab_sb


def lab_figure(ch: chapter.Chapter, lab_sb: pd.DataFrame) -> None:
    fig = plots.lab_shape_bias(lab_sb[lab_sb["prompts"] == "ensemble"], len(lab_eval.seeds(ch.lab_profile)))
    ch.figure(fig, lab_sb.drop(columns="boot"), "lab_shape_bias")
    show()


def lab_effects(ch: chapter.Chapter, lab_sb: pd.DataFrame) -> list[dict]:
    """Each factor's effect on shape bias (seeds and images), the prompt effect, and the correlation finding."""
    recs = lab_eval.recipes(ch.lab_profile)
    ens = lab_sb[lab_sb["prompts"] == "ensemble"]
    v = ens.groupby("recipe")["shape_bias"].mean()
    rows = ch.effects.lab(ens, recs, "shape bias", value="shape_bias",
                          flags=lab_eval.parity_flags(ch.lab_profile, ch.n_eval, ch.device, ch.precision))
    single = lab_sb[(lab_sb["recipe"] == "base") & (lab_sb["prompts"] == "single")].sort_values("seed")
    if len(single) and "base" in v:
        b = ens[ens["recipe"] == "base"].sort_values("seed")
        rows = rows + [ch.effects.prompts("shape bias", single["shape_bias"], b["shape_bias"], single["boot"],
                                          b["boot"])]
    display(pd.DataFrame(rows)[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
    for r in rows:
        chapter.finding("{comp}, effect on shape bias: {words}.", comp=r["comparison"], words=E.effect_words(r))
    if {"data-corr-high", "data-corr-low"} <= set(v.index):
        hi, lo = (ens[ens["recipe"] == x].sort_values("seed") for x in ("data-corr-high", "data-corr-low"))
        d = E.seed_image_effect(hi["shape_bias"], lo["shape_bias"], np.stack(hi["boot"].to_list()),
                                np.stack(lo["boot"].to_list()))
        chapter.finding("Raising the training shape-texture correlation from 0 to 0.9 moves shape bias from {lo:.3f} "
                        "to {hi:.3f} (mean over seeds): {word}.", lo=float(v["data-corr-low"]),
                        hi=float(v["data-corr-high"]), word=E.effect_words(d) if E.covers_zero(d) else
                        chapter.direction(d["effect"], "shape bias rises", "shape bias falls") + f" ({E.effect_words(d)})")
    return rows


def lab_finetune_kinds(ch: chapter.Chapter, lab_sb: pd.DataFrame) -> list[dict]:
    """Claim C9: the shape-bias drop under standard fine-tuning minus the drop under contrastive (FLYP) and
    parameter-efficient (last block) fine-tuning of the same seed's base, paired by seed (seeds and images)."""
    kinds = {w: r for w, r in FT_KIND_RECIPES.items() if r in set(lab_sb["recipe"])}
    drops = finetune_drops(lab_sb, recipes=("finetuned", *kinds.values()))
    if "finetuned" not in set(drops["recipe"]) or not kinds:
        print("This build has no standard and no other fine-tuned recipe to compare (zoo: lab.zoo.names()).")
        return []
    per = drops.groupby("recipe", sort=False)[["base_value", "value", "drop"]].mean().rename(
        columns={"base_value": "shape bias of base", "value": "shape bias after fine-tuning", "drop": "drop"})
    print(f"mean over {drops['seed'].nunique()} training seeds; each drop is against the same seed's base:")
    display(per.round(3))
    rows = ch.effects.extend(finetune_kind_effects(lab_sb, kinds=kinds))
    display(pd.DataFrame(rows)[["metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
    for r in rows:
        word = "" if E.covers_zero(r) or not np.isfinite(r["ci_low"]) else ": " + E.direction_words(
            r, "this kind keeps more of base's shape bias than standard fine-tuning",
            "this kind loses more of base's shape bias than standard fine-tuning")
        chapter.finding("{m}: {words}{word}.", m=r["metric"], words=E.effect_words(r), word=word)
    return rows


def agreement(ch: chapter.Chapter) -> pd.DataFrame:
    """Whether the lab's direction of each factor agrees with the records'."""
    ag = ch.save(lab_agreement(ch.effects.frame()), "lab_vs_records")
    if not len(ag):
        print("No factor has both a lab and a records effect in this build (records or lab rows missing).")
        return ag
    display(ag.round(3))
    for r in ag.itertuples():
        chapter.finding("{f}: the lab moves shape bias by {l:+.3f} ({lc}); real models by {rv:+.3f} ({rc}): {v}.",
                        f=r.factor, l=r.lab_effect, lc=r.lab, rv=r.records_effect, rc=r.records, v=r.verdict)
    by = ag.groupby("verdict")["factor"].apply(lambda f: ", ".join(f))
    chapter.finding("Real data agree with the lab's direction on: {a}; disagree on: {d}; inconclusive on: {i}.",
                    a=by.get("agrees", "none"), d=by.get("disagrees", "none"), i=by.get("inconclusive", "none"))
    return ag


# ---- live ------------------------------------------------------------------------------------------
def live(ch: chapter.Chapter) -> pd.DataFrame | None:
    """16-way accuracy and shape bias of the live grid's models (the runner's results table)."""
    live_sb = live_wide(ch, ["model", "dataset"], {"accuracy16": "accuracy"}, "live_shape_bias")
    if live_sb is not None:
        display(live_sb.round(3))
    return live_sb


def zero_shot_parent(name: str, models: Sequence[str]) -> str | None:
    """The zero-shot CLIP among `models` that a fine-tuned CLIP starts from: the `parent` its `--model-info`
    declares, or, for a timm CLIP, the same tower (vit_base_patch32_clip_224 is ViT-B-32) and the same
    pre-training data; None if it is not there."""
    import re

    from .. import zoo

    spec = zoo.get(name)
    if spec.parent:
        return spec.parent if spec.finetuned and spec.parent in models else None
    m = re.match(r"vit_(base|large|huge)_patch(\d+)_clip_(\d+)", spec.arch or "")
    if not spec.finetuned or m is None:
        return None
    arch = f"ViT-{m[1][0].upper()}-{m[2]}" + ("" if m[3] == "224" else f"-{m[3]}")
    for other in models:
        o = zoo.get(other)
        if not o.finetuned and o.arch == arch and o.data == spec.data:
            return other
    return None


# ---- the paper's claims on this axis ---------------------------------------------------------------

RECORDS_MISSING = "records missing: run `clipstudy fetch records`"
NOT_LIVE = "live shape bias is not part of this build"


def _records_rows(results, rows: Callable[[pd.DataFrame, pd.DataFrame], list[dict]]) -> list[dict]:
    """`rows(zero-shot CLIPs, ImageNet-trained models)`, one row per real model each, from the published records
    table; the records-missing row when chapter 04 wrote none."""
    sb = RECORDS_SHAPE_BIAS.read(results)
    if sb is None:
        return [ev.row("records", "", note=RECORDS_MISSING)]
    return rows(model_units(sb, "zero-shot CLIP"), model_units(sb, "ImageNet model", data=IMAGENET_DATA))


@evidence("C2")
def c2(results, records_root=None) -> list[dict]:
    """C2: the zero-shot CLIPs' shape bias minus 0.5 (records: over models; lab: base over its seeds)."""
    from ..effects import bootstrap_mean, one_sample_t

    out = _records_rows(results, lambda zs, _: [ev.result_row(
        "records", f"mean shape bias of {len(zs)} zero-shot CLIPs (80 templates) minus 0.5",
        bootstrap_mean((zs["shape_bias"] - 0.5).to_numpy()), unit="models")])
    lab = LAB_SHAPE_BIAS.read(results)
    if lab is not None:
        b = lab[(lab["recipe"] == "base") & (lab["prompts"] == "ensemble")].groupby("seed")["shape_bias"].mean()
        out.append(ev.result_row("lab", f"shape bias of the base lab CLIP minus 0.5, over {len(b)} seeds",
                                 one_sample_t((b - 0.5).to_numpy()), unit="seeds"))
    else:
        out.append(ev.row("lab", "", note="chapter 04 wrote no lab shape-bias table"))
    out.append(ev.row("live", "", note=NOT_LIVE))
    return out


@evidence("C14")
def c14(results, records_root=None) -> list[dict]:
    """C14: the zero-shot CLIPs' shape bias minus the ImageNet-trained models', over models (records)."""
    from ..effects import grouped_effect

    def rows(zs: pd.DataFrame, inet: pd.DataFrame) -> list[dict]:
        f = pd.concat([zs.assign(group="clip"), inet.assign(group="imagenet")], ignore_index=True)
        g = grouped_effect(f, "group", "clip", "imagenet", "shape_bias", unit="unit")
        g["n"] = len(zs) + len(inet)
        return [ev.result_row("records", f"mean shape bias of {len(zs)} zero-shot CLIPs minus {len(inet)} "
                              "ImageNet-1k/21k-trained models, same cue-conflict images", g, unit="models")]

    out = _records_rows(results, rows)
    return out + [ev.row("lab", "", note="the lab zoo trains no classifier from scratch on lab-train (its classifier "
                                         "is a fine-tune of base, C3)"),
                  ev.row("live", "", note=NOT_LIVE)]


@evidence("C3")
def c3(results, records_root=None) -> list[dict]:
    """C3: each fine-tuned CLIP minus its own zero-shot CLIP (records and live: paired; lab: finetuned vs base)."""
    rec = ev.effect_rows(results, AXIS, "fine-tuning", "", "records")
    if rec.empty:
        out = [ev.row("records", "", note=RECORDS_MISSING)]
    else:
        r = rec.iloc[0]
        out = [ev.row("records", "fine-tuned minus its own zero-shot CLIP, paired", r["effect"], r["n"],
                      (r["ci_low"], r["ci_high"]), unit="model pairs", p=r["p"])]
    out += ev.from_effects("lab", results, AXIS, "fine-tuning", "shape bias", "seeds x images",
                           comparison="finetuned vs base") or \
        [ev.row("lab", "", note="chapter 04 wrote no lab fine-tuning effect")]
    out += ev.from_effects("live", results, AXIS, "fine-tuning", "shape bias", "pairs x images") or \
        [ev.row("live", "", note=NOT_LIVE)]
    return out


@evidence("C9")
def c9(results, records_root=None) -> list[dict]:
    """C9: the shape-bias drop under standard fine-tuning minus that under the other kinds (a lab family)."""
    out = [ev.row("records", "", note="no CLIP fine-tuned contrastively or parameter-efficiently among the records")]
    out += ev.from_effects("lab", results, AXIS, "fine-tuning", "shape-bias drop", "seeds x images", role="family") or \
        [ev.row("lab", "", note="chapter 04 wrote no difference of fine-tuning drops (the zoo lacks the contrastive "
                                "and parameter-efficient fine-tunes)")]
    out.append(ev.row("live", "", note="no live contrastive or parameter-efficient fine-tunes in this build"))
    return out
