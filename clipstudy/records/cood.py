"""Class-out-of-distribution detection records of Galil, Dabbah & El-Yaniv (ICLR 2023), and their analyses.

`load_cood` (`records.load("cood_benchmarking")`) reads `cood_benchmarking/paper_results/all_paper_results.csv`:
one row per (model, confidence function, severity level). ID is ImageNet-1k val; OOD is a filtered set of
ImageNet-21k classes split, per model, into 11 severity levels (0 easiest to 10 hardest). Per row:
`ood_auroc` (ID vs that severity's OOD classes), `ood_avg_conf`, and the ID columns repeated on each row of a
(model, confidence function): `id_acc` (top-1), `id_auroc` (misclassification detection), `id_avg_conf` (mean
confidence on ImageNet val, in the function's units: a probability for `softmax`). Models: 690 ImageNet
classifiers, 9 OpenAI zero-shot CLIPs (`CLIP_<arch>`) and 7 of them fine-tuned on ImageNet
(`CLIP_finetuned_<arch>`, recipe unknown); tags: `tags.cood_tags`.

The analyses work on one point per model (`cood_points`: one confidence function, AUROC averaged over the 11
severity levels) and return a dict with `effect, n, ci_low, ci_high, measured, unit, note`; with fewer than
`MIN_UNITS` units there is no interval (NaN) and the note says "n too small". Bootstraps use fixed seeds.

- `c8_records` / `c8_secondary`: Spearman of ID accuracy with AUROC among the zero-shot CLIPs (one training
  source: OpenAI's WIT), softmax primary, every confidence function secondary;
- `c13_records` / `c13_pairs`: each fine-tuned CLIP minus its zero-shot parent in AUROC, beyond the change the
  zero-shot CLIPs' accuracy->AUROC line predicts;
- `c10_records`: the softmax confidence-accuracy gap (a published proxy for calibration error, not ECE) of the
  zero-shot CLIPs minus the ImageNet models' gap-vs-accuracy line at the same accuracy;
- `auroc_vs_imagenet`: a group's AUROC minus the ImageNet models' AUROC-vs-accuracy line (matched accuracy).

Two kinds of published rows are kept in the frame but left out of every fit, by rule, not by name: models at
chance ID accuracy (`id_acc` < `CHANCE_FLOOR`: a failed evaluation; three EfficientNets in this file) and, for
the gap, mean max-softmax confidences within 10x of the uniform 1/1000 (`UNIFORM_FLOOR`) while accuracy is
not at chance: such a number is not the model's calibrated confidence (the 7 fine-tuned CLIPs: ~0.002 at
72-84% accuracy; the source does not say why).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..effects import MIN_UNITS
from ..errors import SchemaError
from . import tags as T
from .schema import describe, read_table
from .sources import check_published, require

FOLDER = "cood_benchmarking"
FILE = "paper_results/all_paper_results.csv"
SCHEMA = {"severity level": "num!", "percentile": "num!", "ood-auroc": "num!", "ood_avg_conf": "num!",
          "id-acc": "num!", "id-auroc": "num!", "id_avg_conf": "num!", "model name": "str",
          "confidence function": "str", "model name - confidence function": "str"}
RENAME = {"severity level": "severity", "ood-auroc": "ood_auroc", "id-acc": "id_acc", "id-auroc": "id_auroc",
          "model name": "model", "confidence function": "confidence"}
MEASURES = ["percentile", "ood_auroc", "ood_avg_conf", "id_acc", "id_auroc", "id_avg_conf"]
SEVERITIES = tuple(range(11))
SOFTMAX = "softmax"
CONFIDENCES = ("softmax", "entropy", "max_logit", "mcd_entropy", "odin_temperature-2_noise_mag-1e-05")
CHANCE_FLOOR = 0.01   # top-1 below this on 1000 classes (chance 0.001) is a failed evaluation
UNIFORM_FLOOR = 0.01  # a mean max-softmax below 10 x 1/1000 is not a calibrated confidence
N_BOOT, SEED = 4000, 0
KEYS = ("effect", "n", "ci_low", "ci_high", "measured", "unit", "note")


# ---- loading ---------------------------------------------------------------------------------------
def _bad(path, row: int, why: str) -> SchemaError:
    return SchemaError(f"{path}, row {row} (line {row + 1}): {why}.\nExpected schema (column:kind): "
                       f"{describe(SCHEMA)}")


def load_cood(root=None) -> pd.DataFrame:
    """Every row of all_paper_results.csv, tidy: source, model, confidence, severity (0-10), percentile, ood_auroc,
    ood_avg_conf, id_acc, id_auroc, id_avg_conf, parent (the zero-shot CLIP of a fine-tuned one), arch,
    pretrained, finetune_recipe, table, and the tag columns of `tags.TAG_COLUMNS` (group among them)."""
    from .tables import _open_clip_config

    path = require(FOLDER, root) / FILE
    df = read_table(path, SCHEMA, verify=False)
    sev = df["severity level"]
    bad = ~sev.isin(SEVERITIES)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise _bad(path, i + 1, f"'severity level' should be an integer 0-10, got {sev.iloc[i]!r}")
    combo = df["model name"] + "-" + df["confidence function"]
    bad = combo != df["model name - confidence function"]
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        got = df["model name - confidence function"].iloc[i]
        raise _bad(path, i + 1, f"'model name - confidence function' is {got!r}, not {combo.iloc[i]!r}")
    dup = df.duplicated(["model name", "confidence function", "severity level"])
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise _bad(path, i + 1, "a second row for the same (model name, confidence function, severity level)")
    check_published(path)  # after the checks above, whose errors name the row
    df = df.drop(columns="model name - confidence function").rename(columns=RENAME)
    df["severity"] = df["severity"].astype(int)
    df.insert(0, "source", FOLDER)
    df = df[["source", "model", "confidence", "severity", *MEASURES]]
    df["parent"] = df["model"].map(T.cood_parent)
    df["table"] = "all_paper_results"
    tags = {m: T.cood_tags(m, _open_clip_config(a) if (a := T.cood_clip_arch(m)) else None)
            for m in df["model"].unique()}
    tag_frame = pd.DataFrame([tags[m] for m in df["model"]])
    return pd.concat([df.reset_index(drop=True), tag_frame], axis=1)


# ---- one point per model ---------------------------------------------------------------------------
def cood_points(frame: pd.DataFrame, confidence: str = SOFTMAX) -> pd.DataFrame:
    """One row per model for one confidence function: id_acc, id_avg_conf, id_auroc, ood_auroc (mean over the
    severity levels, `n_severity` of them), gap_raw = id_avg_conf - id_acc and `gap` (the same where `gap_usable`,
    else NaN; meaningful for `softmax` only), group,
    parent, family, arch, data; `at_chance` and `gap_usable` (see the module docstring); and the ImageNet
    models' linear trends evaluated at each model's accuracy: `auroc_trend`, `auroc_residual`, `gap_trend`,
    `gap_residual` (fit over the ImageNet models not at chance; gap columns NaN where the gap is not usable)."""
    f = frame[frame["confidence"] == confidence]
    info = ["group", "parent", "family", "arch", "data", "finetuned"]
    g = f.groupby("model", sort=True)
    pts = g[["id_acc", "id_avg_conf", "id_auroc"]].first().join(g["ood_auroc"].mean()) \
        .join(g["severity"].nunique().rename("n_severity")).join(g[info].first()).reset_index()
    pts.insert(1, "confidence", confidence)
    pts["gap_raw"] = pts["id_avg_conf"] - pts["id_acc"]
    pts["gap"] = pts["gap_raw"]
    pts["at_chance"] = pts["id_acc"] < CHANCE_FLOOR
    pts["gap_usable"] = (confidence == SOFTMAX) & ~pts["at_chance"] & (pts["id_avg_conf"] >= UNIFORM_FLOOR)
    pts.loc[~pts["gap_usable"], "gap"] = np.nan
    base = pts[(pts["group"] == T.IMAGENET) & ~pts["at_chance"]]
    for value in ("auroc", "gap"):
        col = "ood_auroc" if value == "auroc" else "gap"
        b = base.dropna(subset=[col])
        trend = np.polyval(np.polyfit(b["id_acc"], b[col], 1), pts["id_acc"]) if len(b) >= 2 else np.nan
        pts[f"{value}_trend"] = np.where(pts[col].notna() & ~pts["at_chance"], trend, np.nan)
        pts[f"{value}_residual"] = pts[col] - pts[f"{value}_trend"]
    return pts


# ---- helpers ---------------------------------------------------------------------------------------
def _result(effect: float, n: int, ci: tuple[float, float], measured: str, unit: str, note: str = "") -> dict:
    """The analyses' dict; under MIN_UNITS units the interval is NaN and the note says n is too small."""
    lo, hi = ci
    if n < MIN_UNITS:
        lo = hi = np.nan
        note = f"n too small ({n} {unit} < {MIN_UNITS}): no interval is claimed" + (f"; {note}" if note else "")
    return dict(effect=float(effect), n=int(n), ci_low=float(lo), ci_high=float(hi), measured=measured, unit=unit,
                note=note)


def _interval(boot: np.ndarray) -> tuple[float, float]:
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return np.nan, np.nan
    return float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def _rowwise_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair of [B, n] arrays (average ranks for ties); NaN where a row is constant."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx ** 2).sum(axis=1) * (ry ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / np.where(den > 0, den, 1), np.nan)


def _rowwise_line(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept of each row pair of [B, n] arrays; NaN where x is constant."""
    mx, my = x.mean(axis=1, keepdims=True), y.mean(axis=1, keepdims=True)
    sxx = ((x - mx) ** 2).sum(axis=1)
    slope = np.where(sxx > 1e-15, ((x - mx) * (y - my)).sum(axis=1) / np.where(sxx > 1e-15, sxx, 1), np.nan)
    return slope, my[:, 0] - slope * mx[:, 0]


def _zero_shot(pts: pd.DataFrame) -> pd.DataFrame:
    return pts[(pts["group"] == T.ZS_CLIP) & ~pts["at_chance"]].dropna(subset=["id_acc", "ood_auroc"])


# ---- C8: ID accuracy tracks AUROC within one training source -----------------------------------------
def _spearman_effect(acc: np.ndarray, auroc: np.ndarray, n_boot: int, seed: int) -> tuple[float, tuple, int]:
    from scipy.stats import spearmanr

    n = len(acc)
    if n < 2:
        return np.nan, (np.nan, np.nan), 0
    rho = float(spearmanr(acc, auroc).statistic)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    boot = _rowwise_spearman(acc[idx], auroc[idx])  # degenerate resamples (a constant column) are NaN: skipped
    return rho, _interval(boot), int(np.isfinite(boot).sum())


def c8_records(frame: pd.DataFrame, confidence: str = SOFTMAX, n_boot: int = N_BOOT, seed: int = SEED) -> dict:
    """Spearman's rho of ImageNet accuracy with class-OOD AUROC (mean over the 11 severity levels) among the
    OpenAI zero-shot CLIPs (one training source), for one confidence function (primary: softmax). The 95%
    interval is a percentile bootstrap over the models (resamples with a constant column are skipped)."""
    z = _zero_shot(cood_points(frame, confidence))
    rho, ci, used = _spearman_effect(z["id_acc"].to_numpy(float), z["ood_auroc"].to_numpy(float), n_boot, seed)
    note = f"cood_benchmarking (Galil et al. 2023); {used} of {n_boot} bootstrap resamples not degenerate" \
        if len(z) >= 2 else "fewer than two zero-shot CLIPs: no correlation"
    if not len(z):
        note = f"no zero-shot CLIP is scored with the {confidence!r} confidence"
    measured = (f"Spearman rho of ImageNet top-1 with class-OOD AUROC ({confidence} confidence, mean over "
                f"{len(SEVERITIES)} severity levels) among the OpenAI zero-shot CLIPs")
    return _result(rho, len(z), ci, measured, "models", note)


def c8_secondary(frame: pd.DataFrame, n_boot: int = N_BOOT, seed: int = SEED) -> pd.DataFrame:
    """`c8_records` for every confidence function of the source (each with its own rows' accuracy and AUROC);
    `primary` marks softmax."""
    funcs = list(CONFIDENCES) + sorted(set(frame["confidence"]) - set(CONFIDENCES))
    rows = [dict(confidence=c, primary=c == SOFTMAX, **c8_records(frame, c, n_boot, seed)) for c in funcs]
    return pd.DataFrame(rows, columns=["confidence", "primary", *KEYS])


# ---- C13: fine-tuning changes OOD detection beyond what its accuracy gain predicts ---------------------
def c13_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per fine-tuned CLIP with a zero-shot parent (softmax, severity mean): accuracies, AUROCs, their
    changes, the change the zero-shot CLIPs' line AUROC = a + b * acc predicts (b * d_acc) and `beyond` =
    d_auroc - b * d_acc (= residual of the fine-tune minus residual of its parent)."""
    pts = cood_points(frame, SOFTMAX)
    z = _zero_shot(pts).set_index("model")
    ft = pts[(pts["group"] == T.CLIP_FT) & pts["parent"].isin(z.index) & ~pts["at_chance"]]
    slope, intercept = np.polyfit(z["id_acc"], z["ood_auroc"], 1) if len(z) >= 2 else (np.nan, np.nan)
    out = pd.DataFrame({"model": ft["model"].to_numpy(), "parent": ft["parent"].to_numpy(),
                        "arch": ft["arch"].to_numpy(), "acc_finetuned": ft["id_acc"].to_numpy(),
                        "acc_parent": z.loc[ft["parent"], "id_acc"].to_numpy(),
                        "auroc_finetuned": ft["ood_auroc"].to_numpy(),
                        "auroc_parent": z.loc[ft["parent"], "ood_auroc"].to_numpy()})
    out["d_acc"] = out["acc_finetuned"] - out["acc_parent"]
    out["d_auroc"] = out["auroc_finetuned"] - out["auroc_parent"]
    out["predicted"] = slope * out["d_acc"]
    out["beyond"] = out["d_auroc"] - out["predicted"]
    out["fit_slope"], out["fit_intercept"], out["fit_n"] = float(slope), float(intercept), len(z)
    return out


def c13_records(frame: pd.DataFrame, n_boot: int = N_BOOT, seed: int = SEED) -> dict:
    """Mean over (fine-tuned CLIP, zero-shot parent) pairs of d_auroc - b * d_acc (`c13_pairs`). The interval
    resamples the pairs and, independently, the zero-shot CLIPs the line is refit on (so it carries the
    line's uncertainty too); resamples whose CLIPs share one accuracy are skipped."""
    pairs = c13_pairs(frame)
    z = _zero_shot(cood_points(frame, SOFTMAX))
    n = len(pairs)
    measured = ("mean over pairs of (AUROC fine-tuned - AUROC of its zero-shot parent) - b x (accuracy change), b "
                "the slope of the zero-shot CLIPs' linear AUROC-on-accuracy fit (softmax, AUROC mean of 11 severity "
                "levels); trend refit on each bootstrap resample of the zero-shot CLIPs, pairs resampled too")
    if not n:
        return _result(np.nan, 0, (np.nan, np.nan), measured, "model pairs", "no fine-tuned CLIP with its parent")
    eff = float(pairs["beyond"].mean())
    rng = np.random.default_rng(seed)
    pi = rng.integers(0, n, size=(n_boot, n))
    zi = rng.integers(0, len(z), size=(n_boot, len(z)))
    slope, _ = _rowwise_line(z["id_acc"].to_numpy(float)[zi], z["ood_auroc"].to_numpy(float)[zi])
    da, du = pairs["d_acc"].to_numpy(float), pairs["d_auroc"].to_numpy(float)
    boot = (du[pi] - slope[:, None] * da[pi]).mean(axis=1)
    lo_z, hi_z = z["id_acc"].min(), z["id_acc"].max()
    note = (f"cood_benchmarking; fine-tuning recipe unknown (source); line over {len(z)} zero-shot CLIPs "
            f"(accuracy {lo_z:.3f}-{hi_z:.3f}, slope {pairs['fit_slope'].iloc[0]:.3f}); fine-tuned accuracies "
            f"{pairs['acc_finetuned'].min():.3f}-{pairs['acc_finetuned'].max():.3f}, "
            f"{int((pairs['acc_finetuned'] > hi_z).sum())} of {n} beyond that range (the line is extrapolated); "
            f"mean raw AUROC change {pairs['d_auroc'].mean():+.3f}")
    return _result(eff, n, _interval(boot), measured, "model pairs", note)


# ---- matched-accuracy contrasts against the ImageNet models' line ---------------------------------------
def _vs_imagenet_line(pts: pd.DataFrame, value: str, group: str, n_boot: int,
                      seed: int) -> tuple[float, tuple, int, int]:
    """Mean over `group`'s models of value - (a + b * acc), the line fit over the ImageNet models; the bootstrap
    resamples both groups and refits the line each time. Returns (effect, ci, n_group, n_imagenet)."""
    ok = pts.dropna(subset=["id_acc", value])
    ok = ok[~ok["at_chance"]]
    t, b = ok[ok["group"] == group], ok[ok["group"] == T.IMAGENET]
    if not len(t) or len(b) < 2:
        return np.nan, (np.nan, np.nan), len(t), len(b)
    bx, by = b["id_acc"].to_numpy(float), b[value].to_numpy(float)
    tx, ty = t["id_acc"].to_numpy(float), t[value].to_numpy(float)
    slope, icpt = np.polyfit(bx, by, 1)
    eff = float((ty - (icpt + slope * tx)).mean())
    rng = np.random.default_rng(seed)
    bi = rng.integers(0, len(b), size=(n_boot, len(b)))
    ti = rng.integers(0, len(t), size=(n_boot, len(t)))
    s, c = _rowwise_line(bx[bi], by[bi])
    boot = (ty[ti] - (c[:, None] + s[:, None] * tx[ti])).mean(axis=1)
    return eff, _interval(boot), len(t), len(b)


def c10_records(frame: pd.DataFrame, n_boot: int = N_BOOT, seed: int = SEED) -> dict:
    """The zero-shot CLIPs' confidence-accuracy gap (mean max-softmax on ImageNet val minus top-1) minus the
    ImageNet models' linear gap-on-accuracy trend at the same accuracy, averaged over the CLIPs; the interval
    resamples the CLIPs and the ImageNet models and refits the trend each time."""
    pts = cood_points(frame, SOFTMAX)
    eff, ci, n, nb = _vs_imagenet_line(pts, "gap", T.ZS_CLIP, n_boot, seed)
    left = int(((pts["group"] == T.IMAGENET) & ~pts["gap_usable"]).sum())
    measured = ("mean over the zero-shot CLIPs of (softmax ID confidence - ID accuracy) minus the ImageNet models' "
                "linear gap-on-accuracy fit at that CLIP's accuracy; bootstrap over both groups, trend refit")
    note = (f"a proxy metric: the confidence-accuracy gap (mean confidence minus accuracy, published) stands in for "
            f"calibration error; it is signed (> 0: over-confident on average) and is not ECE; trend over {nb} "
            f"ImageNet models ({left} left out: at chance accuracy or a near-uniform confidence)")
    return _result(eff, n, ci, measured, "models", note)


def auroc_vs_imagenet(frame: pd.DataFrame, group: str = T.ZS_CLIP, confidence: str = SOFTMAX,
                      n_boot: int = N_BOOT, seed: int = SEED) -> dict:
    """`group`'s class-OOD AUROC (severity mean) minus the ImageNet models' linear AUROC-on-accuracy trend at the
    same accuracy, mean over the group's models; bootstrap over both groups with the trend refit."""
    pts = cood_points(frame, confidence)
    eff, ci, n, nb = _vs_imagenet_line(pts, "ood_auroc", group, n_boot, seed)
    who = {T.ZS_CLIP: "zero-shot CLIPs", T.CLIP_FT: "fine-tuned CLIPs"}.get(group, f"{group} rows")
    measured = (f"mean over the {who} of class-OOD AUROC ({confidence}, mean of 11 severity levels) minus the "
                "ImageNet models' linear AUROC-on-accuracy fit at that model's accuracy")
    return _result(eff, n, ci, measured, "models", f"cood_benchmarking; trend over {nb} ImageNet models")


__all__ = ["load_cood", "cood_points", "c8_records", "c8_secondary", "c13_pairs", "c13_records", "c10_records",
           "auroc_vs_imagenet", "CONFIDENCES", "SOFTMAX", "MIN_UNITS"]
