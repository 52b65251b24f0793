"""The paper's claims, each judged from the effects this build computed: records, lab and live.

`clipstudy/claims.csv` lists the claims (ids, axis, factor, our wording, the effect that tests each, the
expected direction), as `../shared/paper_claims.csv` gives them. Each claim has evidence functions, one
registry entry per claim, that read what the chapters wrote (`<results>/<chapter>/effects.csv` and their
tables) or the published records, and return one row per source with the effect, its n and its 95%
interval. `verdict` turns a row into agrees / disagrees / inconclusive / not measured by the claim's rule;
`judge` makes the claims table, whose words come from those numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from .analysis.effects import bootstrap_mean, verdict as sign_verdict
from .errors import UnknownNameError

SOURCES = ("records", "lab", "live")
VERDICTS = ("agrees", "disagrees", "inconclusive", "not measured")
NEAR_ZERO = 0.05  # C9's "near zero": the whole interval within ±0.05 (metric units)
COLUMNS = ["id", "source", "effect", "n", "ci_low", "ci_high", "measured", "note"]


def listing() -> pd.DataFrame:
    """The claims to judge (id, axis, factor, claim, effect, expected, source)."""
    return pd.read_csv(Path(__file__).with_name("claims.csv"))


# The rule of each claim's expected direction: a sign, two-sided ("differ"), or equivalence ("near zero").
RULES: dict[str, str] = {"C1": "differ", "C2": "positive", "C3": "negative", "C4": "positive", "C5": "positive",
                         "C6": "negative", "C7": "differ", "C8": "positive", "C9": "near zero"}


def verdict(rule: str, effect: float, ci_low: float, ci_high: float) -> str:
    """agrees / disagrees / inconclusive / not measured for one evidence row under a claim's rule.

    positive / negative: the interval excludes 0 on the expected / the other side, else inconclusive.
    differ: agrees when the interval excludes 0 on either side, else inconclusive (it cannot disagree:
    no difference is never shown, only not detected). near zero: agrees when the whole interval lies
    within ±NEAR_ZERO, disagrees when it excludes 0, else inconclusive. No interval: not measured.
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
EVIDENCE: dict[str, list[Evidence]] = {}


def evidence(*ids: str) -> Callable[[Evidence], Evidence]:
    """Register a function as evidence for claims `ids`; it returns rows with the COLUMNS (id added here)."""
    def wrap(fn: Evidence) -> Evidence:
        for i in ids:
            EVIDENCE.setdefault(i, []).append(fn)
        return fn
    return wrap


def row(source: str, measured: str, effect: float = np.nan, n: float = np.nan, ci: tuple = (np.nan, np.nan),
        note: str = "") -> dict:
    return dict(source=source, effect=float(effect), n=float(n), ci_low=float(ci[0]), ci_high=float(ci[1]),
                measured=measured, note=note)


def _chapter(axis_key: str) -> str:
    """The results folder (the chapter) of an axis in the axis registry; an unknown key raises."""
    from .axes import REGISTRY, all_axes

    if axis_key not in REGISTRY:
        all_axes()
    if axis_key not in REGISTRY:
        raise UnknownNameError("axis", axis_key, list(REGISTRY))
    return REGISTRY[axis_key].chapter


def _read(results: Path, chapter: str, table: str) -> pd.DataFrame | None:
    p = results / chapter / f"{table}.csv"
    try:
        return pd.read_csv(p) if p.exists() and p.stat().st_size else None
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return None


def _effect_rows(results: Path, chapter: str, factor: str, metric_prefix: str, source: str) -> pd.DataFrame:
    e = _read(results, chapter, "effects")
    if e is None or e.empty:
        return pd.DataFrame()
    for c in ("n", "ci_low", "ci_high"):
        if c not in e.columns:
            e[c] = np.nan
    return e[(e["factor"] == factor) & (e["source"] == source) & e["metric"].astype(str).str.startswith(metric_prefix)]


def _strongest(rows: pd.DataFrame) -> pd.Series:
    """The contrast whose interval lies furthest from 0 (else the largest effect): a two-sided claim holds
    if any contrast differs, and the table shows that one."""
    gap = np.minimum(rows["ci_low"].abs(), rows["ci_high"].abs()).where(
        np.sign(rows["ci_low"]) == np.sign(rows["ci_high"]), 0.0).fillna(-1.0)
    return rows.loc[(gap + 1e-9 * rows["effect"].abs().fillna(0)).idxmax()]


def _from_effects(source: str, results: Path, chapter: str, factor: str, metric: str, pick: str = "first",
                  comparison: str | None = None) -> dict | None:
    rows = _effect_rows(results, chapter, factor, metric, source)
    if comparison is not None and len(rows):
        rows = rows[rows["comparison"].astype(str).str.startswith(comparison)]
    if rows.empty:
        return None
    r = _strongest(rows) if pick == "strongest" else rows.iloc[0]
    others = len(rows) - 1
    return row(source, f"{r['metric']}: {r['comparison']}", r["effect"], r["n"], (r["ci_low"], r["ci_high"]),
               f"strongest of {len(rows)} contrasts" if pick == "strongest" and others else "")


def _wilson(hits: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (over images)."""
    if n <= 0:
        return (np.nan, np.nan)
    p = hits / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (c - h, c + h)


def _records_claim(results: Path, cid: str) -> dict:
    """The records row chapter 04 wrote for a shape-bias claim (`analysis.shape_bias.claims`)."""
    rc = _read(results, _chapter("shape_bias"), "records_claims")
    r = rc[rc["id"] == cid] if rc is not None and "id" in rc.columns else pd.DataFrame()
    if r.empty:
        return row("records", "", note="records missing: run `clipstudy fetch records`")
    r = r.iloc[0]
    return row("records", str(r["measured"]), r["effect"], r["n"], (r["ci_low"], r["ci_high"]))


@evidence("C1")
def c1(results: Path, records_root=None) -> list[dict]:
    out = [row("records", "", note="no published per-model 3D-corruption results among the records")]
    for source in ("lab", "live"):
        r = _from_effects(source, results, _chapter("threed"), "architecture", "accuracy under 3D", "strongest")
        out.append(r or row(source, "", note="chapter 08 wrote no architecture effect on 3D corruptions"))
    return out


@evidence("C2")
def c2(results: Path, records_root=None) -> list[dict]:
    out = [_records_claim(results, "C2")]
    lab = _read(results, _chapter("shape_bias"), "lab_shape_bias")
    if lab is not None and {"recipe", "prompts", "shape_hits", "texture_hits"} <= set(lab.columns):
        b = lab[(lab["recipe"] == "base") & (lab["prompts"] == "ensemble")]
        if "seed" in b.columns and b["seed"].nunique() > 1:  # over seeds
            s = bootstrap_mean((b["shape_bias"] - 0.5).to_numpy())
            out.append(row("lab", "shape bias of the base lab CLIP minus 0.5, over seeds", s["effect"], s["n"],
                           (s["ci_low"], s["ci_high"])))
        elif len(b):
            hits, n = float(b["shape_hits"].sum()), float(b["shape_hits"].sum() + b["texture_hits"].sum())
            lo, hi = _wilson(hits, n)
            out.append(row("lab", "shape bias of the base lab CLIP minus 0.5 (Wilson interval over its conflict "
                           "decisions)", hits / n - 0.5 if n else np.nan, n, (lo - 0.5, hi - 0.5)))
    if len(out) < 2:
        out.append(row("lab", "", note="chapter 04 wrote no lab shape-bias table"))
    out.append(row("live", "", note="live shape bias is not part of this build"))
    return out


@evidence("C3")
def c3(results: Path, records_root=None) -> list[dict]:
    out = [_records_claim(results, "C3")]
    out.append(_from_effects("lab", results, _chapter("shape_bias"), "fine-tuning", "shape bias")
               or row("lab", "", note="chapter 04 wrote no lab fine-tuning effect"))
    out.append(_from_effects("live", results, _chapter("shape_bias"), "fine-tuning", "shape bias")
               or row("live", "", note="live shape bias is not part of this build"))
    return out


def _paired_gain(a: pd.DataFrame) -> tuple[float, float, float]:
    """(gain, its variance, n) of LMM minus CLIP two-choice accuracy over the rows of one comparison table,
    paired over images (McNemar's variance of a paired difference of proportions)."""
    n = float(a["n"].sum())
    lm, cl, both = (a["acc_lmm"] * a["n"]).sum(), (a["acc_clip"] * a["n"]).sum(), a["n_both"].sum()
    b, c = lm - both, cl - both  # LMM right only, CLIP right only
    d = (b - c) / n
    return d, max(b + c - (b - c) ** 2 / n, 0.0) / n ** 2, n


def _lmm_gain(table: pd.DataFrame | None, source: str, who: str) -> dict | None:
    """LMM minus its own CLIP on two-choice accuracy, paired over images (McNemar's variance).

    With a `seed` column (one (CLIP, LMM) pair per training seed), the effect is the mean over seeds and its
    interval adds the seed-to-seed variance of the mean to the images' (t quantile, seeds - 1 df)."""
    from scipy import stats

    if table is None or not {"acc_lmm", "acc_clip", "n", "n_both", "group", "clip_full"} <= set(table.columns):
        return None
    a = table[(table["group"] == "all") & (table["clip_full"] == "all")]
    if "recipe" in a.columns:
        a = a[a["recipe"] == "base"]
    a = a.dropna(subset=["acc_lmm", "acc_clip"])
    if a.empty:
        return None
    if "seed" not in a.columns or a["seed"].nunique() < 2:
        d, v, n = _paired_gain(a)
        return row(source, f"two-choice accuracy, {who} minus its own CLIP (paired over images)", d, n,
                   (d - 1.96 * np.sqrt(v), d + 1.96 * np.sqrt(v)))
    per = [_paired_gain(g) for _, g in a.groupby("seed")]
    d = np.array([x[0] for x in per])
    k = len(d)
    var = d.var(ddof=1) / k + float(np.mean([x[1] for x in per]))  # seeds, plus the images' (shared by seeds)
    half = float(stats.t.ppf(0.975, k - 1)) * np.sqrt(var)
    return row(source, f"two-choice accuracy, {who} minus its own CLIP (paired over images; mean of {k} "
                       "training seeds)", float(d.mean()), float(per[0][2]) * k, (d.mean() - half, d.mean() + half))


@evidence("C4")
def c4(results: Path, records_root=None) -> list[dict]:
    return [row("records", "", note="the records hold LMM decisions on cue-conflict (shape bias, chapter 09), "
                                    "not accuracy on hard categories"),
            _lmm_gain(_read(results, _chapter("lmm"), "lab_gains"), "lab", "the mini-LLaVA")
            or row("lab", "", note="chapter 09 wrote no lab comparison"),
            _lmm_gain(_read(results, _chapter("lmm"), "live_gains"), "live", "LLaVA on ImageNet-D")
            or row("live", "", note="no live LLaVA and ImageNet-D in this build")]


def _imagenet_x_er(records_root=None) -> pd.DataFrame:
    """Per-model, per-factor ER of the zero-shot CLIPs and the baseline ImageNet models (ImageNet-X)."""
    from . import records

    f = records.imagenet_x_factors(records_root)
    f = f[(f["group"] == records.ZS_CLIP) | f["baseline"]]
    return f.assign(clip=f["group"] == records.ZS_CLIP)


def _factor_gaps(er: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> tuple[pd.Series, np.ndarray]:
    """CLIP minus ImageNet mean ER per factor, and its bootstrap over models (both groups resampled)."""
    w = er.pivot_table(index=["model", "testbed", "clip"], columns="factor", values="er").reset_index()
    factors = [c for c in w.columns if c not in ("model", "testbed", "clip")]
    c, b = w[w["clip"]][factors].to_numpy(float), w[~w["clip"]][factors].to_numpy(float)
    gaps = pd.Series(np.nanmean(c, 0) - np.nanmean(b, 0), index=factors)
    rng = np.random.default_rng(seed)
    boot = np.stack([np.nanmean(c[rng.integers(0, len(c), len(c))], 0) - np.nanmean(b[rng.integers(0, len(b), len(b))], 0)
                     for _ in range(n_boot)])
    return gaps, boot


@evidence("C5", "C6")
def c5_c6(results: Path, records_root=None) -> list[dict]:
    from .errors import ClipstudyError

    try:
        er = _imagenet_x_er(records_root)
    except ClipstudyError as e:
        why = f"records missing ({type(e).__name__}): run `clipstudy fetch records`"
        return [dict(row("records", "", note=why), id=i) for i in ("C5", "C6")]
    gaps, boot = _factor_gaps(er)
    n = int(er[er["clip"]].drop_duplicates(["model", "testbed"]).shape[0])
    share = float((gaps > 0).mean()) - 0.5
    sb = (boot > 0).mean(axis=1) - 0.5
    lo, hi = np.quantile(sb, [0.025, 0.975])
    on = [f for f in ("pose", "partial_view") if f in gaps.index]
    pv = gaps[on].mean()
    pb = boot[:, [list(gaps.index).index(f) for f in on]].mean(axis=1)
    note = (f"{n} zero-shot CLIP rows (OpenAI ViT-B/32 and RN50, each in two testbeds) against "
            f"{int((~er['clip']).groupby(er['model']).any().sum())} ImageNet models; bootstrap over models")
    return [dict(row("records", f"share of the {len(gaps)} ImageNet-X factors where CLIP's per-factor ER is above "
                     f"the ImageNet models' ({(gaps > 0).sum()} of {len(gaps)}), minus 0.5", share, n, (lo, hi),
                     note), id="C5"),
            dict(row("records", "CLIP minus ImageNet models, per-factor ER, mean of pose and partial_view", pv, n,
                     tuple(np.quantile(pb, [0.025, 0.975])), note), id="C6"),
            *[dict(row(s, "", note="ImageNet-X factors are measured on the records only in this build"), id=i)
              for i in ("C5", "C6") for s in ("lab", "live")]]


@evidence("C7")
def c7(results: Path, records_root=None) -> list[dict]:
    out = [row("records", "", note="the ImageNet-X records hold OpenAI CLIPs only: no second training source")]
    out.append(_from_effects("lab", results, _chapter("visual_factors"), "training distribution", "", "strongest")
               or row("lab", "", note="chapter 03 wrote no lab training-distribution effect"))
    out.append(_from_effects("live", results, _chapter("visual_factors"), "training distribution", "", "strongest")
               or row("live", "", note="no live ImageNet-X evaluation in this build"))
    return out


@evidence("C8")
def c8(results: Path, records_root=None) -> list[dict]:
    from scipy.stats import spearmanr

    out = [row("records", "", note="the records hold no OOD-detection AUROC per model")]
    det = _read(results, _chapter("ood"), "lab_detection")
    if det is not None and {"model", "method", "ood", "auroc", "id_acc"} <= set(det.columns):
        d = det[(det["method"] == "mcm") & (det["ood"] == "all") & (det["prompts"] == "ensemble")
                & ~det["model"].astype(str).str.startswith("data-")]
        d = d.groupby("model")[["id_acc", "auroc"]].mean().dropna()
        if len(d) >= 4:
            rho = float(spearmanr(d["id_acc"], d["auroc"]).statistic)
            rng = np.random.default_rng(0)
            boots = []
            for _ in range(2000):
                s = d.iloc[rng.integers(0, len(d), len(d))]
                if s["id_acc"].nunique() > 1 and s["auroc"].nunique() > 1:
                    boots.append(spearmanr(s["id_acc"], s["auroc"]).statistic)
            lo, hi = np.nanquantile(boots, [0.025, 0.975]) if boots else (np.nan, np.nan)
            out.append(row("lab", "Spearman rank correlation of lab-val accuracy with MCM AUROC over the lab "
                           "recipes that share the base training data (bootstrap over recipes)", rho, len(d),
                           (lo, hi)))
    if len(out) < 2:
        out.append(row("lab", "", note="chapter 06 wrote no lab detection table"))
    out.append(row("live", "", note="no live OOD detection in this build"))
    return out


@evidence("C9")
def c9(results: Path, records_root=None) -> list[dict]:
    why = "no CLIP fine-tuned contrastively or parameter-efficiently in the records or the lab zoo"
    return [row(s, "", note=why) for s in SOURCES]


# ---- the table --------------------------------------------------------------------------------------

def evidence_rows(results: str | Path, ids: Iterable[str] | None = None, records_root=None) -> pd.DataFrame:
    """Every evidence row of the claims `ids` (default: all), with its per-source verdict."""
    results = Path(results)
    rule_of = RULES
    rows = []
    for cid in (list(ids) if ids is not None else list(listing()["id"])):
        for fn in EVIDENCE.get(cid, []):
            for r in fn(results, records_root):
                rows.append(dict(r, id=r.get("id", cid)))
    df = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
    if ids is not None:
        df = df[df["id"].isin(list(ids))]
    df = df.drop_duplicates(["id", "source"]).reset_index(drop=True)
    df["verdict"] = [verdict(rule_of[r.id], r.effect, r.ci_low, r.ci_high) for r in df.itertuples()]
    return df


def _cell(r: pd.Series) -> str:
    if not np.isfinite(r["effect"]):
        return "—"
    ci = f" [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]" if np.isfinite(r["ci_low"]) else " (no interval)"
    return f"{r['effect']:+.3f}{ci}" + (f", n={r['n']:.0f}" if np.isfinite(r["n"]) else "")


def judge(results: str | Path, ids: Iterable[str] | None = None, records_root=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims table, evidence rows): one row per claim with each source's effect and interval, each source's
    verdict, an overall verdict (real models first, see `overall`) and computed words."""
    ev = evidence_rows(results, ids, records_root)
    rows = []
    for c in listing().itertuples():
        if ids is not None and c.id not in set(ids):
            continue
        e = ev[ev["id"] == c.id].set_index("source")
        v = {s: (e.loc[s, "verdict"] if s in e.index else "not measured") for s in SOURCES}
        row_ = dict(id=c.id, axis=c.axis, factor=c.factor, claim=c.claim, expected=c.expected)
        for s in SOURCES:
            row_[s] = _cell(e.loc[s]) if s in e.index else "—"
            row_[f"{s}_verdict"] = v[s]
        row_["verdict"] = overall(v)
        unjudged = [s for s in SOURCES if s in e.index and v[s] == "not measured" and np.isfinite(e.loc[s, "effect"])]
        row_["words"] = words(c.id, v) + "".join(f" The {s} effect has no interval (one run), so it is not judged."
                                                 for s in unjudged)
        rows.append(row_)
    return pd.DataFrame(rows), ev


def words(cid: str, v: dict[str, str]) -> str:
    """A sentence from the per-source verdicts: where real models and the lab agree or disagree."""
    measured = {s: x for s, x in v.items() if x != "not measured"}
    if not measured:
        return "Not measured in this build."
    parts = [f"{s}: {'no detectable effect' if x == 'inconclusive' else x}" for s, x in measured.items()]
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
    from . import chapter

    table, _ = judge(results, ids=list(ids), records_root=records_root)
    try:
        from IPython.display import display

        display(table[["id", "claim", "records", "lab", "live", "verdict"]].style.hide(axis="index"))
    except ImportError:
        print(table[["id", "records", "lab", "live", "verdict"]].to_string(index=False))
    for r in table.itertuples():
        chapter.finding(f"{r.id}: {r.claim}. Verdict: **{r.verdict}**. {r.words}")
    return table
