"""Chapter 06: telling ImageNet (or lab-val) apart from OOD images, with every registered OOD score.

The scores come from `clipstudy.metrics.ood.SCORES`: a score registered there (one function) appears in
every table and figure of this chapter. The headline contrast reads `HEADLINE` (MCM), or `FALLBACK`
(MSP) for a classifier, which has no image-text cosines.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import chapter, plots
from .. import effects as E
from ..effects import effect, effects_frame, seed_image_effect
from ..errors import UnknownNameError
from ..lab import evaluate as lab_eval
from ..metrics import ood_metrics, ood_scores
from ..metrics.ood import SCORES
from . import evidence as ev
from .core import IdLookup, Outputs, Row, row, Axis, FACTORS, display, register, show
from .evidence import evidence

NAME = "OOD detection"


# ---- tables over zero-shot outputs ---------------------------------------------------------------------
# Convention (as in `clipstudy.metrics.ood`): higher score = more in-distribution; ID is the positive class.
# MSP, MaxLogit and Energy read the logits (logit_scale * cosine); MCM reads the raw cosines. A classifier (a
# fine-tuned model) has logits but no image-text cosines, so its MCM cell is left out, never estimated.
def detection_table(id_logits: Any, ood_logits: Any, ood_groups: Sequence[str], *, id_cosine: Any = None,
                    ood_cosine: Any = None, id_features: Any = None, ood_features: Any = None,
                    methods: Sequence[str] | None = None, overall: str | None = "all") -> pd.DataFrame:
    """AUROC, AUPR-in, AUPR-out and FPR@95%TPR of every registered score against every OOD group.

    id_logits [N_id, C], ood_logits [N_ood, C]; ood_groups [N_ood] names each OOD image's group (e.g.
    near / far). Each score reads the input it declares (`metrics.ood.SCORES`): cosines (MCM) and image
    features are optional, and a score whose input is not given is skipped, never estimated. `methods`
    restricts the scores (default: every registered one). `overall` adds a row over all OOD images pooled
    (None: no pooled row). Columns: method, ood, auroc, aupr_in, aupr_out, fpr95, n_id, n_ood.
    """
    groups = np.asarray(list(ood_groups), dtype=object)
    n_ood = len(np.asarray(ood_logits))
    if len(groups) != n_ood:
        raise ValueError(f"ood_groups has {len(groups)} entries but ood_logits has {n_ood} rows")
    inputs = {"logits": (id_logits, ood_logits)}
    for name, (a, b) in (("cosine", (id_cosine, ood_cosine)), ("features", (id_features, ood_features))):
        if (a is None) != (b is None):
            raise ValueError(f"give both id_{name} and ood_{name} (a score reading {name} needs them for ID and OOD "
                             "images), or neither")
        if a is not None:
            inputs[name] = (a, b)
    names = list(dict.fromkeys(groups.tolist()))
    if overall is not None and len(names) > 1:
        names.append(overall)
    rows = []
    for m in (SCORES if methods is None else methods):
        if m not in SCORES:
            raise UnknownNameError("OOD score method", m, list(SCORES))
        if SCORES[m].input not in inputs:
            continue
        x_id, x_ood = inputs[SCORES[m].input]
        s_id, s_ood = ood_scores(x_id, m), ood_scores(x_ood, m)
        for g in names:
            sel = np.ones(n_ood, bool) if g == overall and g not in set(groups) else groups == g
            rows.append(dict(method=m, ood=g, **ood_metrics(s_id, s_ood[sel]), n_id=len(s_id),
                             n_ood=int(sel.sum())))
    return pd.DataFrame(rows, columns=["method", "ood", "auroc", "aupr_in", "aupr_out", "fpr95", "n_id", "n_ood"])


def near_far_gap(table: pd.DataFrame, metric: str = "auroc", by: Sequence[str] = ("model", "seed", "method"),
                 near: str = "near", far: str = "far") -> pd.DataFrame:
    """far minus near of `metric` per group of `by` (positive AUROC gap: far OOD is easier to tell apart)."""
    by = [b for b in by if b in table.columns]
    w = table[table["ood"].isin([near, far])].pivot_table(index=by, columns="ood", values=metric, aggfunc="first")
    if near not in w or far not in w:
        raise ValueError(f"table needs rows for both '{near}' and '{far}' OOD groups, has {sorted(table['ood'].unique())}")
    out = w.reset_index()
    out["gap"] = out[far] - out[near]
    return out.rename(columns={near: f"{metric}_{near}", far: f"{metric}_{far}"})


def prompt_effect(table: pd.DataFrame, metric: str = "auroc", single: str = "single",
                  ensemble: str = "ensemble", by: Sequence[str] = ("model", "seed", "method", "ood")) -> pd.DataFrame:
    """ensemble minus single-template `metric` per (model, method, ood); needs a `prompts` column."""
    by = [b for b in by if b in table.columns]
    t = table[table["prompts"].isin([single, ensemble])]
    w = t.pivot_table(index=by, columns="prompts", values=metric, aggfunc="first").dropna()
    if single not in w or ensemble not in w:
        raise ValueError(f"table needs both prompt sets '{single}' and '{ensemble}', has {sorted(t['prompts'].unique())}")
    out = w.reset_index()
    out["effect"] = out[ensemble] - out[single]
    return out


def recipe_effects(table: pd.DataFrame, factors: Mapping[str, str], *, base: str = "base", metric: str = "auroc",
                   method: str = "mcm", ood: str = "all", axis: str = NAME, source: str = "lab",
                   fallback_method: str = "msp") -> pd.DataFrame:
    """Effects table: `metric` of each recipe minus the base recipe, for one score method and OOD group.

    factors maps recipe -> factor name (recipes absent from it are skipped). A recipe without the method
    (a classifier has no MCM) is compared on `fallback_method` for both sides, and the comparison says so.
    """
    t = table[table["ood"] == ood]
    rows = []
    for recipe, factor in factors.items():
        if recipe == base or recipe not in set(t["model"]):
            continue
        m = method if ((t["model"] == recipe) & (t["method"] == method)).any() else fallback_method

        def val(r):  # one value per training seed
            v = t.loc[(t["model"] == r) & (t["method"] == m)]
            return (v.groupby("seed")[metric].mean() if "seed" in v.columns else v[metric].iloc[:1]).to_numpy(float)

        b, x = val(base), val(recipe)
        if not len(b) or not len(x) or np.isnan(b).all() or np.isnan(x).all():
            continue
        e = seed_image_effect(x, b)  # interval over seeds (NaN with one seed)
        rows.append(effect(factor, axis, f"{metric} ({m}, {ood} OOD)", e["effect"], f"{recipe} vs {base}", source,
                           n=e["n"] if len(x) > 1 else None, ci=(e["ci_low"], e["ci_high"])))
    return effects_frame(rows)


def _zs_table(zs_id: Any, zs_ood: Any, groups: Sequence[str]) -> pd.DataFrame:
    """detection_table of two ZeroShot results (same model and head): every registered score, cosine scores
    only where cosines exist (zero-shot heads), feature scores on the image embeddings."""
    cos = zs_id.head is not None
    return detection_table(zs_id.logits.numpy(), zs_ood.logits.numpy(), groups,
                           id_cosine=zs_id.cosine.numpy() if cos else None,
                           ood_cosine=zs_ood.cosine.numpy() if cos else None,
                           id_features=zs_id.encoded.features.float().numpy(),
                           ood_features=zs_ood.encoded.features.float().numpy())


def detection_frame(outs: pd.DataFrame, groups: Sequence[str], id_set: str = "lab-val",
                    ood_set: str = "lab-ood") -> pd.DataFrame:
    """`detection_table` of every row of `lab_eval.outputs_frame` (recipe, seed, prompt set) with `id_set` (ID)
    against `ood_set` (OOD images named by `groups`), as one tidy frame.

    Columns: model, seed, classifier, prompts, method, ood (near | far | all), auroc, aupr_in, aupr_out, fpr95,
    n_id, n_ood, id_acc (top-1 on the ID set).
    """
    parts = []
    for o in outs.to_dict("records"):
        zi, zo = o[id_set], o[ood_set]
        t = _zs_table(zi, zo, groups)
        for col in ("prompts", "classifier", "seed", "model"):
            t.insert(0, col, o[col])
        t["id_acc"] = zi.accuracy()
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


# ---- the axis and its chapter ------------------------------------------------------------------------------

def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """AUROC, AUPR-in/out and FPR@95%TPR of every registered score against the ID set: logit scores (MSP,
    MaxLogit, Energy), cosine scores for CLIPs (MCM) and scores on the image features (both sets' stored
    embeddings), as the lab path (`_zs_table`) reads them."""
    ref = id_of(o)
    if ref is None:
        return []
    groups = o.frame["ood"].astype(str).tolist() if o.frame is not None and "ood" in o.frame.columns \
        else ["all"] * len(o.zs.labels)
    cos = o.zs.head is not None and ref.zs.head is not None
    t = detection_table(ref.zs.logits.float().numpy(), o.zs.logits.float().numpy(), groups,
                        id_cosine=ref.zs.cosine.float().numpy() if cos else None,
                        ood_cosine=o.zs.cosine.float().numpy() if cos else None,
                        id_features=ref.zs.encoded.features.float().numpy(),
                        ood_features=o.zs.encoded.features.float().numpy())
    return [row(f"{r.method}/{r.ood}", m, getattr(r, m), r.n_ood) for r in t.itertuples()
            for m in ("auroc", "aupr_in", "aupr_out", "fpr95")]


AXIS = register(Axis("ood", NAME, "06_ood_detection",
                     live=("imagenet", "inaturalist", "sun", "places", "textures", "ninco", "imagenet-o"),
                     lab=("lab-val", "lab-ood"),
                     runner="ood", tasks=("ood",), evaluate=evaluate, id_set=True, metrics=("auroc", "aupr_in", "aupr_out", "fpr95"),
                     version=2))  # 2: feature scores read the stored image features
HEADLINE, FALLBACK = "mcm", "msp"
ID_SET = "imagenet"
LAB_PROMPTS = ("ensemble", "classifier head")  # the chapter's main prompt set (a classifier has its own head)


# every recipe, seed, prompt set, score and OOD group against lab-val (`detection_frame`): C8's and C13's lab evidence
LAB_DETECTION = AXIS.table("lab_detection", model="text", seed="int64", classifier="bool", prompts="text",
                           method="text", ood="text", auroc="float64", id_acc="float64")
COOD = "cood_benchmarking"  # Galil et al. 2023: class-OOD AUROC per real model
RECORDS_WHY_NOT = {  # factors the OOD records do not contrast (cood_benchmarking's CLIPs are OpenAI's only)
    "architecture": "not contrasted in the records: cood_benchmarking's 9 zero-shot CLIPs mix ResNets and ViTs of "
                    "different sizes, with no matched pairs",
    "training distribution": "the OOD records hold one CLIP training source (OpenAI's); C8 below is a correlation "
                             "within it, not a contrast of sources",
    "training-set size": "the OOD records hold one CLIP training set (OpenAI's WIT-400M)",
    "fine-tuning": "records missing: run `clipstudy fetch records` (cood_benchmarking has 7 fine-tuned CLIPs)",
    "contrastive loss": "the OOD records' CLIPs all use the CLIP loss",
    "test-time prompts": "the OOD records give one prompt set per CLIP",
}


def records(ch: chapter.Chapter) -> pd.DataFrame | None:
    """The records score ImageNet-O as classification only: its accuracy against ImageNet accuracy."""
    for f in FACTORS:
        ch.effects.not_measured(f, RECORDS_WHY_NOT.get(f, "not contrasted in the records; see the lab rows"))
    if not chapter.records_ready():  # else one "Records missing" notice
        return None
    from scipy import stats

    from .. import records as R

    oc = R.load("open_clip")
    io = oc[(oc["metric"] == "acc1") & oc["dataset"].isin(["imagenet", "imagenet-o"])].pivot_table(
        index=["model", "family", "loss"], columns="dataset", values="value", aggfunc="first").dropna().reset_index()
    fig = plots.scatter(io, "imagenet", "imagenet-o", hue="family", style="loss",
                        xlabel="ImageNet zero-shot top-1 (fraction)", ylabel="ImageNet-O zero-shot top-1 (fraction)",
                        title="Records: ImageNet-O is scored as classification")
    ch.figure(fig, io, "records_imagenet_o_accuracy")
    show()
    rho = stats.spearmanr(io["imagenet"], io["imagenet-o"]).statistic
    chapter.finding("Over {n:.0f} open_clip models, ImageNet-O classification accuracy follows ImageNet accuracy "
                    "with Spearman rho {rho:.3f}; that table gives no detection score (the cood_benchmarking records "
                    "below do).",
                    n=len(io), rho=rho)
    return io


def records_cood(ch: chapter.Chapter) -> pd.DataFrame | None:
    """Class-OOD detection of real models (Galil et al. 2023): AUROC against ImageNet accuracy, zero-shot and
    fine-tuned CLIPs against the ImageNet models' trend at matched accuracy; None after one notice if missing."""
    if not chapter.records_ready(COOD):  # else one "Records missing" notice naming the fetch command
        return None
    from .. import records as R

    c = R.load(COOD)
    pts = ch.save(R.cood_points(c), "records_cood_points")
    chance = sorted(pts.loc[pts["at_chance"], "model"])
    print(f"{pts['model'].nunique()} models scored with the softmax confidence; left out of every fit and figure "
          f"(at chance ImageNet accuracy, a failed evaluation): {', '.join(chance) or 'none'}")
    fig = plots.cood_auroc(pts)
    ch.figure(fig, pts, "records_cood_auroc")
    show()
    cols = ["model", "group", "parent", "id_acc", "ood_auroc", "auroc_trend", "auroc_residual"]
    clips = pts[pts["group"] != R.IMAGENET].sort_values(["group", "id_acc"], ascending=[False, True])[cols]
    display(ch.save(clips.reset_index(drop=True), "records_cood_clips").round(3))
    zs, ft = R.auroc_vs_imagenet(c, R.ZS_CLIP), R.auroc_vs_imagenet(c, R.CLIP_FT)
    ch.save(pd.DataFrame([dict(group=R.ZS_CLIP, **zs), dict(group=R.CLIP_FT, **ft)]), "records_cood_matched")
    chapter.finding("At matched ImageNet accuracy (positive: better detection than the ImageNet models' linear trend "
                    "predicts), the class-OOD AUROC of the {n} zero-shot CLIPs differs from it by {z}; that of the {m} "
                    "fine-tuned CLIPs by {f}.", n=zs["n"], z=E.effect_words(zs), m=ft["n"], f=E.effect_words(ft))
    return c


def records_claims(ch: chapter.Chapter, c: pd.DataFrame | None) -> pd.DataFrame | None:
    """C8 (accuracy tracks AUROC among the zero-shot CLIPs; every confidence function as secondary) and C13
    (fine-tuning beyond the zero-shot trend) from the records, and the records' fine-tuning effect."""
    if c is None:
        return None
    from .. import records as R

    cl = ch.save(pd.DataFrame([dict(id="C8", **R.c8_records(c)), dict(id="C13", **R.c13_records(c))]),
                 "records_c8_c13")
    display(cl[["id", "effect", "n", "unit", "ci_low", "ci_high", "measured"]].round(3))
    sec = ch.save(R.c8_secondary(c), "records_c8_secondary")
    display(sec[["confidence", "primary", "effect", "n", "ci_low", "ci_high", "note"]].round(3))
    c8, c13 = (cl.set_index("id").loc[i].to_dict() for i in ("C8", "C13"))
    others = sec[~sec["primary"] & sec["effect"].notna()]
    chapter.finding("Among the {n} OpenAI zero-shot CLIPs, ImageNet accuracy and class-OOD AUROC (softmax, mean of 11 "
                    "severity levels) have Spearman rho {w}; with the other confidence functions rho is {lo:.3f} to "
                    "{hi:.3f} ({k} functions).", n=c8["n"], w=E.effect_words(c8), lo=float(others["effect"].min()),
                    hi=float(others["effect"].max()), k=len(others))
    pairs = ch.save(R.c13_pairs(c), "records_c13_pairs")
    chapter.finding("Fine-tuning on ImageNet changes AUROC by {raw:+.3f} on average over {n} CLIPs, while the zero-shot "
                    "CLIPs' trend predicts {pred:+.3f} for the same accuracy gains: beyond the trend, {w} ({d}).",
                    raw=float(pairs["d_auroc"].mean()), n=c13["n"], pred=float(pairs["predicted"].mean()),
                    w=E.effect_words(c13), d=E.direction_words(c13, "more than predicted", "less than predicted"))
    ch.effects.add("fine-tuning", "class-OOD AUROC beyond the zero-shot accuracy trend (softmax, severity mean)",
                   c13["effect"], "CLIP fine-tuned on ImageNet vs its zero-shot parent (cood_benchmarking)",
                   "records", n=c13["n"], ci=(c13["ci_low"], c13["ci_high"]))
    return cl


def lab_examples(ch: chapter.Chapter) -> None:
    """Four lab-ood images of each kind: held-out shapes (near), textures and noise (far)."""
    ls = lab_eval.labset("lab-ood", ch.n_eval, ch.lab_profile)
    kinds = ls.factors["kind"].to_numpy()
    pick = [int(i) for k in ("held_out_shape", "texture", "noise") for i in np.flatnonzero(kinds == k)[:4]]
    fig, _ = plots.image_grid(ls.images[pick], [("near: " if kinds[i] == "held_out_shape" else "far: ") + kinds[i]
                                                for i in pick], ncols=6, size=1.3)
    ch.figure(fig, ls.factors.iloc[pick].reset_index(drop=True), "lab_ood_examples")
    show()


def lab_detection(ch: chapter.Chapter) -> pd.DataFrame:
    """Every recipe, seed and prompt set: lab-val (ID) against lab-ood near, far and pooled, every score."""
    outs = lab_eval.outputs_frame(list(lab_eval.recipes(ch.lab_profile)["recipe"]), ["lab-val", "lab-ood"],
                                  n=ch.n_eval, profile=ch.lab_profile, device=ch.device, prompts=("single", "ensemble"),
                                  seeds_=lab_eval.seeds(ch.lab_profile), precision=ch.precision)
    groups = lab_eval.labset("lab-ood", ch.n_eval, ch.lab_profile).factors["ood"].tolist()
    det = detection_frame(outs, groups)
    det = ch.publish(LAB_DETECTION, det)
    display(det[(det["model"] == "base") & (det["prompts"] == "ensemble")]
             .pivot_table(index="method", columns="ood", values=["auroc", "fpr95"]).round(3))
    return det


def lab_base(ch: chapter.Chapter, det: pd.DataFrame) -> None:
    """base's AUROC and FPR95 per score, near and far; the near/far gap of the headline score."""
    base = det[(det["model"] == "base") & (det["prompts"] == "ensemble") & (det["ood"] != "all")]
    fig = plots.metric_pair(base, "method", "ood", [("auroc", "AUROC (0.5 = chance)", "base: AUROC", 0.5),
                                                    ("fpr95", "FPR at 95% TPR (lower is better)", "base: FPR95", None)],
                            xlabel="score", figsize=(9, 3.6))
    ch.figure(fig, base, "lab_base_scores")
    show()
    gap = ch.save(near_far_gap(det[det["prompts"].isin(LAB_PROMPTS)]), "lab_near_far_gap")
    g_base = gap[(gap["model"] == "base") & (gap["method"] == HEADLINE)]["gap"]
    if len(g_base):
        chapter.finding("For the base recipe with MCM (mean over {k} seeds), far OOD has AUROC {g:+.3f} relative to near "
                        "OOD: held-out shapes are {word} to tell apart than texture and noise images.", k=len(g_base),
                        g=float(g_base.mean()), word=chapter.direction(float(g_base.mean()), "harder", "easier",
                                                                       "as hard"))


def lab_recipes(ch: chapter.Chapter, det: pd.DataFrame) -> None:
    """AUROC and FPR95 per recipe on the headline score (the fallback for classifiers), and their effects."""
    recipes = list(lab_eval.recipes(ch.lab_profile)["recipe"])
    per = det[det["prompts"].isin(LAB_PROMPTS) & (det["ood"] != "all")]
    one = pd.concat([per[per["method"] == HEADLINE], per[per["classifier"] & (per["method"] == FALLBACK)]],
                    ignore_index=True)
    one["score"] = np.where(one["classifier"], "MSP (classifier)", "MCM")
    order = [r for r in recipes if r in set(one["model"])]
    fig = plots.metric_pair(one, "model", "ood", [("auroc", "AUROC (0.5 = chance)",
                                                   "AUROC per recipe (MCM; MSP for finetuned)", 0.5),
                                                  ("fpr95", "FPR95 (lower is better)", "FPR95 per recipe", None)],
                            order=order, figsize=(11, 3.8), rotate=45, legend_title="OOD")
    ch.figure(fig, one, "lab_recipes")
    show()
    ch.effects.extend(recipe_effects(det[det["prompts"].isin(LAB_PROMPTS)], lab_eval.recipe_factors(),
                                         method=HEADLINE, fallback_method=FALLBACK))


def lab_prompts(ch: chapter.Chapter, det: pd.DataFrame) -> pd.DataFrame:
    """The prompt ensemble's effect on AUROC per recipe and score, and base's headline prompt effect."""
    recipes = list(lab_eval.recipes(ch.lab_profile)["recipe"])
    pe = ch.save(prompt_effect(det[~det["classifier"]]), "lab_prompt_effect")
    shown = pe[pe["ood"] != "all"]
    fig, ax = plots.bars(shown, "model", "effect", hue="method", order=[r for r in recipes if r in set(pe["model"])],
                         ref=0, ref_style="-", figsize=(9, 3.6), rotate=45, legend="keep",
                         ylabel="AUROC, ensemble − single template", title="Prompt ensemble effect (near and far pooled)")
    ch.figure(fig, shown, "lab_prompt_effect")
    show()
    head = pe[(pe["method"] == HEADLINE) & (pe["ood"] == "all")]
    if (head["model"] == "base").any():
        sel = (det["model"] == "base") & (det["method"] == HEADLINE) & (det["ood"] == "all")
        ens, single = (det[sel & (det["prompts"] == p)].sort_values("seed")["auroc"] for p in ("ensemble", "single"))
        row = ch.effects.prompts(f"auroc ({HEADLINE}, all OOD)", ens, single,
                                 comparison="8-template ensemble vs 1 template (base)")
        per_recipe = head.groupby("model")["effect"].mean()
        chapter.finding("For the base recipe, the prompt ensemble's effect on MCM AUROC: {w}. Across {n:.0f} "
                        "contrastive recipes the change (mean over seeds) averages {m:+.3f} and is positive for {k:.0f} "
                        "of them.", w=E.effect_words(row), n=len(per_recipe), m=float(per_recipe.mean()),
                        k=int((per_recipe > 0).sum()))
    return pe


def live(ch: chapter.Chapter) -> pd.DataFrame | None:
    """ImageNet against each real OOD set for the live grid's models, every score (the runner's table)."""
    t = ch.live(AXIS, [d for d in AXIS.live if d != ID_SET])  # the ID set is the reference, not a row
    if t is None:
        return None
    t = t.assign(method=t["part"].str.split("/").str[0])
    lt = t.pivot_table(index=["model", "method", "dataset", "n"], columns="metric", values="value", aggfunc="first")
    lt = ch.save(lt.reset_index().rename(columns={"dataset": "ood", "n": "n_ood"}), "live_detection")
    head = lt[lt["method"] == HEADLINE]
    fig, ax = plots.bars(head, "ood", "auroc", hue="model", figsize=(8, 3.8), rotate=0, ylim=(0, 1),
                         xlabel="OOD set", ylabel="AUROC (MCM)", title="Live: ImageNet vs real OOD sets",
                         legend=dict(fontsize=6))
    ch.figure(fig, lt, "live_detection")
    show()
    ch.live_finding("Over {n:.0f} live models and {k:.0f} OOD sets, mean MCM AUROC is {a:.3f}.",
                    n=lt["model"].nunique(), k=lt["ood"].nunique(), a=float(head["auroc"].mean()))
    return lt


# ---- the paper's claims on this axis ---------------------------------------------------------------

def cood_rows(records_root, analysis: str, secondary: str | None = None) -> list[dict]:
    """Records evidence from one analysis of `records.cood` (its primary row) and, optionally, another's rows as
    secondaries; a single row saying why when the COOD records are missing."""
    from .. import records
    from ..errors import ClipstudyError

    try:
        frame = records.load(COOD, records_root)
    except ClipstudyError as e:
        return [ev.row("records", "", note=f"records missing ({type(e).__name__}): run `clipstudy fetch records`")]
    res = getattr(records.cood, analysis)(frame)
    out = [ev.result_row("records", res.get("measured", ""), res)]
    for r in (getattr(records.cood, secondary)(frame).to_dict("records") if secondary else []):
        out.append(ev.result_row("records", r.get("measured", ""), r, role="secondary"))
    return out


@evidence("C8")
def c8(results, records_root=None) -> list[dict]:
    """C8: within one training source, ID accuracy tracks AUROC (Spearman over the records' OpenAI CLIPs; over the
    lab recipes that share base's data)."""
    out = cood_rows(records_root, "c8_records", "c8_secondary")
    det = LAB_DETECTION.read(results)
    if det is not None:
        d = det[(det["method"] == "mcm") & (det["ood"] == "all") & (det["prompts"] == "ensemble")
                & ~det["model"].str.startswith("data-")]
        d = d.groupby("model")[["id_acc", "auroc"]].mean().dropna()
        if len(d) >= 2:
            res = E.spearman_bootstrap(d["id_acc"], d["auroc"])
            out.append(ev.row("lab", f"Spearman of lab-val top-1 with MCM AUROC over the {len(d)} lab recipes that "
                              "share the base training data (bootstrap over recipes)", res["effect"], res["n"],
                              (res["ci_low"], res["ci_high"]), unit="recipes"))
    if not any(r["source"] == "lab" for r in out):
        out.append(ev.row("lab", "", note="chapter 06 wrote no lab detection table"))
    out.append(ev.row("live", "", note="no live OOD detection in this build"))
    return out


def finetune_ood_residual(det: pd.DataFrame, treatment: str = "finetuned", base: str = "base") -> dict | None:
    """The lab C13 effect: per seed, MSP AUROC (ID lab-val against all lab-ood) of each model minus the linear
    accuracy-to-AUROC trend of the zero-shot recipes (every recipe and seed but the classifiers), then treatment
    minus base over seeds (Welch t)."""
    from ..effects import trend_residuals

    d = det[(det["method"] == "msp") & (det["ood"] == "all")]
    if "classifier" not in d:
        d = d.assign(classifier=d["model"] == treatment)
    d = d[(d["prompts"] == "ensemble") | d["classifier"].astype(bool)]
    d = d.groupby(["model", "seed"], as_index=False).agg(id_acc=("id_acc", "mean"), auroc=("auroc", "mean"),
                                                          classifier=("classifier", "max"))
    if not {treatment, base} <= set(d["model"]):
        return None
    # the trend is the zero-shot models' (every CLIP recipe and seed): a classifier head is what is being tested
    d["value"] = trend_residuals(d["id_acc"], d["auroc"], fit_on=~d["classifier"].astype(bool))
    return ev.lab_seed_contrast(d.rename(columns={"model": "recipe"}), treatment, base)


@evidence("C13")
def c13(results, records_root=None) -> list[dict]:
    """C13: fine-tuning changes OOD AUROC beyond what its accuracy gain predicts (records pairs; lab finetuned vs
    base against the zero-shot recipes' trend)."""
    out = cood_rows(records_root, "c13_records")
    det = LAB_DETECTION.read(results)
    if det is not None:
        res = finetune_ood_residual(det)
        if res is not None:
            out.append(ev.result_row("lab", "MSP AUROC, finetuned minus base, minus the change the zero-shot recipes' "
                                     "accuracy-to-AUROC line predicts (over seeds)", res, unit="seeds"))
    if not any(r["source"] == "lab" for r in out):
        out.append(ev.row("lab", "", note="chapter 06 wrote no lab detection table with the fine-tuned recipe"))
    out.append(ev.row("live", "", note="no live OOD detection of fine-tuned CLIPs in this build"))
    return out
