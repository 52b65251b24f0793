"""Chapter 05: calibration in distribution and under shift, before and after ID temperature scaling.

The axis's tables are pure functions over frames: ECE, NLL, Brier and reliability before and after temperature
scaling. The temperature is fitted on in-distribution logits (lab-val, or ImageNet val live) and applied
unchanged under shift. "Does ID calibration transfer?" is measured against the *oracle*: the temperature fitted
on the shifted set itself. transfer_gap = ECE(T_id) - ECE(T_oracle) >= 0 (up to binning noise); near 0 means the
ID temperature is as good as one could pick on that set.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .. import chapter, plots
from .. import effects as E
from ..lab import evaluate as lab_eval
from . import evidence as ev
from .core import IdLookup, Outputs, Row, row, Axis, display, live_wide, register, show
from .evidence import evidence
from .visual_factors import _runs

SETS = ["lab-val", "lab-v2", "lab-sketch", "lab-silhouette", "lab-factors"]


def evaluate(o: Outputs, id_of: IdLookup) -> list[Row]:
    """ECE (15 bins), NLL and Brier at T=1, and at the temperature fitted on the ID set when it is in the grid."""
    if not o.has_head:
        return []
    z, y = o.zs.logits.float().numpy(), o.zs.labels.numpy()
    temps = [("T=1", 1.0)]
    ref = id_of(o)
    if ref is not None:
        temps.append(("T=id", fit_temperature(ref.zs.logits.float().numpy(), ref.zs.labels.numpy())))
    rows = []
    for part, t in temps:
        m = calibration_metrics(z, y, t)
        rows += [row(part, k, m[k], len(y)) for k in ("ece", "nll", "brier", "confidence", "temperature")]
    return rows


AXIS = register(Axis("calibration", "calibration", "05_calibration",
                     live=("imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a"), lab=tuple(SETS),
                     runner="calibration", tasks=("classification",), evaluate=evaluate,
                     metrics=("ece", "nll", "brier", "confidence", "temperature")))

# ECE, NLL, Brier and accuracy of every recipe, seed and prompt set per lab set and temperature scaling (`lab`):
# C11's lab evidence
LAB_CALIBRATION = AXIS.table("lab_calibration", recipe="text", prompts="text", seed="int64", set="text",
                             scaling="text", ece="float64", accuracy="float64")
# ECE on each shifted set without, with the ID and with the oracle temperature (`transfer`): C12's lab evidence
LAB_TRANSFER = AXIS.table("lab_transfer", recipe="text", prompts="text", seed="int64", set="text", shifted="bool",
                          ece_none="float64", ece_id="float64")


# ---- tables: pure functions over frames ---------------------------------------------------------

SCALING_LABELS = {"none": "T = 1", "id": "T fitted on ID", "oracle": "T fitted on the set (oracle)"}


def _np(x: Any) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(x, dtype=np.float64)


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    from scipy.special import softmax as sm

    return sm(_np(logits) / float(temperature), axis=1)


def calibration_metrics(logits: Any, labels: Any, temperature: float = 1.0, n_bins: int = 15) -> dict:
    """accuracy, ECE (15 equal-width bins), NLL, Brier and mean confidence at one temperature."""
    from ..metrics import brier, ece, nll

    z = _np(logits) / float(temperature)
    y = np.asarray(labels).astype(np.int64)
    p = softmax(z)
    return dict(accuracy=float((p.argmax(1) == y).mean()), ece=ece(p, y, n_bins), nll=nll(z, y), brier=brier(p, y),
                confidence=float(p.max(1).mean()), temperature=float(temperature))


def fit_temperature(logits: Any, labels: Any) -> float:
    """metrics.fit_temperature with its at-the-bound warning kept quiet (reported via the value)."""
    from ..metrics import fit_temperature as fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(_np(logits), np.asarray(labels).astype(np.int64))


def calibration_table(sets: Mapping[str, tuple[Any, Any]], id_set: str, n_bins: int = 15,
                      oracle: bool = True) -> pd.DataFrame:
    """One row per (set, scaling): scaling 'none' (T=1), 'id' (T fitted on `id_set`, applied to all)
    and, with `oracle`, 'oracle' (T fitted on that set itself). `sets` maps name -> (logits, labels)."""
    if id_set not in sets:
        raise ValueError(f"calibration_table: the ID set {id_set!r} is not among {list(sets)}")
    t_id = fit_temperature(*sets[id_set])
    rows = []
    for name, (z, y) in sets.items():
        temps = [("none", 1.0), ("id", t_id)] + ([("oracle", fit_temperature(z, y))] if oracle else [])
        for scaling, t in temps:
            rows.append(dict(set=name, scaling=scaling, n=len(y), **calibration_metrics(z, y, t, n_bins)))
    return pd.DataFrame(rows)


def transfer_table(table: pd.DataFrame, id_set: str) -> pd.DataFrame:
    """Per set: ECE before (T=1), with the ID temperature, and with its oracle temperature;
    gain = ece_none - ece_id (what ID scaling buys there); transfer_gap = ece_id - ece_oracle."""
    w = table.pivot_table(index="set", columns="scaling", values="ece", aggfunc="first")
    out = pd.DataFrame({"set": w.index, "ece_none": w["none"].to_numpy(), "ece_id": w["id"].to_numpy()})
    out["ece_oracle"] = w["oracle"].to_numpy() if "oracle" in w else np.nan
    out["gain"] = out["ece_none"] - out["ece_id"]
    out["transfer_gap"] = out["ece_id"] - out["ece_oracle"]
    out["shifted"] = out["set"] != id_set
    return out.reset_index(drop=True)


def reliability_frame(sets: Mapping[str, tuple[Any, Any]], temperature: float, n_bins: int = 15) -> pd.DataFrame:
    """metrics.reliability per set, before (T=1) and after the given temperature; tidy with set,
    scaling ('none' | 'id'), temperature and a legend label."""
    from ..metrics import reliability

    parts = []
    for name, (z, y) in sets.items():
        for scaling, t in (("none", 1.0), ("id", temperature)):
            r = reliability(softmax(z, t), np.asarray(y).astype(np.int64), n_bins)
            parts.append(r.assign(set=name, scaling=scaling, temperature=t, label=SCALING_LABELS[scaling]))
    return pd.concat(parts, ignore_index=True)


def per_group_ece(logits: Any, labels: Any, groups: Any, temperature: float, n_bins: int = 15) -> pd.DataFrame:
    """ECE before and after `temperature` within each group (e.g. the factor shifted in lab-factors)."""
    from ..metrics import ece

    z, y, g = _np(logits), np.asarray(labels).astype(np.int64), np.asarray(groups)
    rows = []
    for name in pd.unique(g):
        m = g == name
        rows.append(dict(group=name, n=int(m.sum()), accuracy=float((z[m].argmax(1) == y[m]).mean()),
                         ece_none=ece(softmax(z[m]), y[m], n_bins), ece_id=ece(softmax(z[m], temperature), y[m], n_bins)))
    out = pd.DataFrame(rows)
    out["gain"] = out["ece_none"] - out["ece_id"]
    return out


COOD = "cood_benchmarking"  # Galil et al. 2023 publish each model's mean ID confidence and accuracy


def records_gap(ch: chapter.Chapter) -> pd.DataFrame | None:
    """The calibration proxy of real models: mean softmax confidence minus top-1 on ImageNet val (cood_benchmarking),
    zero-shot CLIPs against the ImageNet models' trend at the same accuracy (claim C10); None after one notice."""
    if not chapter.records_ready(COOD):  # else one "Records missing" notice naming the fetch command
        return None
    from .. import records as R

    c = R.load(COOD)
    pts = R.cood_points(c)
    left = pts[(pts["group"] != R.ZS_CLIP) & ~pts["gap_usable"]]
    print(f"{int(pts['gap_usable'].sum())} models with a usable gap; left out: "
          + ", ".join(f"{g} ({k})" for g, k in left.groupby("group")["model"].count().items())
          + " (at chance accuracy, or a mean max-softmax near the uniform 1/1000 that is not a calibrated confidence)")
    fig = plots.cood_gap(pts)
    ch.figure(fig, pts, "records_gap")
    show()
    cols = ["model", "id_acc", "id_avg_conf", "gap", "gap_trend", "gap_residual"]
    display(ch.save(pts[pts["group"] == R.ZS_CLIP].sort_values("id_acc")[cols].reset_index(drop=True),
                    "records_gap_clips").round(3))
    cl = ch.save(pd.DataFrame([dict(id="C10", **R.c10_records(c))]), "records_c10")
    r = cl.iloc[0].to_dict()
    chapter.finding("The confidence-accuracy gap, a published proxy for calibration error (not ECE): the {n} zero-shot "
                    "CLIPs minus the ImageNet models' trend at the same accuracy is {w}: {d}.",
                    n=r["n"], w=E.effect_words(r),
                    d=E.direction_words(r, "the CLIPs are more over-confident than ImageNet models of their accuracy",
                                        "the CLIPs are less over-confident than ImageNet models of their accuracy"))
    return cl


def lab(ch: chapter.Chapter) -> dict:
    """Calibration of every recipe and seed (base also with one template) on the lab sets: the table, the logits
    (for reliability diagrams) and which factor each lab-factors image shifts."""
    recs_seeds = lab_eval.seeds(ch.lab_profile)
    tables, logits, factor_of_image = [], {}, None
    for r, sd, prompts in _runs(ch):
        sets_ = {}
        for s in SETS:
            n = ch.params.n_factor_scenes if s == "lab-factors" else ch.n_eval
            zs, ls = lab_eval.zero_shot(r, s, n=n, profile=ch.lab_profile, prompts=prompts, device=ch.device, seed=sd,
                                        precision=ch.precision)
            sets_[s] = (zs.logits.numpy(), zs.labels.numpy())
            if s == "lab-factors":
                factor_of_image = ls.factors["factor"].to_numpy()
        logits[(r, prompts, sd)] = sets_
        tables.append(calibration_table(sets_, "lab-val").assign(recipe=r, prompts=prompts, seed=sd))
    cal = ch.publish(LAB_CALIBRATION, pd.concat(tables, ignore_index=True))
    base = cal[(cal["recipe"] == "base") & (cal["prompts"] == "ensemble")]
    print(f"base, mean over {len(recs_seeds)} training seeds:")
    display(base.pivot_table(index="set", columns="scaling", values=["ece", "nll", "brier"], aggfunc="mean").round(3))
    return dict(cal=cal, logits=logits, factor_of_image=factor_of_image, seed0=recs_seeds[0])


def _t_id(lab: dict, recipe: str = "base") -> float:
    """The temperature fitted on lab-val for `recipe` (ensemble prompts, the figures' seed)."""
    cal = lab["cal"]
    return float(cal[(cal["recipe"] == recipe) & (cal["prompts"] == "ensemble") & (cal["set"] == "lab-val")
                     & (cal["scaling"] == "id") & (cal["seed"] == lab["seed0"])]["temperature"].iloc[0])


def reliability(ch: chapter.Chapter, lab: dict) -> None:
    """base's reliability diagrams at T=1 and at the ID temperature, one panel per set."""
    t_base = _t_id(lab)
    rel = reliability_frame(lab["logits"][("base", "ensemble", lab["seed0"])], t_base)
    fig = plots.reliability_grid(rel, f"base (seed {lab['seed0']}): T=1 vs T={t_base:.2f} fitted on lab-val")
    ch.figure(fig, rel, "lab_reliability_base")
    show()


def transfer(ch: chapter.Chapter, lab: dict) -> pd.DataFrame:
    """Does the ID temperature transfer to the shifted sets? ECE without, with ID and with oracle temperatures."""
    cal = lab["cal"]
    tr = pd.concat([transfer_table(t, "lab-val").assign(recipe=r, prompts=p, seed=sd)
                    for (r, p, sd), t in cal.groupby(["recipe", "prompts", "seed"])], ignore_index=True)
    tr = ch.publish(LAB_TRANSFER, tr)
    long = tr.melt(id_vars=["recipe", "prompts", "seed", "set"], value_vars=["ece_none", "ece_id", "ece_oracle"],
                   var_name="temperature", value_name="ece")
    long["temperature"] = long["temperature"].map({"ece_none": SCALING_LABELS["none"],
                                                   "ece_id": SCALING_LABELS["id"],
                                                   "ece_oracle": SCALING_LABELS["oracle"]})
    fig, ax = plots.bars(long[long["prompts"] == "ensemble"], "set", "ece", hue="temperature", order=SETS,
                         errorbar="sd", figsize=(8.5, 3.8), rotate=0, legend=dict(fontsize=8),
                         ylabel="ECE, 15 bins (mean ± sd over recipes and seeds)",
                         title="Does the in-distribution temperature transfer? (all recipes)")
    ch.figure(fig, long, "lab_transfer_by_temperature")  # its own name: lab_transfer.csv is the table above
    show()
    return tr


def transfer_findings(ch: chapter.Chapter, tr: pd.DataFrame) -> None:
    bt = tr[(tr["recipe"] == "base") & (tr["prompts"] == "ensemble")].groupby("set")[
        ["ece_none", "ece_id", "ece_oracle"]].mean()
    shifted = tr[(tr["prompts"] == "ensemble") & tr["shifted"]]
    chapter.finding("For base (mean over seeds), temperature scaling fitted on lab-val changes ECE there from {a:.3f} "
                    "to {b:.3f}. Under the sketch shift the same temperature gives ECE {c:.3f}, against {d:.3f} with "
                    "the sketch set's own (oracle) temperature.", a=float(bt.loc["lab-val", "ece_none"]),
                    b=float(bt.loc["lab-val", "ece_id"]), c=float(bt.loc["lab-sketch", "ece_id"]),
                    d=float(bt.loc["lab-sketch", "ece_oracle"]))
    chapter.finding("Over all recipes and the four shifted sets, the ID temperature {word} ECE on average (mean gain "
                    "{g:+.3f}); the mean transfer gap to the oracle is {gap:.3f}.", g=float(shifted["gain"].mean()),
                    word=chapter.direction(float(shifted["gain"].mean()), "lowers", "raises", "leaves unchanged"),
                    gap=float(shifted["transfer_gap"].mean()))


def factor_ece(ch: chapter.Chapter, lab: dict) -> pd.DataFrame:
    """base's ECE per out-of-range factor on lab-factors, before and after ID temperature scaling."""
    t_base = _t_id(lab)
    z, y = lab["logits"][("base", "ensemble", lab["seed0"])]["lab-factors"]
    pf = ch.save(per_group_ece(z, y, lab["factor_of_image"], t_base), "lab_factor_ece")
    pl = pf.melt(id_vars=["group"], value_vars=["ece_none", "ece_id"], var_name="scaling", value_name="ece")
    pl["scaling"] = pl["scaling"].map({"ece_none": SCALING_LABELS["none"], "ece_id": SCALING_LABELS["id"]})
    fig, ax = plots.bars(pl, "group", "ece", hue="scaling", figsize=(8.5, 3.6), rotate=35, ha=None,
                         xlabel="factor pushed out of range ('none' = control)", ylabel="ECE (15 bins)",
                         title="base on lab-factors", legend=dict(fontsize=8))
    ch.figure(fig, pf, "lab_factor_ece")
    show()
    w = pf[pf["group"] != "none"].sort_values("ece_id", ascending=False).iloc[0]
    chapter.finding("After ID temperature scaling, base is worst calibrated when '{f}' is out of range (ECE {e:.3f}; "
                    "control {c:.3f}).", f=w["group"], e=float(w["ece_id"]),
                    c=float(pf.set_index("group").loc["none", "ece_id"]) if "none" in set(pf["group"]) else float("nan"))
    return pf


def explorer(ch: chapter.Chapter, lab: dict) -> None:
    """An ipywidgets explorer of reliability diagrams per recipe and set (static books show a note)."""
    def show_reliability(recipe="base", set_name="lab-sketch"):
        r = reliability_frame({set_name: lab["logits"][(recipe, "ensemble", lab["seed0"])][set_name]},
                                t := _t_id(lab, recipe))
        plots.reliability(r, hue="label", title=f"{recipe} on {set_name} (T_id={t:.2f})")
        show()

    try:
        import ipywidgets as widgets

        widgets.interact(show_reliability, recipe=widgets.Dropdown(options=list(lab_eval.recipes(ch.lab_profile)[
            "recipe"]), value="base"), set_name=widgets.Dropdown(options=SETS, value="lab-sketch"))
    except ImportError:
        print("ipywidgets is not installed: the explorer is unavailable (the static figures above are complete).")


def lab_effects(ch: chapter.Chapter, lab: dict, tr: pd.DataFrame) -> list[dict]:
    """Each factor's effect on ECE in distribution and under shift (over seeds), and the prompt effect."""
    cal, recs = lab["cal"], lab_eval.recipes(ch.lab_profile)
    ece_id = cal[(cal["set"] == "lab-val") & (cal["scaling"] == "none") & (cal["prompts"] == "ensemble")]
    shift_id = tr[(tr["prompts"] == "ensemble") & tr["shifted"]].groupby(["recipe", "seed"])["ece_id"].mean()
    rows = ch.effects.lab_means(ece_id.rename(columns={"ece": "value"}), recs, "ECE on lab-val (T=1)")
    rows = rows + ch.effects.lab_means(shift_id.rename("value").reset_index(), recs,
                                       "ECE under shift with the lab-val temperature (mean of 4 sets)")
    one = cal[(cal["recipe"] == "base") & (cal["set"] == "lab-val") & (cal["scaling"] == "none")].sort_values("seed")
    if {"single", "ensemble"} <= set(one["prompts"]):
        rows = rows + [ch.effects.prompts("ECE on lab-val (T=1)", one[one["prompts"] == "single"]["ece"],
                                          one[one["prompts"] == "ensemble"]["ece"],
                                          comparison="one template vs the 8-template ensemble (base)")]
    display(pd.DataFrame(rows)[["factor", "metric", "comparison", "effect", "n", "ci_low", "ci_high"]].round(3))
    for r in rows:
        chapter.finding("{comp}, {m}: {w}.", comp=r["comparison"], m=r["metric"], w=E.effect_words(r))
    return rows


def live(ch: chapter.Chapter) -> pd.DataFrame | None:
    """ECE, NLL and Brier of the live grid's models at T=1 and the ImageNet temperature (the runner's table)."""
    live_cal = live_wide(ch, ["model", "dataset", "part"], {"dataset": "set", "part": "scaling"},
                         "live_calibration")
    if live_cal is None:
        return None
    display(live_cal.pivot_table(index=["model", "set"], columns="scaling", values="ece").round(3))
    return live_cal


# ---- the paper's claims on this axis ---------------------------------------------------------------

@evidence("C10")
def c10(results, records_root=None) -> list[dict]:
    """C10: the zero-shot CLIPs' calibration against the ImageNet models' trend at the same accuracy (records, a
    published proxy: mean confidence minus accuracy)."""
    from .ood import cood_rows

    out = cood_rows(records_root, "c10_records")
    for r in out:
        if np.isfinite(r["effect"]):
            r["caveat"] = r["caveat"] or "proxy metric: mean confidence minus accuracy, not ECE"
    return out + [ev.row("lab", "", note="the lab zoo has no ImageNet-model counterpart to compare calibration against"),
                  ev.row("live", "", note="no live calibration contrast against ImageNet models in this build")]


def ece_residuals(cal: pd.DataFrame) -> pd.DataFrame:
    """Per (recipe, seed): ECE on lab-val at T=1 minus the zoo's linear accuracy-to-ECE trend (over every recipe and
    seed): the calibration a model has beyond what its accuracy predicts."""
    c = cal[(cal["set"] == "lab-val") & (cal["scaling"] == "none") & (cal["prompts"] == "ensemble")]
    c = c.groupby(["recipe", "seed"], as_index=False)[["accuracy", "ece"]].mean()
    c["value"] = E.trend_residuals(c["accuracy"], c["ece"])
    return c


@evidence("C11")
def c11(results, records_root=None) -> list[dict]:
    """C11: ECE beyond the accuracy trend, each training-data and training-size recipe against base (a lab family)."""
    from ..lab import zoo

    out = [ev.row("records", "", note="the records hold no per-model ECE by training source")]
    cal = LAB_CALIBRATION.read(results)
    if cal is not None:
        res = ece_residuals(cal)
        fam = [r for r in zoo.names() if zoo.recipe(r).factor in ("data", "size") and r in set(res["recipe"])]
        for r in fam:
            out.append(ev.result_row("lab", f"ECE on lab-val beyond the zoo's accuracy trend, {r} vs base",
                                     ev.lab_seed_contrast(res, r, "base"), role="family", unit="seeds"))
    if not any(r["source"] == "lab" for r in out):
        out.append(ev.row("lab", "", note="chapter 05 wrote no lab calibration table"))
    out.append(ev.row("live", "", note="no live calibration contrast by training source in this build"))
    return out


@evidence("C12")
def c12(results, records_root=None) -> list[dict]:
    """C12: ECE under the lab shifts with the lab-val temperature minus at T=1 (base over seeds; every recipe as a
    secondary)."""
    out = [ev.row("records", "", note="the records hold no ECE before and after temperature scaling")]
    tr = LAB_TRANSFER.read(results)
    if tr is not None:
        s = tr[(tr["prompts"] == "ensemble") & tr["shifted"]]
        d = (s["ece_id"] - s["ece_none"]).groupby([s["recipe"], s["seed"]]).mean().rename("d").reset_index()
        b = d[d["recipe"] == "base"].sort_values("seed")["d"].to_numpy()
        out.append(ev.result_row("lab", f"ECE under the 4 lab shifts with the lab-val temperature minus at T=1, base, "
                                        f"over {len(b)} seeds", E.one_sample_t(b), unit="seeds"))
        allr = d.groupby("recipe")["d"].mean().to_numpy()
        out.append(ev.result_row("lab", f"the same, every recipe (mean over seeds), bootstrap over {len(allr)} "
                                        "recipes", E.bootstrap_mean(allr), role="secondary", unit="recipes"))
    else:
        out.append(ev.row("lab", "", note="chapter 05 wrote no lab transfer table"))
    out.append(ev.row("live", "", note="live calibration transfer is read in chapter 05, not judged here"))
    return out
