"""Chapter 04: shape vs texture decisions on cue-conflict images (records, lab ablations, live)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import chapter, plots
from ..analysis import effects as E
from ..analysis import shape_bias as SB
from ..lab import evaluate as lab_eval
from .core import IdLookup, Outputs, Row, row, LAB_FACTORS, Axis, display, live_wide, register, show
from .visual_factors import _runs

def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Shape bias over cue-conflict images (shape / (shape + texture) decisions), and 16-way accuracy."""
    from ..analysis import shape_bias as SB

    if "shape_label" in o.frame.columns:  # the lab's cue-conflict set
        s = SB.lab_shape_bias(o.zs.logits.argmax(1).numpy(), o.frame)
        n = int(s["n_conflict"])
        return [row("conflict", k, s[k], n) for k in ("shape_bias", "shape_acc", "texture_acc")]
    from ..datasets import cue_conflict

    dec = SB.live_decisions(o.zs, cue_conflict.aggregate_probabilities)
    rows = [row("all", "accuracy16", float((dec == o.frame["label"].to_numpy()).mean()), len(dec))]
    if "texture_label" in o.frame.columns:
        s = SB.live_shape_bias(dec, o.frame)
        rows.append(row("conflict", "shape_bias", s["shape_bias"], s["n_conflict"]))
    return rows


AXIS = register(Axis("shape_bias", SB.AXIS, "04_shape_bias", live=("cue-conflict", "edges", "silhouettes"),
                          lab=("lab-val", "lab-cue-conflict"),
                     runner="shape", tasks=("shape-bias",), evaluate=evaluate,
                          metrics=("shape_bias", "shape_acc", "texture_acc", "accuracy16")))


# ---- records ---------------------------------------------------------------------------------------
def records(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Shape bias of every real decider (humans, CLIPs, ImageNet models, LMMs), its strip plot and finding."""
    if not chapter.records_ready(*SB.RECORD_FOLDERS):  # else one "Records missing" notice naming the fetch command
        return None
    sb = ch.save(SB.records_table(SB.records_decisions()), "records_shape_bias")
    unknown = sb[~sb["tagged"].astype(bool)]
    print(f"{len(sb)} (decider, prompt set) rows from {sb['source'].nunique()} sources; "
          f"{unknown['model'].nunique()} deciders the tag rules do not know (kept, tagged unknown)")
    fig_data = sb[sb["category"] != "LMM"]
    fig, ax = plots.shape_bias_strip(fig_data, order=[c for c in SB.CATEGORY_ORDER if c in set(fig_data["category"])],
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
    zs = SB.zero_shot(sb)
    ftp = SB.finetune_pairs(sb)
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
    rec = E.effects_frame(ch.effects.extend(SB.records_effects(sb)))
    display(rec[["factor", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
    for r in rec.to_dict("records"):
        chapter.finding("{factor} ({comp}): {e:+.3f} ({ci}): {word}.", factor=r["factor"], comp=r["comparison"],
                        e=r["effect"], ci=E.interval_text(r) or f"n={r['n']:.0f}, no interval",
                        word=E.direction_words(r, "shape bias rises", "shape bias falls"))
    return rec


def records_claims(ch: chapter.Chapter, sb: pd.DataFrame | None, rec: pd.DataFrame | None) -> None:
    if sb is None:
        return
    cl = ch.save(SB.claims(sb, rec), "records_claims")
    display(cl.round(3))
    for r in cl.itertuples():
        chapter.finding("{id} ({claim}): {verdict} ({m}: {e:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}], n={n:.0f}).",
                        id=r.id, claim=r.claim, verdict=r.verdict, m=r.measured, e=r.effect, lo=r.ci_low,
                        hi=r.ci_high, n=r.n)


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
                                    device=ch.device, seed=sd)
        dec = zs.logits.argmax(1).numpy()
        rows.append(dict(recipe=r, seed=sd, prompts=prompts, **SB.lab_shape_bias(dec, ls.factors),
                         boot=_boot(dec, ls.factors)))
    lab_sb = pd.DataFrame(rows).merge(recs[["recipe", "factor", "shape_texture_corr"]], on="recipe")
    lab_sb["study factor"] = lab_sb["factor"].map(LAB_FACTORS).fillna("base")
    ch.save(lab_sb.drop(columns="boot"), "lab_shape_bias")
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
                          flags=lab_eval.parity_flags(ch.lab_profile, ch.n_eval, ch.device))
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
    kinds = {w: r for w, r in SB.FT_KIND_RECIPES.items() if r in set(lab_sb["recipe"])}
    drops = SB.finetune_drops(lab_sb, recipes=("finetuned", *kinds.values()))
    if "finetuned" not in set(drops["recipe"]) or not kinds:
        print("This build has no standard and no other fine-tuned recipe to compare (zoo: lab.zoo.names()).")
        return []
    per = drops.groupby("recipe", sort=False)[["base_value", "value", "drop"]].mean().rename(
        columns={"base_value": "shape bias of base", "value": "shape bias after fine-tuning", "drop": "drop"})
    print(f"mean over {drops['seed'].nunique()} training seeds; each drop is against the same seed's base:")
    display(per.round(3))
    rows = ch.effects.extend(SB.finetune_kind_effects(lab_sb, kinds=kinds))
    display(pd.DataFrame(rows)[["metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
    for r in rows:
        word = "" if E.covers_zero(r) or not np.isfinite(r["ci_low"]) else ": " + E.direction_words(
            r, "this kind keeps more of base's shape bias than standard fine-tuning",
            "this kind loses more of base's shape bias than standard fine-tuning")
        chapter.finding("{m}: {words}{word}.", m=r["metric"], words=E.effect_words(r), word=word)
    return rows


def agreement(ch: chapter.Chapter) -> pd.DataFrame:
    """Whether the lab's direction of each factor agrees with the records'."""
    ag = ch.save(SB.lab_agreement(ch.effects.frame()), "lab_vs_records")
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
