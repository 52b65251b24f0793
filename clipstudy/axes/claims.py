"""Chapter 11, the claims axis: the paper's claims, each judged from one primary effect per source,
declared before it is computed.

`clipstudy/claims.csv` lists the claims as `../shared/paper_claims.csv` gives them (id, axis, factor, claim,
effect, expected, source) and, per claim, what is measured: its `rule`, its `metric`, and for each source
(records, lab, live) the primary contrast and its unit of replication. The evidence functions (one registry entry
per claim) read what the chapters wrote (`<results>/<chapter>/<table>.csv`) or the published records, and return
rows with a `role`:

- `primary`: the declared effect; the source's verdict comes from it alone;
- `family`: one contrast of a declared family ("families differ"): the family is judged together, with Holm's
  correction over its contrasts, and the page says how many were tried;
- `secondary`: shown beside the primary, never judged.

The statistics follow DESIGN.md: the unit of replication is named and counted (one model in two record sets is
one model); a bootstrap over fewer than `MIN_UNITS` units claims no interval ("inconclusive (n too small)");
lab effects keep their seed x image interval (Student t, so a few seeds widen it). An inconclusive verdict states
the interval's half-width: no effect larger than that was detectable.

This module holds the axis's declaration (`AXIS`) and all its code: the claims table's reader (`listing`,
`RULES`; the table stays package data, `clipstudy/claims.csv`), the verdict rules, the evidence registry
(`EVIDENCE`), `judge_results` (a results folder -> the claims table and the evidence rows), `show` (a chapter's
own claims, called at its end) and the claims page's calls (`judge`, `verdicts`, `forest`, `audit`, `measured`).
`clipstudy.claims`, its old path, still imports with a DeprecationWarning (`clipstudy.deprecations`).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from .. import chapter, plots, tables
from ..effects import holm, p_from_interval, verdict as sign_verdict
from ..errors import ClipstudyError, UnknownNameError
from ..registry import Registry
from .core import Axis, display, register, show as show_figure

AXIS = register(Axis("claims", "claims", "11_claims", summarised=False,
                     order=11, reads_all=True, part="The verdict", smoke_note=(
    "This build uses the `smoke` profile: its lab effects come from tiny models trained for seconds, so the lab "
    "verdicts below are pipeline checks, not findings.")))

SOURCES = ("records", "lab", "live")
VERDICTS = ("agrees", "disagrees", "inconclusive", "not measured")
ROLES = ("primary", "family", "secondary")
ALPHA = 0.05
MIN_UNITS = 5  # below this many units a bootstrap claims no interval
BOOTSTRAP_UNITS = ("models", "model pairs", "recipes")  # units whose interval is a bootstrap over them
NEAR_ZERO = 0.05  # the "near zero" rule (no claim uses it now): the whole interval within +-0.05
COLUMNS = ["id", "source", "role", "effect", "n", "unit", "ci_low", "ci_high", "p", "measured", "note", "caveat"]


def listing() -> pd.DataFrame:
    """The claims to judge with their declarations (id, axis, factor, claim, effect, expected, source, rule,
    metric, and per source its primary contrast and unit)."""
    return pd.read_csv(Path(__file__).resolve().parents[1] / "claims.csv", keep_default_na=False)


RULES: dict[str, str] = dict(zip(listing()["id"], listing()["rule"]))


def verdict(rule: str, effect: float, ci_low: float, ci_high: float) -> str:
    """agrees / disagrees / inconclusive / not measured for one effect under a claim's rule.

    positive / negative: the interval excludes 0 on the expected / the other side, else inconclusive.
    differ: agrees when the interval excludes 0 on either side, else inconclusive (no difference is never
    shown, only not detected). near zero: agrees when the whole interval lies within +-NEAR_ZERO, disagrees
    when it excludes 0, else inconclusive. No interval: not measured.
    """
    if not all(np.isfinite([effect, ci_low, ci_high])):
        return "not measured"
    if rule in ("positive", "negative"):
        return sign_verdict(effect, ci_low, ci_high, rule)
    if rule == "differ":
        return "inconclusive" if ci_low <= 0 <= ci_high else "agrees"
    if rule == "near zero":
        if -NEAR_ZERO <= ci_low and ci_high <= NEAR_ZERO:
            return "agrees"
        return "inconclusive" if ci_low <= 0 <= ci_high else "disagrees"
    raise ValueError(f"unknown rule {rule!r}")


def family_verdict(rule: str, effects: Iterable[float], p_holm: Iterable[float], alpha: float = ALPHA) -> str:
    """The verdict of a family of contrasts from their Holm-adjusted p-values.

    differ: agrees when any contrast is significant after Holm, else inconclusive. positive / negative: agrees
    when the significant contrasts all lie on the expected side, disagrees when they all lie on the other, and
    inconclusive when none is significant or they split. No finite p: not measured."""
    e, p = np.asarray(list(effects), float), np.asarray(list(p_holm), float)
    if not np.isfinite(p).any():
        return "not measured"
    sig = np.isfinite(p) & (p < alpha)
    if rule == "differ":
        return "agrees" if sig.any() else "inconclusive"
    want = {"positive": 1.0, "negative": -1.0}[rule]
    signs = set(np.sign(e[sig]) * want)
    if not signs:
        return "inconclusive"
    return "agrees" if signs == {1.0} else "disagrees" if signs == {-1.0} else "inconclusive"


def overall(verdicts: dict[str, str]) -> str:
    """One verdict from the sources: real models (records, live) decide when they measured the claim, the
    lab when they did not; real sources that contradict each other make it inconclusive."""
    real = [verdicts.get(s, "not measured") for s in ("records", "live")]
    real = [v for v in real if v != "not measured"]
    pool = real or [v for v in [verdicts.get("lab", "not measured")] if v != "not measured"]
    if not pool:
        return "not measured"
    if "agrees" in pool and "disagrees" in pool:
        return "inconclusive"
    for v in ("agrees", "disagrees"):
        if v in pool:
            return v
    return "inconclusive"


# ---- evidence -------------------------------------------------------------------------------------

Evidence = Callable[[Path, "str | Path | None"], list[dict]]
EVIDENCE: Registry[list[Evidence]] = Registry("claim")  # claim id -> its evidence functions


def evidence(*ids: str) -> Callable[[Evidence], Evidence]:
    """Register a function as evidence for claims `ids`; it returns rows with the COLUMNS (id added here)."""
    def wrap(fn: Evidence) -> Evidence:
        for i in ids:
            (EVIDENCE.get(i) if i in EVIDENCE else EVIDENCE.register(i, [])).append(fn)
        return fn
    return wrap


def row(source: str, measured: str, effect: float = np.nan, n: float = np.nan, ci: tuple = (np.nan, np.nan),
        note: str = "", *, role: str = "primary", unit: str = "", p: float = np.nan, caveat: str = "") -> dict:
    if role not in ROLES:
        raise UnknownNameError("evidence role", role, list(ROLES))
    return dict(source=source, role=role, effect=float(effect), n=float(n), unit=unit, ci_low=float(ci[0]),
                ci_high=float(ci[1]), p=float(p), measured=measured, note=note, caveat=caveat)


def _res(source: str, measured: str, res: dict, **kw) -> dict:
    """A row from a result dict (effect, n, ci_low, ci_high and optionally p, unit, note, caveat)."""
    for k in ("unit", "note", "caveat"):
        if k in res and k not in kw and isinstance(res[k], str):
            kw[k] = res[k]
    return row(source, res.get("measured", measured) or measured, res.get("effect", np.nan), res.get("n", np.nan),
               (res.get("ci_low", np.nan), res.get("ci_high", np.nan)), p=res.get("p", np.nan), **kw)


def _chapter(axis_key: str) -> str:
    """The results folder (the chapter) of an axis in the axis registry; an unknown key raises."""
    from . import REGISTRY, all_axes

    if axis_key not in REGISTRY:
        all_axes()
    if axis_key not in REGISTRY:
        raise UnknownNameError("axis", axis_key, list(REGISTRY))
    return REGISTRY[axis_key].chapter


def _read(results: Path, chapter: str, table: str, **kw) -> pd.DataFrame | None:
    p = results / chapter / f"{table}.csv"
    try:
        return pd.read_csv(p, **kw) if p.exists() and p.stat().st_size else None
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return None


def _effect_rows(results: Path, chapter: str, factor: str, metric_prefix: str, source: str) -> pd.DataFrame:
    e = _read(results, chapter, "effects")
    if e is None or e.empty:
        return pd.DataFrame()
    for c in ("n", "ci_low", "ci_high", "p"):
        if c not in e.columns:
            e[c] = np.nan
    return e[(e["factor"] == factor) & (e["source"] == source) & e["metric"].astype(str).str.startswith(metric_prefix)]


def _from_effects(source: str, results: Path, chapter: str, factor: str, metric: str, unit: str, *,
                  comparison: str | None = None, role: str = "primary") -> list[dict]:
    """Rows of a chapter's effects table as evidence: the first matching row as the primary, or every matching row
    as a family (`role='family'`)."""
    rows = _effect_rows(results, chapter, factor, metric, source)
    if comparison is not None and len(rows):
        rows = rows[rows["comparison"].astype(str).str.startswith(comparison)]
    if rows.empty:
        return []
    pick = rows if role == "family" else rows.iloc[:1]
    return [row(source, f"{r['metric']}: {r['comparison']}", r["effect"], r["n"], (r["ci_low"], r["ci_high"]),
                role=role, unit=unit, p=r["p"]) for _, r in pick.iterrows()]


def _records_claim(results: Path, cid: str, unit: str) -> dict:
    """The records row chapter 04 wrote for a shape-bias claim (`axes.shape_bias.claims`)."""
    rc = _read(results, _chapter("shape_bias"), "records_claims")
    r = rc[rc["id"] == cid] if rc is not None and "id" in rc.columns else pd.DataFrame()
    if r.empty:
        return row("records", "", note="records missing: run `clipstudy fetch records`")
    r = r.iloc[0]
    return row("records", str(r["measured"]), r["effect"], r["n"], (r["ci_low"], r["ci_high"]), unit=unit,
               p=r["p"] if "p" in r else np.nan)


def _lab_seed_contrast(values: pd.DataFrame, treatment: str, base: str, value: str = "value") -> dict:
    """treatment minus base over the seeds of each (`values`: recipe, seed, value), Welch t over seeds."""
    from ..effects import seed_image_effect

    t = values[values["recipe"] == treatment].sort_values("seed")[value].to_numpy(float)
    b = values[values["recipe"] == base].sort_values("seed")[value].to_numpy(float)
    return seed_image_effect(t, b)


# -- C1: 3D effective robustness of the three architectures -------------------------------------------

def threed_er(acc3: pd.DataFrame) -> pd.DataFrame:
    """Per (recipe, seed): clean top-1 (severity 0), top-1 under the 3D corruptions (severity 1-5 mean) and the 3D
    effective robustness: corrupted minus the zoo's clean-to-corrupted logit-linear trend (fitted over every recipe
    and seed: the accuracy a model of that clean accuracy is expected to keep)."""
    a = acc3[acc3["kind"].isin(["3D", "none"]) | (acc3["severity"] == 0)] if "kind" in acc3 else acc3
    clean = a[a["severity"] == 0].groupby(["model", "seed"])["accuracy"].mean().rename("clean")
    corr = a[(a["severity"] > 0) & (a["kind"] == "3D")].groupby(["model", "seed"])["accuracy"].mean().rename("corrupted")
    t = pd.concat([clean, corr], axis=1).dropna().reset_index().rename(columns={"model": "recipe"})
    from ..effects import trend_residuals

    t["value"] = trend_residuals(t["clean"], t["corrupted"], logit=True)
    return t


@evidence("C1")
def c1(results: Path, records_root=None) -> list[dict]:
    out = [row("records", "", note="no published per-model 3D-corruption results among the records")]
    acc3 = _read(results, _chapter("threed"), "lab_3dcc")
    if acc3 is not None and {"model", "seed", "severity", "kind", "accuracy"} <= set(acc3.columns):
        er = threed_er(acc3)
        pairs = [("arch-vit", "base"), ("arch-convnext", "base"), ("arch-vit", "arch-convnext")]
        fam = []
        for t, b in pairs:
            if {t, b} <= set(er["recipe"]):
                e = _lab_seed_contrast(er, t, b)
                fam.append(_res("lab", f"3D effective robustness (logit), {t} vs {b}", e, role="family",
                                unit="seeds"))
        out += fam
        if acc3["model"].isin(["base"]).any():
            raw = acc3[(acc3["severity"] > 0) & (acc3["kind"] == "3D")].groupby(["model", "seed"])["accuracy"].mean()
            raw = raw.rename("value").reset_index().rename(columns={"model": "recipe"})
            if {"arch-convnext", "base"} <= set(raw["recipe"]):
                out.append(_res("lab", "top-1 under 3D corruptions, arch-convnext vs base (not accuracy-controlled)",
                                _lab_seed_contrast(raw, "arch-convnext", "base"), role="secondary", unit="seeds"))
    if not any(r["source"] == "lab" for r in out):
        out.append(row("lab", "", note="chapter 08 wrote no lab 3DCC table"))
    out += _from_effects("live", results, _chapter("threed"), "architecture", "accuracy under 3D", "models") or \
        [row("live", "", note="chapter 08 wrote no live architecture effect on 3D corruptions")]
    return out


# -- C2, C14: shape bias of zero-shot CLIPs, absolute and against ImageNet models ----------------------

def _shape_units(results: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    from . import shape_bias as SB

    sb = _read(results, _chapter("shape_bias"), "records_shape_bias")
    if sb is None or not {"source", "model", "group", "prompts", "data", "shape_bias"} <= set(sb.columns):
        return None
    return (SB.model_units(sb, "zero-shot CLIP"), SB.model_units(sb, "ImageNet model", data=SB.IMAGENET_DATA))


def _lab_shape(results: Path) -> pd.DataFrame | None:
    lab = _read(results, _chapter("shape_bias"), "lab_shape_bias")
    if lab is None or not {"recipe", "prompts", "shape_bias", "seed"} <= set(lab.columns):
        return None
    return lab


@evidence("C2")
def c2(results: Path, records_root=None) -> list[dict]:
    from ..effects import bootstrap_mean

    units = _shape_units(results)
    if units is None:
        out = [row("records", "", note="records missing: run `clipstudy fetch records`")]
    else:
        zs = units[0]
        out = [_res("records", f"mean shape bias of {len(zs)} zero-shot CLIPs (80 templates) minus 0.5",
                    bootstrap_mean((zs["shape_bias"] - 0.5).to_numpy()), unit="models")]
    lab = _lab_shape(results)
    if lab is not None:
        b = lab[(lab["recipe"] == "base") & (lab["prompts"] == "ensemble")].groupby("seed")["shape_bias"].mean()
        out.append(_res("lab", f"shape bias of the base lab CLIP minus 0.5, over {len(b)} seeds",
                        _one_sample_t((b - 0.5).to_numpy()), unit="seeds"))
    else:
        out.append(row("lab", "", note="chapter 04 wrote no lab shape-bias table"))
    out.append(row("live", "", note="live shape bias is not part of this build"))
    return out


def _one_sample_t(v: np.ndarray) -> dict:
    """Mean of per-seed values with a Student t interval over the seeds (n - 1 df)."""
    from scipy import stats

    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    out = dict(effect=float(v.mean()) if len(v) else np.nan, n=len(v), ci_low=np.nan, ci_high=np.nan, p=np.nan)
    if len(v) < 2:
        return out
    se = v.std(ddof=1) / np.sqrt(len(v))
    if se == 0:
        return out
    h = float(stats.t.ppf(0.975, len(v) - 1)) * se
    out.update(ci_low=out["effect"] - h, ci_high=out["effect"] + h,
               p=float(2 * stats.t.sf(abs(out["effect"]) / se, len(v) - 1)))
    return out


@evidence("C14")
def c14(results: Path, records_root=None) -> list[dict]:
    from ..effects import grouped_effect

    units = _shape_units(results)
    if units is None:
        out = [row("records", "", note="records missing: run `clipstudy fetch records`")]
    else:
        zs, inet = units
        f = pd.concat([zs.assign(group="clip"), inet.assign(group="imagenet")], ignore_index=True)
        g = grouped_effect(f, "group", "clip", "imagenet", "shape_bias", unit="unit")
        g["n"] = len(zs) + len(inet)
        out = [_res("records", f"mean shape bias of {len(zs)} zero-shot CLIPs minus {len(inet)} ImageNet-1k/21k-trained "
                    "models, same cue-conflict images", g, unit="models")]
    out += [row("lab", "", note="the lab zoo trains no classifier from scratch on lab-train (its classifier is a "
                                "fine-tune of base, C3)"),
            row("live", "", note="live shape bias is not part of this build")]
    return out


@evidence("C3")
def c3(results: Path, records_root=None) -> list[dict]:
    out = [_records_claim(results, "C3", "model pairs")]
    out += _from_effects("lab", results, _chapter("shape_bias"), "fine-tuning", "shape bias", "seeds x images",
                         comparison="finetuned vs base") or \
        [row("lab", "", note="chapter 04 wrote no lab fine-tuning effect")]
    out += _from_effects("live", results, _chapter("shape_bias"), "fine-tuning", "shape bias", "model pairs") or \
        [row("live", "", note="live shape bias is not part of this build")]
    return out


# -- C4: the LMM against its CLIP on hard categories, chosen on held-out images ------------------------

def lab_lmm_gain(questions: pd.DataFrame, recipe: str = "base") -> dict:
    """C4's secondary lab effect: the mini-LLaVA minus its CLIP over all its TRUE/FALSE answers, paired per image
    (`axes.lmm.paired_gain`), mean over training seeds with the seed x image interval (`axes.lmm.seeds_gain`)."""
    from .lmm import paired_gain, seeds_gain

    q = questions[(questions["recipe"] == recipe) & (questions["group"] == "all")]
    return seeds_gain([paired_gain(g) for _, g in q.groupby("seed")])


def live_lmm_gain(table: pd.DataFrame | None) -> dict | None:
    """C4's live effect: each LLaVA checkpoint minus its CLIP over all its TRUE/FALSE answers, paired per image,
    from the runner's discordant shares (`axes.lmm.paired_interval`); the mean over checkpoints, with the between-
    checkpoint and the image variance (`axes.lmm.seeds_gain`, checkpoints in the place of seeds). A checkpoint
    asked under several prompt sets (one set of questions per CLIP head) counts once, under the first set by name:
    the sets share its images, so they are not independent checkpoints."""
    from .lmm import paired_interval, seeds_gain

    if table is None or not {"model", "clip_full", "lmm_only", "clip_only", "n_scored"} <= set(table.columns):
        return None
    a = table[table["clip_full"] == "all"].dropna(subset=["lmm_only", "clip_only", "n_scored"])
    if "prompts" in a.columns:
        a = a.sort_values("prompts", kind="stable").drop_duplicates("model")
    if a.empty:
        return None
    per = [paired_interval(r.lmm_only, r.clip_only, int(r.n_scored)) for r in a.itertuples()]
    res = seeds_gain(per)
    res["checkpoints"] = res.pop("seeds")
    return res


def hard_category_gain(questions: pd.DataFrame, recipe: str = "base") -> dict:
    """C4's primary lab effect: per training seed, the hard categories are chosen on one half of the images and the
    LMM is scored against its CLIP on the other half (two folds, `axes.lmm.hard_category_split`); the mean over
    seeds with the seed x image interval (`axes.lmm.seeds_gain`)."""
    from .lmm import hard_category_split, paired_gain, seeds_gain

    q = questions[(questions["recipe"] == recipe) & (questions["group"] == "all")]
    per = [paired_gain(hard_category_split(g)) for _, g in q.groupby("seed")]
    return seeds_gain(per)


@evidence("C4")
def c4(results: Path, records_root=None) -> list[dict]:
    out = [row("records", "", note="the records hold LMM decisions on cue-conflict (shape bias, chapter 09), not "
                                   "accuracy on hard categories")]
    # verdicts as text: a table of TRUE and FALSE alone would otherwise be read back as booleans
    q = _read(results, _chapter("lmm"), "lab_questions", dtype={"match": str})
    if q is not None and {"recipe", "seed", "key", "label", "match", "clip_correct", "group"} <= set(q.columns):
        res = hard_category_gain(q)
        if not res["seeds"]:
            res["note"] = "the mini-LLaVA named exactly one of the two classes in none of its answers: no gain is defined"
        out.append(_res("lab", f"two-choice accuracy, the mini-LLaVA minus its CLIP on the third of the classes where "
                               f"the CLIP is weakest, chosen on the other half of the images ({res['seeds']} seeds)",
                        res, unit="seeds x images"))
        sec = lab_lmm_gain(q)
        if sec["seeds"]:
            out.append(_res("lab", f"two-choice accuracy, the mini-LLaVA minus its CLIP, all its TRUE/FALSE answers "
                                   f"(paired over images; {sec['seeds']} seeds)", sec, role="secondary",
                            unit="seeds x images" if sec["seeds"] > 1 else "images"))
    else:
        out.append(row("lab", "", note="chapter 09 wrote no per-question lab table"))
    live = live_lmm_gain(_read(results, _chapter("lmm"), "live_gains"))
    if live:
        k = live["checkpoints"]
        out.append(_res("live", f"two-choice accuracy, LLaVA minus its own CLIP on ImageNet-D, all its TRUE/FALSE "
                                f"answers (paired over images; {k} checkpoint(s))", live,
                        unit="checkpoints x images" if k > 1 else "images"))
    else:
        out.append(row("live", "", note="no live LLaVA and ImageNet-D in this build"))
    return out


# -- C5, C6: ImageNet-X factors, one row per model -----------------------------------------------------

def _imagenet_x_er(records_root=None) -> pd.DataFrame:
    """Per-model, per-factor ER of the zero-shot CLIPs and the baseline ImageNet models (ImageNet-X), each model
    once: a model listed in several testbeds is averaged over them (it is one model, not several)."""
    from .. import records

    f = records.imagenet_x_factors(records_root)
    f = f[(f["group"] == records.ZS_CLIP) | f["baseline"]]
    f = f.assign(clip=f["group"] == records.ZS_CLIP, model=f["model"].replace(IMAGENET_X_SAME))
    return f.groupby(["model", "clip", "factor"], as_index=False)["er"].mean()


# one checkpoint under two testbed names: the modelvshuman testbed's OpenAI CLIPs are the imagenet_testbed's
IMAGENET_X_SAME = {"clip": "vit_b_32_clip_zeroshot", "clipRN50": "resnet50_clip_zeroshot"}


def factor_gaps(er: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> tuple[pd.Series, np.ndarray, int, int]:
    """CLIP minus ImageNet mean ER per factor, its bootstrap over models (both groups resampled), and the
    number of models in each group."""
    w = er.pivot_table(index=["model", "clip"], columns="factor", values="er").reset_index()
    factors = [c for c in w.columns if c not in ("model", "clip")]
    c, b = w[w["clip"]][factors].to_numpy(float), w[~w["clip"]][factors].to_numpy(float)
    gaps = pd.Series(np.nanmean(c, 0) - np.nanmean(b, 0), index=factors)
    rng = np.random.default_rng(seed)
    boot = np.stack([np.nanmean(c[rng.integers(0, len(c), len(c))], 0) - np.nanmean(b[rng.integers(0, len(b), len(b))], 0)
                     for _ in range(n_boot)])
    return gaps, boot, len(c), len(b)


@evidence("C5", "C6")
def c5_c6(results: Path, records_root=None) -> list[dict]:
    try:
        er = _imagenet_x_er(records_root)
    except ClipstudyError as e:
        why = f"records missing ({type(e).__name__}): run `clipstudy fetch records`"
        return [dict(row("records", "", note=why), id=i) for i in ("C5", "C6")]
    gaps, boot, n_clip, n_base = factor_gaps(er)
    from ..effects import boot_p

    share, sb = float((gaps > 0).mean()) - 0.5, (boot > 0).mean(axis=1) - 0.5
    on = [f for f in ("pose", "partial_view") if f in gaps.index]
    pb = boot[:, [list(gaps.index).index(f) for f in on]].mean(axis=1)
    note = (f"{n_clip} zero-shot CLIPs (OpenAI ViT-B/32 and RN50; each listed in two testbeds, averaged) against "
            f"{n_base} ImageNet models; bootstrap over models")
    # n is the smaller group, the one that limits what the bootstrap can know; the unit names the other
    n, unit = n_clip, f"zero-shot CLIPs (vs {n_base} ImageNet models)"
    return [dict(row("records", f"share of the {len(gaps)} ImageNet-X factors where CLIP's per-factor ER is above "
                     f"the ImageNet models' ({(gaps > 0).sum()} of {len(gaps)}), minus 0.5", share, n,
                     tuple(np.quantile(sb, [0.025, 0.975])), note, unit=unit, p=boot_p(sb),
                     caveat=_small(n_clip, "zero-shot CLIPs")), id="C5"),
            dict(row("records", "CLIP minus ImageNet models, per-factor ER, mean of pose and partial_view",
                     float(gaps[on].mean()), n, tuple(np.quantile(pb, [0.025, 0.975])), note, unit=unit,
                     p=boot_p(pb), caveat=_small(n_clip, "zero-shot CLIPs")), id="C6"),
            *[dict(row(s, "", note="ImageNet-X factors are measured on the records only in this build"), id=i)
              for i in ("C5", "C6") for s in ("lab", "live")]]


def _small(n_group: int, what: str) -> str:
    """A caveat when one group of a two-group bootstrap has fewer than MIN_UNITS units (its spread is unknown)."""
    return f"n too small: {n_group} {what} (under {MIN_UNITS}, no bootstrap interval)" if n_group < MIN_UNITS else ""


@evidence("C7")
def c7(results: Path, records_root=None) -> list[dict]:
    out = [row("records", "", note="the ImageNet-X records hold OpenAI CLIPs only: no second training source")]
    out += _from_effects("lab", results, _chapter("visual_factors"), "training distribution", "mean effective",
                         "seeds x images", role="family") or \
        [row("lab", "", note="chapter 03 wrote no lab training-distribution effect")]
    out += _from_effects("live", results, _chapter("visual_factors"), "training distribution", "", "models") or \
        [row("live", "", note="no live ImageNet-X evaluation in this build")]
    return out


# -- C8, C10, C13: OOD detection and confidence, COOD records and the lab ------------------------------

def _cood(records_root=None):
    """The COOD records frame, or the reason it is missing."""
    from .. import records

    try:
        return records.load("cood_benchmarking", records_root), ""
    except ClipstudyError as e:
        return None, f"records missing ({type(e).__name__}): run `clipstudy fetch records`"
    except UnknownNameError:
        return None, "this build has no COOD loader"


def _cood_rows(cid: str, records_root, fn_name: str, secondary: str | None = None) -> list[dict]:
    frame, why = _cood(records_root)
    if frame is None:
        return [row("records", "", note=why)]
    from ..records import cood
    res = getattr(cood, fn_name)(frame)
    out = [_res("records", res.get("measured", ""), res)]
    if secondary:
        for r in getattr(cood, secondary)(frame).to_dict("records"):
            out.append(_res("records", r.get("measured", ""), r, role="secondary"))
    return out


def _lab_detection(results: Path) -> pd.DataFrame | None:
    det = _read(results, _chapter("ood"), "lab_detection")
    need = {"model", "method", "ood", "auroc", "id_acc", "prompts", "seed"}
    return det if det is not None and need <= set(det.columns) else None


@evidence("C8")
def c8(results: Path, records_root=None) -> list[dict]:
    from scipy.stats import spearmanr

    out = _cood_rows("C8", records_root, "c8_records", "c8_secondary")
    det = _lab_detection(results)
    if det is not None:
        d = det[(det["method"] == "mcm") & (det["ood"] == "all") & (det["prompts"] == "ensemble")
                & ~det["model"].astype(str).str.startswith("data-")]
        d = d.groupby("model")[["id_acc", "auroc"]].mean().dropna()
        if len(d) >= 2:
            rho = float(spearmanr(d["id_acc"], d["auroc"]).statistic)
            rng = np.random.default_rng(0)
            boots = []
            for _ in range(2000):
                s = d.iloc[rng.integers(0, len(d), len(d))]
                if s["id_acc"].nunique() > 1 and s["auroc"].nunique() > 1:
                    boots.append(spearmanr(s["id_acc"], s["auroc"]).statistic)
            lo, hi = np.nanquantile(boots, [0.025, 0.975]) if boots else (np.nan, np.nan)
            out.append(row("lab", f"Spearman of lab-val top-1 with MCM AUROC over the {len(d)} lab recipes that "
                           "share the base training data (bootstrap over recipes)", rho, len(d), (lo, hi),
                           unit="recipes"))
    if not any(r["source"] == "lab" for r in out):
        out.append(row("lab", "", note="chapter 06 wrote no lab detection table"))
    out.append(row("live", "", note="no live OOD detection in this build"))
    return out


@evidence("C10")
def c10(results: Path, records_root=None) -> list[dict]:
    out = _cood_rows("C10", records_root, "c10_records")
    for r in out:
        if np.isfinite(r["effect"]):
            r["caveat"] = r["caveat"] or "proxy metric: mean confidence minus accuracy, not ECE"
    return out + [row("lab", "", note="the lab zoo has no ImageNet-model counterpart to compare calibration against"),
                  row("live", "", note="no live calibration contrast against ImageNet models in this build")]


@evidence("C13")
def c13(results: Path, records_root=None) -> list[dict]:
    out = _cood_rows("C13", records_root, "c13_records")
    det = _lab_detection(results)
    if det is not None:
        res = finetune_ood_residual(det)
        if res is not None:
            out.append(_res("lab", "MSP AUROC, finetuned minus base, minus the change the zero-shot recipes' "
                            "accuracy-to-AUROC line predicts (over seeds)", res, unit="seeds"))
    if not any(r["source"] == "lab" for r in out):
        out.append(row("lab", "", note="chapter 06 wrote no lab detection table with the fine-tuned recipe"))
    out.append(row("live", "", note="no live OOD detection of fine-tuned CLIPs in this build"))
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
    return _lab_seed_contrast(d.rename(columns={"model": "recipe"}), treatment, base)


# -- C9: shape bias under three kinds of fine-tuning ---------------------------------------------------

@evidence("C9")
def c9(results: Path, records_root=None) -> list[dict]:
    out = [row("records", "", note="no CLIP fine-tuned contrastively or parameter-efficiently among the records")]
    out += _from_effects("lab", results, _chapter("shape_bias"), "fine-tuning", "shape-bias drop", "seeds x images",
                         role="family") or \
        [row("lab", "", note="chapter 04 wrote no difference of fine-tuning drops (the zoo lacks the contrastive "
                             "and parameter-efficient fine-tunes)")]
    out.append(row("live", "", note="no live contrastive or parameter-efficient fine-tunes in this build"))
    return out


# -- C11, C12: calibration in the lab ----------------------------------------------------------------

def _lab_calibration(results: Path) -> pd.DataFrame | None:
    cal = _read(results, _chapter("calibration"), "lab_calibration")
    need = {"recipe", "prompts", "seed", "set", "scaling", "ece", "accuracy"}
    return cal if cal is not None and need <= set(cal.columns) else None


def ece_residuals(cal: pd.DataFrame) -> pd.DataFrame:
    """Per (recipe, seed): ECE on lab-val at T=1 minus the zoo's linear accuracy-to-ECE trend (over every recipe and
    seed): the calibration a model has beyond what its accuracy predicts."""
    from ..effects import trend_residuals

    c = cal[(cal["set"] == "lab-val") & (cal["scaling"] == "none") & (cal["prompts"] == "ensemble")]
    c = c.groupby(["recipe", "seed"], as_index=False)[["accuracy", "ece"]].mean()
    c["value"] = trend_residuals(c["accuracy"], c["ece"])
    return c


@evidence("C11")
def c11(results: Path, records_root=None) -> list[dict]:
    from ..lab import zoo

    out = [row("records", "", note="the records hold no per-model ECE by training source")]
    cal = _lab_calibration(results)
    if cal is not None:
        res = ece_residuals(cal)
        fam = [r for r in zoo.names() if zoo.recipe(r).factor in ("data", "size") and r in set(res["recipe"])]
        for r in fam:
            out.append(_res("lab", f"ECE on lab-val beyond the zoo's accuracy trend, {r} vs base",
                            _lab_seed_contrast(res, r, "base"), role="family", unit="seeds"))
    if not any(r["source"] == "lab" for r in out):
        out.append(row("lab", "", note="chapter 05 wrote no lab calibration table"))
    out.append(row("live", "", note="no live calibration contrast by training source in this build"))
    return out


@evidence("C12")
def c12(results: Path, records_root=None) -> list[dict]:
    out = [row("records", "", note="the records hold no ECE before and after temperature scaling")]
    tr = _read(results, _chapter("calibration"), "lab_transfer")
    if tr is not None and {"recipe", "prompts", "seed", "shifted", "ece_none", "ece_id"} <= set(tr.columns):
        s = tr[(tr["prompts"] == "ensemble") & tr["shifted"].astype(bool)]
        d = (s["ece_id"] - s["ece_none"]).groupby([s["recipe"], s["seed"]]).mean().rename("d").reset_index()
        b = d[d["recipe"] == "base"].sort_values("seed")["d"].to_numpy()
        out.append(_res("lab", f"ECE under the 4 lab shifts with the lab-val temperature minus at T=1, base, over "
                               f"{len(b)} seeds", _one_sample_t(b), unit="seeds"))
        allr = d.groupby("recipe")["d"].mean().to_numpy()
        from ..effects import bootstrap_mean

        out.append(_res("lab", f"the same, every recipe (mean over seeds), bootstrap over {len(allr)} recipes",
                        bootstrap_mean(allr), role="secondary", unit="recipes"))
    else:
        out.append(row("lab", "", note="chapter 05 wrote no lab transfer table"))
    out.append(row("live", "", note="live calibration transfer is read in chapter 05, not judged here"))
    return out


# ---- judging -------------------------------------------------------------------------------------

def _too_small(r: pd.Series) -> bool:
    return r["unit"] in BOOTSTRAP_UNITS and np.isfinite(r["n"]) and r["n"] < MIN_UNITS


def evidence_rows(results: str | Path, ids: Iterable[str] | None = None, records_root=None) -> pd.DataFrame:
    """Every evidence row of the claims `ids` (default: all), with its per-row verdict.

    A bootstrap over fewer than MIN_UNITS units loses its interval (verdict inconclusive, caveat 'n too small');
    a family gets Holm-adjusted p-values (`p_holm`) and one verdict for all its rows (`family_verdict`)."""
    results = Path(results)
    rows = []
    for cid in (list(ids) if ids is not None else list(listing()["id"])):
        for fn in EVIDENCE.get(cid, []):
            for r in fn(results, records_root):
                rows.append(dict(r, id=r.get("id", cid)))
    df = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
    if ids is not None:
        df = df[df["id"].isin(list(ids))]
    # an evidence function registered for two claims (C5, C6) runs for each: keep its rows once
    df = df.drop_duplicates(["id", "source", "role", "measured"]).reset_index(drop=True)
    for c in ("note", "caveat", "unit", "measured"):
        df[c] = df[c].fillna("").astype(str)
    small = (df.apply(_too_small, axis=1) | df["caveat"].str.startswith("n too small")) if len(df) \
        else pd.Series(dtype=bool)
    df.loc[small, ["ci_low", "ci_high", "p"]] = np.nan
    df.loc[small, "caveat"] = [c if c else f"n too small: {int(n)} {u} (under {MIN_UNITS}, no bootstrap interval)"
                               for c, n, u in zip(df.loc[small, "caveat"], df.loc[small, "n"], df.loc[small, "unit"])]
    # a row without a p of its own: read it back from its interval (normal approximation)
    miss = df["p"].isna() & df["ci_low"].notna()
    df.loc[miss, "p"] = [p_from_interval(e, lo, hi) for e, lo, hi in df.loc[miss, ["effect", "ci_low", "ci_high"]].to_numpy()]
    df["p_holm"] = np.nan
    df["verdict"] = ""
    for i, r in df.iterrows():
        rule = RULES[r["id"]]
        if small[i] if len(small) else False:
            df.at[i, "verdict"] = "inconclusive" if np.isfinite(r["effect"]) else "not measured"
        elif r["role"] != "family":
            df.at[i, "verdict"] = verdict(rule, r["effect"], r["ci_low"], r["ci_high"])
    fam = df[df["role"] == "family"]
    for (cid, src), g in fam.groupby(["id", "source"]):
        adj = holm(g["p"].to_numpy())
        df.loc[g.index, "p_holm"] = adj
        df.loc[g.index, "verdict"] = family_verdict(RULES[cid], g["effect"], adj)
    return df


def _primary(e: pd.DataFrame) -> pd.Series | None:
    """The row a source's cell shows: its primary, or the family member with the smallest Holm p."""
    prim = e[e["role"] == "primary"]
    if len(prim):
        return prim.iloc[0]
    fam = e[e["role"] == "family"]
    if len(fam):
        return fam.loc[fam["p_holm"].fillna(2.0).idxmin()] if fam["p_holm"].notna().any() else fam.iloc[0]
    return None


def _contrast(measured: str) -> str:
    """The short name of a contrast from its description: `metric: A vs B (caveat)` or `metric, A vs B` -> `A vs B`."""
    m = re.search(r"([\w.-]+ vs [\w.-]+)", measured) or re.search(r"(\w+ minus [\w-]+)", measured)
    return m.group(1) if m else measured


def _fmt(x: float) -> str:
    return f"{x:+.3f}"


def cell(r: pd.Series | None, family: pd.DataFrame | None = None) -> str:
    """A source's cell: effect [95% interval], n and unit; a family says how many contrasts were tried and how
    many differ after Holm; an inconclusive effect says the smallest effect it could have detected."""
    if r is None or not np.isfinite(r["effect"]):
        return "—"
    unit = f"n={int(r['n'])} {r['unit']}".strip() if np.isfinite(r["n"]) else str(r["unit"])
    if np.isfinite(r["ci_low"]):
        s = f"{_fmt(r['effect'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}], {unit}"
    else:
        s = f"{_fmt(r['effect'])} (no interval), {unit}"
    if family is not None and len(family) > 1:
        k = int((family["p_holm"] < ALPHA).sum())
        shown = _contrast(r["measured"])
        s += f"; family of {len(family)} contrasts, {k} differ after Holm (shown: {shown})"
    if r["verdict"] == "inconclusive" and np.isfinite(r["ci_low"]):
        s += f"; no effect larger than ±{(r['ci_high'] - r['ci_low']) / 2:.3f} detected"
    return s


def caveat(e: pd.DataFrame, v: dict[str, str]) -> str:
    """One computed caveat for a claim, where one applies: n too small, a proxy metric, lab only."""
    judged = e[e["role"] != "secondary"]
    for text in judged["caveat"]:
        if text:
            return text
    measured = [s for s, x in v.items() if x != "not measured"]
    if measured == ["lab"]:
        return "lab only: no real model measured this claim in this build"
    return ""


# A build whose live numbers are a pipeline check (`live.mark_live_evidence`: random weights) shows each live
# cell with this mark; its verdict is this word and it never enters a claim's overall verdict.
PIPELINE_CAVEAT = "pipeline check (random weights), not a finding"
PIPELINE_VERDICT = "pipeline check"


def judge_results(results: str | Path, ids: Iterable[str] | None = None, records_root=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims table, evidence rows): one row per claim with its operational definition, each source's primary
    effect (n, unit, interval) and verdict, the overall verdict (real models first, see `overall`), one caveat and
    words computed from the verdicts."""
    from ..config import live_pipeline_check

    ev = evidence_rows(results, ids, records_root)
    check = live_pipeline_check(results)  # the build's mark: its live numbers are a pipeline check
    if check:
        live = ev["source"] == "live"
        ev.loc[live & ev["effect"].map(np.isfinite), "verdict"] = PIPELINE_VERDICT
        ev.loc[live, "caveat"] = [PIPELINE_CAVEAT + (f"; {c}" if c else "") for c in ev.loc[live, "caveat"]]
    rows = []
    for c in listing().itertuples():
        if ids is not None and c.id not in set(ids):
            continue
        e = ev[ev["id"] == c.id]
        v = {}
        row_ = dict(id=c.id, axis=c.axis, factor=c.factor, claim=c.claim, definition=c.metric, expected=c.expected,
                    rule=c.rule)
        for s in SOURCES:
            es = e[e["source"] == s]
            p = _primary(es)
            fam = es[es["role"] == "family"]
            v[s] = p["verdict"] if p is not None and np.isfinite(p["effect"]) else "not measured"
            row_[s] = cell(p, fam if len(fam) else None)
            row_[f"{s}_verdict"] = v[s]
            if s == "live" and check and v[s] != "not measured":  # shown, marked, and never judged
                row_[s] = f"{PIPELINE_CAVEAT}: {row_[s]}"
                v[s] = "not measured"
            row_[f"{s}_unit"] = p["unit"] if p is not None else ""
        row_["verdict"] = overall(v)
        row_["caveat"] = caveat(e[e["source"] != "live"] if check else e, v)
        row_["words"] = words(c.id, v, e)
        if row_["live_verdict"] == PIPELINE_VERDICT:
            row_["words"] += f" Live: {PIPELINE_CAVEAT} (its number is shown, not judged)."
        rows.append(row_)
    return pd.DataFrame(rows), ev


def words(cid: str, v: dict[str, str], e: pd.DataFrame | None = None) -> str:
    """A sentence from the per-source verdicts: where real models and the lab agree or disagree, and for each
    inconclusive source the smallest effect it could have detected."""
    measured = {s: x for s, x in v.items() if x != "not measured"}
    if not measured:
        return "Not measured in this build."
    parts = []
    for s, x in measured.items():
        if x != "inconclusive":
            parts.append(f"{s}: {x}")
            continue
        p = _primary(e[e["source"] == s]) if e is not None else None
        if p is not None and np.isfinite(p["ci_low"]):
            parts.append(f"{s}: no effect larger than ±{(p['ci_high'] - p['ci_low']) / 2:.3f} detected")
        elif p is not None and "n too small" in str(p["caveat"]):
            parts.append(f"{s}: inconclusive (n too small)")
        else:
            parts.append(f"{s}: no detectable effect")
    real = {v.get("records"), v.get("live")} - {"not measured", None}
    lab = v.get("lab", "not measured")
    tail = ""
    if lab in ("agrees", "disagrees") and real & {"agrees", "disagrees"} and lab not in real:
        tail = " The lab and the real models point opposite ways: the lab's rendered world and tiny CLIPs may " \
               "not carry the mechanism the real models show."
    return "; ".join(parts) + "." + tail


def show(results: str | Path, ids: Iterable[str], records_root=None) -> pd.DataFrame:
    """A chapter's own claims: its rows of the claims table, displayed with their computed words.

    Call it at the end of a chapter, once its effects are written; the claims page repeats them all.
    """
    table, _ = judge_results(results, ids=list(ids), records_root=records_root)
    tables.show(table[["id", "claim", "records", "lab", "live", "verdict", "caveat"]])
    for r in table.itertuples():
        chapter.finding(f"{r.id}: {r.claim}. Verdict: **{r.verdict}**. {r.words}")
    return table


# ---- the claims page (notebooks/11_claims.py) ----------------------------------------------------

def judge(ch: chapter.Chapter, ids: Iterable[str] | None = None,
          records_root=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every claim's verdict and the evidence of each source, saved as the chapter's `claims` and
    `claims_evidence` tables (`judge_results` judges a results folder without a chapter).

    A results folder in place of the chapter is the old `clipstudy.claims.judge(results, ids, records_root)`:
    it still returns `judge_results`'s answer, with a DeprecationWarning."""
    if isinstance(ch, (str, Path)):
        warnings.warn("clipstudy.claims.judge(results, ...) is deprecated: use "
                      "clipstudy.axes.claims.judge_results", DeprecationWarning, stacklevel=2)
        return judge_results(ch, ids, records_root)
    chapter.records_ready()
    table, evidence = judge_results(ch.results_dir, ids, records_root)
    ch.save(table, "claims")
    ch.save(evidence, "claims_evidence")
    return table, evidence


def verdicts(table: pd.DataFrame) -> None:
    """The verdict table: one row per claim, each source's primary effect in one cell."""
    display(table[["id", "claim", "records", "lab", "live", "verdict", "caveat"]])


def forest(ch: chapter.Chapter, evidence: pd.DataFrame) -> None:
    """The judged effects (primaries and family members; secondaries left out) as a forest plot."""
    ev = evidence[evidence["role"] != "secondary"].copy()
    k = ev.groupby(["id", "source"]).cumcount() + 1
    size = ev.groupby(["id", "source"])["id"].transform("size")
    ev["label"] = ev["id"] + " · " + ev["source"] + np.where(size > 1, " (" + k.astype(str) + "/" + size.astype(str)
                                                             + ")", "")
    fig, ax = plots.claims_forest(ev)
    ch.figure(fig, ev, "claims_forest")
    show_figure()


def audit(table: pd.DataFrame, evidence: pd.DataFrame) -> None:
    """Per claim: the paper's sentence, our operational definition, and per source what was measured, its
    effect with n, unit and interval, its role and verdict (Holm-adjusted p for a family), and the caveat."""
    for c in table.itertuples():
        e = evidence[evidence["id"] == c.id]
        lines = [f"### {c.id}: {c.claim}", "",
                 f"*Operational definition.* {c.definition}. Expected: {c.expected} (rule: {c.rule}).", ""]
        for s in SOURCES:
            es = e[e["source"] == s]
            measured = es[np.isfinite(es["effect"])]
            if measured.empty:
                why = "; ".join(n for n in es["note"] if n) or "no evidence"
                lines.append(f"- **{s}**: not measured ({why}).")
                continue
            lines.append(f"- **{s}** ({getattr(c, s + '_verdict')}):")
            for r in measured.itertuples():
                p = (f", Holm p={r.p_holm:.3f}" if r.role == "family" and np.isfinite(r.p_holm) else
                     f", p={r.p:.3f}" if np.isfinite(r.p) else "")
                ci = f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]" if np.isfinite(r.ci_low) else "no interval"
                n = f"n={int(r.n)} {r.unit}" if np.isfinite(r.n) else r.unit
                lines.append(f"  - {r.role}: {r.measured}: {r.effect:+.3f} {ci}, {n}{p}."
                             + (f" *{r.caveat}.*" if r.caveat else ""))
        lines += ["", f"**Verdict: {c.verdict}.** {c.words}" + (f" Caveat: {c.caveat}." if c.caveat else "")]
        chapter.markdown("\n".join(lines))


def measured(evidence: pd.DataFrame) -> None:
    """What each source measured for each claim, or why it measured nothing."""
    display(evidence[["id", "source", "role", "verdict", "measured", "unit", "note"]])
