"""Chapter 09: an LMM against its own CLIP on a two-choice question (records, a lab mini-LLaVA, live LLaVA)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import chapter, plots
from .. import effects as E
from ..effects import recipe_contrast
from ..lab import evaluate as lab_eval
from ..errors import ClipstudyError
from ..tasks import LMM
from . import evidence as ev
from .core import Axis, IdLookup, Outputs, Row, display, register, row, show
from .evidence import evidence

NAME = "LMM vs its CLIP"


# ---- tables over the two-choice comparisons of `clipstudy.lmm.compare` (or `clipstudy.lab.llava.evaluate`): gains,
# split by whether CLIP's full-way prediction was right -------------------------------------------------------
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
    return recipe_contrast(gains, factors, value, metric or f"{value} ({clip_full} questions)", NAME,
                           model_col="recipe", base=base, where=where, source=source)


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
    from ..effects import bootstrap_mean, effect

    rows = []

    def add(factor, res, metric, text):
        rows.append(effect(factor, NAME, metric, res["effect"], text, "records", n=res["n"],
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
    sh = discordant(questions)
    return paired_interval(sh["lmm_only"], sh["clip_only"], int(questions["match"].isin(["TRUE", "FALSE"]).sum()))


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


# ---- the runner axis: an LMM unit's stored answers -> rows ---------------------------------------------------
PARTS = ("right", "wrong", "all")  # the questions by whether the CLIP's full-way zero-shot prediction was right
METRICS = ("lmm_acc", "clip_acc", "gain", "lmm_answered", "lmm_both", "lmm_neither", "paired_gain", "lmm_only",
           "clip_only")


def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """Rows of one LMM unit (`llava:` on a labelled set): its stored questions and answers (`o.frame`) and its
    CLIP's stored zero-shot logits (`o.zs`, the head that chose the pairs), per part (the CLIP's full-way top-1
    right | wrong | all):
    lmm_acc (the LMM's two-choice accuracy, TRUE / (TRUE + FALSE); n = those answers; no row when none),
    clip_acc (the CLIP's two-choice accuracy on the same questions; n = questions), gain (lmm_acc - clip_acc;
    n = questions) and the shares of the LMM's answers naming exactly one class, both, or neither (n = questions);
    on the questions the LMM answered TRUE or FALSE (n = those): paired_gain (LMM minus CLIP, paired per image) and
    the discordant shares lmm_only (the LMM right, the CLIP wrong) and clip_only, from which the paired interval
    follows (`paired_interval`)."""
    from .. import lmm

    q = o.frame
    if q is None or "match" not in q.columns:
        raise ClipstudyError(f"{o.model} x {o.dataset}: no stored answers (an LMM unit's questions frame)")
    clip = lmm.clip_two_choice(q.drop(columns=["match"]), o.zs.logits)
    answered = q.drop(columns=[c for c in ("clip_correct",) if c in q.columns]).assign(
        clip_correct=clip["clip_correct"].to_numpy())
    g = gain_table(lmm.compare(answered, clip, lmm_name="lmm", clip_name="clip"), "lmm", by=("clip_full",))
    counts = lmm.compare(answered, clip, lmm_name="lmm").query("model == 'lmm'").set_index("clip_full")
    out = []
    for part in PARTS:
        if part not in counts.index:  # e.g. no image the CLIP got wrong
            continue
        c, r = counts.loc[part], g.set_index("clip_full").loc[part]
        n, scored = int(c["n"]), int(c["n_true"] + c["n_false"])
        if scored:
            out += [row(part, "lmm_acc", r["acc_lmm"], scored), row(part, "gain", r["gain"], n)]
        out += [row(part, "clip_acc", r["acc_clip"], n), row(part, "lmm_answered", scored / n, n),
                row(part, "lmm_both", c["n_both"] / n, n), row(part, "lmm_neither", c["n_neither"] / n, n)]
        if scored:
            qp = answered if part == "all" else answered[answered["clip_correct"].astype(bool) == (part == "right")]
            out += [row(part, k, v, scored) for k, v in discordant(qp).items()]
    return out


def discordant(questions: pd.DataFrame) -> dict[str, float]:
    """paired_gain, lmm_only and clip_only shares over the questions the LMM answered TRUE or FALSE (each image one
    pair: the LMM right or not, its CLIP right or not)."""
    q = questions[questions["match"].isin(["TRUE", "FALSE"])]
    if q.empty:
        return dict(paired_gain=np.nan, lmm_only=np.nan, clip_only=np.nan)
    lm, cl = (q["match"] == "TRUE").to_numpy(bool), q["clip_correct"].astype(bool).to_numpy()
    b, c = float((lm & ~cl).mean()), float((cl & ~lm).mean())
    return dict(paired_gain=b - c, lmm_only=b, clip_only=c)


def paired_interval(lmm_only: float, clip_only: float, n: int) -> tuple[float, float, int]:
    """(gain, its variance, n) from the discordant shares of n paired binary outcomes d in {-1, 0, 1}: the sample
    variance of d (ddof=1) over n, from the shares alone, so the runner's rows give the questions' own interval."""
    d = lmm_only - clip_only
    if n < 2:
        return (d if n else np.nan, np.nan, int(n))
    return float(d), float(max(lmm_only + clip_only - d * d, 0.0) / (n - 1)), int(n)


# ---- the axis and its chapter ------------------------------------------------------------------------------
AXIS = register(Axis("lmm", NAME, "09_lmm", live=("imagenet-d",), runner="lmm", tasks=(LMM,), evaluate=evaluate,
                     metrics=METRICS, smoke_note=(
    "This build uses the `smoke` profile: tiny lab models and a miniature LLaVA trained for seconds. Its numbers "
    "are pipeline checks only, not findings.")))
# one row per question of the mini-LLaVAs on the lab sets (`lab`): C4's lab evidence chooses the hard categories
# on one half of the images and scores the other; `match` is the LMM's verdict as text (TRUE, FALSE, BOTH, NEITHER)
LAB_QUESTIONS = AXIS.table("lab_questions", recipe="text", seed="int64", set="text", group="text", key="text",
                           label="int64", match="text", clip_correct="bool")
# the live LLaVAs against their CLIPs, one row per (checkpoint, dataset, prompts, clip_full) (`live`): C4's live
# evidence rebuilds each paired interval from the discordant shares
LIVE_GAINS = AXIS.table("live_gains", model="text", dataset="text", prompts="text", clip_full="text",
                        lmm_only="float64", clip_only="float64", n_scored="float64")
RECIPES = ["base", "arch-vit"]  # the recipes a mini-LLaVA is trained on
# base (the claim's evidence) gets one (CLIP, LMM) pair per training seed of the profile, so its gain over its
# CLIP has an interval over seeds; arch-vit one pair (seed 0), which keeps the build's cost
ALL_SEEDS = ("base",)


def seeds_of(recipe: str, profile: str) -> list[int]:
    """The training seeds whose (CLIP, LMM) pair this chapter trains for `recipe`."""
    return lab_eval.seeds(profile) if recipe in ALL_SEEDS else [0]


def lab_pairs(profile: str) -> list[tuple[str, int]]:
    """(recipe, seed) of every mini-LLaVA this chapter reads: the book trains them in its lab-zoo stage."""
    return [(r, sd) for r in RECIPES for sd in seeds_of(r, profile)]
WHY_NOT = "the miniature LLaVA is trained on base and arch-vit only (one LMM per recipe would multiply the build time)"
NOT_MEASURED = {"training distribution": WHY_NOT, "training-set size": WHY_NOT, "contrastive loss": WHY_NOT,
                "fine-tuning": "the fine-tuned lab model is a classifier with no text tower: the protocol compares an "
                               "LMM with its own CLIP's zero-shot choice",
                "test-time prompts": "the LMM is asked one fixed question; its CLIP uses the prompt ensemble",
                "architecture": "the LMM's two-choice accuracy is undefined for base or arch-vit in this build (no "
                                "answer named exactly one of the two classes)"}


def records(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Each LMM of the records paired with its vision encoder among the zero-shot CLIPs (None: no records)."""
    for f, why in NOT_MEASURED.items():
        ch.effects.not_measured(f, why)
    if not chapter.records_ready("vlm_shapebias"):  # else one "Records missing" notice naming the fetch command
        return None
    from .. import records as R

    pairs = ch.save(lmm_encoder_pairs(R.shape_bias_table(R.load("vlm_shapebias"))), "records_lmm_vs_encoder")
    towers = pairs.drop_duplicates("lmm")[["lmm", "encoder_label", "encoder_note"]].sort_values("lmm")
    display(towers.rename(columns={"encoder_label": "encoder (among the zero-shot CLIPs)",
                                    "encoder_note": "vision tower (source)"}).fillna("—"))
    return pairs


def records_effects(ch: chapter.Chapter, pairs: pd.DataFrame | None) -> None:
    """Shape bias of each LMM against its own CLIP (paired lines), the records' effects and findings."""
    if pairs is None:
        return
    long = pd.concat([pairs.dropna(subset=["sb_encoder"]).drop_duplicates("lmm").assign(
                          who="its CLIP (80 templates)", shape_bias=lambda d: d["sb_encoder"]),
                      pairs.assign(who=lambda d: "LMM, " + d["question"], shape_bias=lambda d: d["sb_lmm"])])
    long = long[long["lmm"].isin(pairs.dropna(subset=["sb_encoder"])["lmm"])]
    fig, ax = plots.paired_lines(long, "who", "shape_bias", "lmm", ["its CLIP (80 templates)", "LMM, vqa",
                                                                    "LMM, caption"],
                                 hue="family", ylabel="shape bias", title="LMMs against their own vision encoder",
                                 ylim=(0.3, 0.9))
    ch.figure(fig, long, "records_lmm_vs_encoder")
    show()
    rec = E.effects_frame(ch.effects.extend(records_lmm_effects(pairs)))
    display(rec[["factor", "metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
    for r in rec.to_dict("records"):
        chapter.finding("{comp}: {e:+.3f} ({ci}): {word}.", comp=r["comparison"], e=r["effect"],
                        ci=E.interval_text(r) or f"n={r['n']:.0f}, no interval",
                        word=E.direction_words(r, "the LMM is more shape-biased", "the LMM is less shape-biased"))
    unk = pairs[pairs["sb_encoder"].isna()]["lmm"].unique()
    print(f"{len(unk)} LMMs have no encoder among these CLIPs (listed above, not paired): {', '.join(unk)}")


def lab(ch: chapter.Chapter) -> dict:
    """Train (or load) a mini-LLaVA on each of RECIPES and ask it the two-choice question on lab-val,
    lab-sketch and lab-factors, beside its CLIP and a linear probe."""
    from ..lab import llava

    pairs = lab_pairs(ch.lab_profile)
    # trained in the book's lab-zoo stage; the missing ones (a chapter run alone) side by side here
    details, results, meta = llava.evaluate_pairs(pairs, ch.lab_profile, ch.device,
                                                  ((("lab-val", "lab-sketch"), ch.n_eval),
                                                   (("lab-factors",), ch.params.n_lmm_factor_scenes)),
                                                  precision=ch.precision)
    out = dict(details=details, results=results)
    ch.save(meta, "lab_llava_training")
    ch.save(out["results"], "lab_comparison")
    # one row per question: what the claims page needs to choose hard categories on one half and score the other
    ch.publish(LAB_QUESTIONS, out["details"][[c for c, _ in LAB_QUESTIONS.columns]])
    display(meta)
    out["gains"] = ch.save(gain_table(out["results"], "lab-llava", by=("recipe", "seed", "set", "group",
                                                                                  "clip_full")), "lab_gains")
    return out


def two_choice(ch: chapter.Chapter, lab: dict) -> None:
    """Two-choice accuracy of the mini-LLaVA, its CLIP and the probe, split by whether the CLIP was right."""
    from ..lab import llava

    main = lab["results"][lab["results"]["group"] == "all"]
    names = {"lab-llava": "mini-LLaVA", "clip": "its CLIP", llava.PROBE_NAME: "linear probe"}
    fig = plots.two_choice_panels(main.assign(who=main["model"].map(names)), RECIPES)
    ch.figure(fig, main, "lab_two_choice")
    show()
    display(lab["gains"][lab["gains"]["group"] == "all"].round(3))


def _mean(x: pd.Series) -> float:
    x = x.dropna()
    return float(x.mean()) if len(x) else float("nan")


def answers(ch: chapter.Chapter, lab: dict) -> None:
    """How the mini-LLaVA answered (TRUE / FALSE / BOTH / NEITHER), examples, and base's headline finding."""
    main = lab["results"][lab["results"]["group"] == "all"]
    counts = main[main["model"] == "lab-llava"][["recipe", "set", "clip_full", "n", "n_true", "n_false", "n_both",
                                                 "n_neither"]]
    display(ch.save(counts, "lab_answer_counts"))
    display(lab["details"].groupby(["recipe", "match"], as_index=False).head(2)[
        ["recipe", "set", "true", "other", "answer", "match", "clip_correct"]])
    gains = lab["gains"]
    b = gains[(gains["recipe"] == "base") & (gains["group"] == "all")]
    wrong, right = b[b["clip_full"] == "wrong"], b[b["clip_full"] == "right"]
    allq = main[(main["recipe"] == "base") & (main["model"] == "lab-llava") & (main["clip_full"] == "all")]
    answered = float((allq["n_true"] + allq["n_false"]).sum() / max(1, allq["n"].sum()))
    if answered > 0:
        chapter.finding("On the images its CLIP got wrong, the base mini-LLaVA's two-choice accuracy is {w:.3f} (its "
                        "CLIP: {wc:.3f} by construction); where the CLIP was right it is {r:.3f} against the CLIP's "
                        "{rc:.3f}. It named exactly one of the two classes in {a:.3f} of its answers.",
                        w=_mean(wrong["acc_lmm"]), wc=_mean(wrong["acc_clip"]), r=_mean(right["acc_lmm"]),
                        rc=_mean(right["acc_clip"]), a=answered)
    else:
        chapter.notice("No scorable answers", "The base mini-LLaVA named neither (or both) of the two classes in every "
                       "answer of this build, so its two-choice accuracy is undefined; the counts above show this.")


def versus_probe(ch: chapter.Chapter, lab: dict) -> pd.DataFrame:
    """The mini-LLaVA against a linear probe on the same features, on the questions both answered."""
    details, rows = lab["details"], []
    for r in RECIPES:
        q = details[(details["recipe"] == r) & details["set"].isin(["lab-val", "lab-sketch"])]
        for part, sel in (("all", np.ones(len(q), bool)), ("wrong", ~q["clip_correct"].to_numpy(bool))):
            s = q[sel]
            answered = s["match"].isin(["TRUE", "FALSE"]).to_numpy()  # the probe always names one of the two
            lmm_hit = (s["match"] == "TRUE").to_numpy(float)
            probe_hit = (s["probe_match"] == "TRUE").to_numpy(float)
            res = E.bootstrap_mean(lmm_hit[answered] - probe_hit[answered])
            rows.append(dict(recipe=r, clip_full=part, n_questions=len(s), n_answered=int(answered.sum()),
                             acc_lmm=float(lmm_hit[answered].mean()) if answered.any() else np.nan,
                             acc_probe=float(probe_hit.mean()) if len(s) else np.nan, **res))
    vs = ch.save(pd.DataFrame(rows), "lab_llava_vs_probe")
    display(vs.round(3))
    for rec in vs.to_dict("records"):
        chapter.finding("{r}, {p} lab-val and lab-sketch questions: mini-LLaVA {a:.3f} (on the {k:.0f} of {n:.0f} it "
                        "answered with one class), linear probe {b:.3f}; the LMM's gain over the probe on the questions "
                        "both answered: {w}.", r=rec["recipe"], p="CLIP-wrong" if rec["clip_full"] == "wrong" else "all",
                        a=rec["acc_lmm"], k=rec["n_answered"], n=rec["n_questions"], b=rec["acc_probe"],
                        w=E.effect_words(rec))
    return vs


def factor_gains(ch: chapter.Chapter, lab: dict) -> None:
    """The LMM's gain over its CLIP per out-of-range factor on lab-factors."""
    gains = lab["gains"]
    fg = ch.save(gains[(gains["set"] == "lab-factors") & (gains["clip_full"] == "all") & (gains["group"] != "all")],
                 "lab_factor_gains")
    if not (len(fg) and fg["gain"].notna().any()):
        chapter.notice("No factor gains", "No lab-factors question got a TRUE or FALSE answer from both models in this "
                       "build, so no per-factor gain is defined (see the NEITHER counts above).")
        return
    fig, ax = plots.bars(fg, "group", "gain", hue="recipe", ref=0, ref_style="-", figsize=(9, 3.6), rotate=30,
                         ha=None, legend="keep", xlabel="factor pushed out of range ('none' = control)",
                         ylabel="accuracy gain, LMM − CLIP", title="Two-choice gain of the mini-LLaVA over its CLIP")
    ch.figure(fig, fg, "lab_factor_gains")
    show()
    fb = fg[fg["recipe"] == "base"].dropna(subset=["gain"])
    if len(fb):
        top = fb.groupby("group", as_index=False)["gain"].mean().sort_values("gain")  # mean over seeds
        chapter.finding("For base, the LMM's gain over its CLIP ranges from {lo:+.3f} ({flo}) to {hi:+.3f} ({fhi}).",
                        lo=top["gain"].iloc[0], flo=top["group"].iloc[0], hi=top["gain"].iloc[-1],
                        fhi=top["group"].iloc[-1])


def lab_effects(ch: chapter.Chapter, lab: dict) -> None:
    """The architecture contrast of the LMM's accuracy and of its gain over its CLIP."""
    gains = lab["gains"]
    g = gains[gains["set"].isin(["lab-val", "lab-sketch"]) & (gains["group"] == "all")]
    factors = {r: f for r, f in lab_eval.recipe_factors().items() if r in RECIPES}
    ch.effects.extend(recipe_effects(g, factors, "acc_lmm",
                                                metric="LMM two-choice accuracy (lab-val and lab-sketch, all questions)"))
    ch.effects.extend(recipe_effects(g, factors, "gain", metric="LMM − CLIP two-choice accuracy (all questions)"))


def live(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Real LLaVA checkpoints against their CLIP on ImageNet-D: the `lmm` rows of the runner's live results table
    (`clipstudy run --models llava:NAME --datasets imagenet-d --axes lmm`; nothing is loaded or encoded here)."""
    t = ch.live()
    if t is None:
        return None
    ch.pipeline_notice()
    lg = t.pivot_table(index=["model", "dataset", "prompts", "part"], columns="metric", values="value",
                       aggfunc="first").reset_index()
    idx = ["model", "dataset", "prompts", "part"]
    lg = lg.join(t[t["metric"] == "clip_acc"].set_index(idx)["n"].rename("n"), on=idx)
    # the questions the LMM answered TRUE or FALSE: the paired gain's n
    lg = lg.join(t[t["metric"] == "paired_gain"].set_index(idx)["n"].rename("n_scored"), on=idx)
    lg = lg.rename(columns={"part": "clip_full", "lmm_acc": "acc_lmm", "clip_acc": "acc_clip"})
    lg.insert(0, "checkpoint", lg["model"].str.removeprefix("llava:").str.split("@").str[0])
    for c in ("acc_lmm", "acc_clip", "gain", "paired_gain", "lmm_only", "clip_only"):
        if c not in lg.columns:
            lg[c] = np.nan
    lg = ch.publish(LIVE_GAINS, lg)
    fig, ax = plots.bars(lg, "clip_full", "acc_lmm", hue="checkpoint", order=["right", "wrong", "all"],
                         figsize=(7, 3.6), rotate=0, ylim=(0, 1), legend="keep",
                         xlabel="CLIP's full-way prediction was", ylabel="LLaVA two-choice accuracy")
    ch.figure(fig, lg, "live_two_choice")
    show()
    lw = lg[lg["clip_full"] == "wrong"].dropna(subset=["acc_lmm"])
    if len(lw):
        ch.live_finding("On ImageNet-D images their CLIP gets wrong, {n:.0f} LLaVA checkpoints answer the two-choice "
                        "question with mean accuracy {a:.3f}.", n=len(lw), a=float(lw["acc_lmm"].mean()))
    else:
        chapter.notice("No scorable answers", "No LLaVA checkpoint of the live table named exactly one of the two "
                       "classes on an image its CLIP got wrong, so their two-choice accuracy there is undefined.")
    return lg


# ---- the paper's claims on this axis ---------------------------------------------------------------

def lab_lmm_gain(questions: pd.DataFrame, recipe: str = "base") -> dict:
    """C4's secondary lab effect: the mini-LLaVA minus its CLIP over all its TRUE/FALSE answers, paired per image
    (`paired_gain`), mean over training seeds with the seed x image interval (`seeds_gain`)."""
    q = questions[(questions["recipe"] == recipe) & (questions["group"] == "all")]
    return seeds_gain([paired_gain(g) for _, g in q.groupby("seed")])


def live_lmm_gain(table: pd.DataFrame | None) -> dict | None:
    """C4's live effect: each LLaVA checkpoint minus its CLIP over all its TRUE/FALSE answers, paired per image,
    from the runner's discordant shares (`paired_interval`); the mean over checkpoints, with the between-checkpoint
    and the image variance (`seeds_gain`, checkpoints in the place of seeds). A checkpoint asked under several
    prompt sets (one set of questions per CLIP head) counts once, under the first set by name: the sets share its
    images, so they are not independent checkpoints."""
    if table is None or not {"model", "clip_full", "lmm_only", "clip_only", "n_scored"} <= set(table.columns):
        return None
    a = table[table["clip_full"] == "all"].dropna(subset=["lmm_only", "clip_only", "n_scored"])
    if "prompts" in a.columns:
        a = a.sort_values("prompts", kind="stable").drop_duplicates("model")
    if a.empty:
        return None
    res = seeds_gain([paired_interval(r.lmm_only, r.clip_only, int(r.n_scored)) for r in a.itertuples()])
    res["checkpoints"] = res.pop("seeds")
    return res


def hard_category_gain(questions: pd.DataFrame, recipe: str = "base") -> dict:
    """C4's primary lab effect: per training seed, the hard categories are chosen on one half of the images and the
    LMM is scored against its CLIP on the other half (two folds, `hard_category_split`); the mean over seeds with
    the seed x image interval (`seeds_gain`)."""
    q = questions[(questions["recipe"] == recipe) & (questions["group"] == "all")]
    return seeds_gain([paired_gain(hard_category_split(g)) for _, g in q.groupby("seed")])


@evidence("C4")
def c4(results, records_root=None) -> list[dict]:
    """C4: the LMM minus its own CLIP on hard categories (lab: cross-fitted over the mini-LLaVA's images; live: the
    real LLaVAs on ImageNet-D)."""
    out = [ev.row("records", "", note="the records hold LMM decisions on cue-conflict (shape bias, chapter 09), not "
                                      "accuracy on hard categories")]
    q = LAB_QUESTIONS.read(results)
    if q is not None:
        res = hard_category_gain(q)
        if not res["seeds"]:
            res["note"] = "the mini-LLaVA named exactly one of the two classes in none of its answers: no gain is defined"
        out.append(ev.result_row("lab", f"two-choice accuracy, the mini-LLaVA minus its CLIP on the third of the classes "
                                        f"where the CLIP is weakest, chosen on the other half of the images "
                                        f"({res['seeds']} seeds)", res, unit="seeds x images"))
        sec = lab_lmm_gain(q)
        if sec["seeds"]:
            out.append(ev.result_row("lab", f"two-choice accuracy, the mini-LLaVA minus its CLIP, all its TRUE/FALSE "
                                            f"answers (paired over images; {sec['seeds']} seeds)", sec,
                                     role="secondary", unit="seeds x images" if sec["seeds"] > 1 else "images"))
    else:
        out.append(ev.row("lab", "", note="chapter 09 wrote no per-question lab table"))
    live = live_lmm_gain(LIVE_GAINS.read(results))
    if live:
        k = live["checkpoints"]
        out.append(ev.result_row("live", f"two-choice accuracy, LLaVA minus its own CLIP on ImageNet-D, all its "
                                         f"TRUE/FALSE answers (paired over images; {k} checkpoint(s))", live,
                                 unit="checkpoints x images" if k > 1 else "images"))
    else:
        out.append(ev.row("live", "", note="no live LLaVA and ImageNet-D in this build"))
    return out
