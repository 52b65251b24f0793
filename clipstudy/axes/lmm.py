"""Chapter 09: an LMM against its own CLIP on a two-choice question (records, a lab mini-LLaVA, live LLaVA)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import chapter, plots
from ..analysis import effects as E
from ..analysis import multimodal
from ..lab import evaluate as lab_eval
from .core import Axis, display, register, show

AXIS = register(Axis("lmm", multimodal.AXIS, "09_lmm", smoke_note=(
    "This build uses the `smoke` profile: tiny lab models and a miniature LLaVA trained for seconds. Its numbers "
    "are pipeline checks only, not findings.")))
RECIPES = ["base", "arch-vit"]  # the recipes a mini-LLaVA is trained on
# base (the claim's evidence) gets one (CLIP, LMM) pair per training seed of the profile, so its gain over its
# CLIP has an interval over seeds; arch-vit one pair (seed 0), which keeps the build's cost
ALL_SEEDS = ("base",)


def seeds_of(recipe: str, profile: str) -> list[int]:
    """The training seeds whose (CLIP, LMM) pair this chapter trains for `recipe`."""
    return lab_eval.seeds(profile) if recipe in ALL_SEEDS else [0]
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

    pairs = ch.save(multimodal.lmm_encoder_pairs(R.shape_bias_table(R.load("vlm_shapebias"))), "records_lmm_vs_encoder")
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
    rec = E.effects_frame(ch.effects.extend(multimodal.records_lmm_effects(pairs)))
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

    details, results, meta = [], [], []
    pairs = [(r, sd) for r in RECIPES for sd in seeds_of(r, ch.lab_profile)]
    llava.train(pairs, ch.lab_profile, ch.device)  # the missing ones side by side (lab profile, CPU)
    for r, sd in pairs:
        lm = llava.load(r, ch.lab_profile, ch.device, seed=sd, progress=False)
        meta.append(dict(recipe=r, seed=sd, **{k: lm.meta.get(k) for k in ("params", "n_scenes", "n_instructions",
                                                                           "steps", "final_loss", "wall_s", "token_dim")}))
        for sets, n in ((("lab-val", "lab-sketch"), ch.n_eval), (("lab-factors",), ch.params.n_lmm_factor_scenes)):
            d, t = llava.evaluate(r, ch.lab_profile, sets, n=n, device=ch.device, llava=lm, progress=False)
            details.append(d.assign(recipe=r, seed=sd))
            results.append(t.assign(seed=sd))
    out = dict(details=pd.concat(details, ignore_index=True), results=pd.concat(results, ignore_index=True))
    ch.save(pd.DataFrame(meta), "lab_llava_training")
    ch.save(out["results"], "lab_comparison")
    # one row per question: what the claims page needs to choose hard categories on one half and score the other
    ch.save(out["details"][["recipe", "seed", "set", "group", "key", "label", "match", "clip_correct"]],
            "lab_questions")
    display(pd.DataFrame(meta))
    out["gains"] = ch.save(multimodal.gain_table(out["results"], "lab-llava", by=("recipe", "seed", "set", "group",
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
    for row in vs.to_dict("records"):
        chapter.finding("{r}, {p} lab-val and lab-sketch questions: mini-LLaVA {a:.3f} (on the {k:.0f} of {n:.0f} it "
                        "answered with one class), linear probe {b:.3f}; the LMM's gain over the probe on the questions "
                        "both answered: {w}.", r=row["recipe"], p="CLIP-wrong" if row["clip_full"] == "wrong" else "all",
                        a=row["acc_lmm"], k=row["n_answered"], n=row["n_questions"], b=row["acc_probe"],
                        w=E.effect_words(row))
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
    ch.effects.extend(multimodal.recipe_effects(g, factors, "acc_lmm",
                                                metric="LMM two-choice accuracy (lab-val and lab-sketch, all questions)"))
    ch.effects.extend(multimodal.recipe_effects(g, factors, "gain", metric="LMM − CLIP two-choice accuracy (all questions)"))


def live(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Real LLaVA checkpoints against their CLIP on ImageNet-D (LLaVA is outside the runner's grid: its own path)."""
    ready, missing = multimodal.live_panel(ch.params.live)
    if not ready:
        chapter.live_missing(missing)
        return None
    ld, lt = multimodal.live_lmm(ready, device=ch.device)
    ch.save(lt, "live_comparison")
    lg = pd.concat([multimodal.gain_table(lt[lt["checkpoint"] == c], c, by=("checkpoint", "clip_full"))
                    for c in ready], ignore_index=True)
    ch.save(lg, "live_gains")
    fig, ax = plots.bars(lg, "clip_full", "acc_lmm", hue="checkpoint", order=["right", "wrong", "all"],
                         figsize=(7, 3.6), rotate=0, ylim=(0, 1), legend="keep",
                         xlabel="CLIP's full-way prediction was", ylabel="LLaVA two-choice accuracy")
    ch.figure(fig, lg, "live_two_choice")
    show()
    lw = lg[lg["clip_full"] == "wrong"]
    chapter.finding("On ImageNet-D images their CLIP gets wrong, {n:.0f} LLaVA checkpoints answer the two-choice "
                    "question with mean accuracy {a:.3f}.", n=len(lw), a=float(lw["acc_lmm"].mean()))
    return lg
