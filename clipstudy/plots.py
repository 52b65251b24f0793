"""Seaborn figures shared by chapters. Each takes a tidy frame and returns (fig, ax)."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _pct_of_logit(v: float, _pos: Any = None) -> str:
    return f"{100 / (1 + np.exp(-v)):.0f}%"


NICE_PCT = (1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99)


def logit_ticks(lo: float, hi: float, max_ticks: int = 6) -> np.ndarray:
    """Tick positions (logit units) at round percentages inside [lo, hi], at most `max_ticks` and at least
    0.4 logit apart, so labels on a logit axis never overlap or repeat."""
    pos = _logit(np.array(NICE_PCT) / 100)
    pos = pos[(pos >= lo) & (pos <= hi)]
    while len(pos) > max_ticks or (len(pos) > 1 and np.diff(pos).min() < 0.4):
        pos = pos[::2] if len(pos) > 2 else pos[:1]
    return pos if len(pos) >= 2 else np.linspace(lo, hi, 5)[1:4]  # a narrow range: three even ticks


PCT_TICKS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def logit_percent_ticks(ax, ticks: Sequence[float] = PCT_TICKS) -> None:
    """Readable percent ticks on both logit-scaled axes of an ER scatter (`effective_robustness`);
    a narrow range (fewer than 3 standard ticks inside) gets 4 evenly spaced ones instead."""
    from scipy.special import expit, logit

    std = logit(np.asarray(ticks))
    for lim, set_ticks, set_labels, set_lim in ((ax.get_xlim(), ax.set_xticks, ax.set_xticklabels, ax.set_xlim),
                                                (ax.get_ylim(), ax.set_yticks, ax.set_yticklabels, ax.set_ylim)):
        pos = std[(std >= lim[0]) & (std <= lim[1])]
        if len(pos) < 3:
            pos = np.linspace(lim[0], lim[1], 6)[1:-1]
        set_ticks(pos)
        set_labels([f"{100 * expit(v):.3g}%" for v in pos])
        set_lim(lim)


def _pct_formatter(ticks: np.ndarray) -> FuncFormatter:
    """Percent labels with as few decimals as keep every tick's label distinct."""
    for d in (0, 1, 2):
        labels = [f"{100 / (1 + np.exp(-v)):.{d}f}" for v in ticks]
        if len(set(labels)) == len(labels):
            break
    return FuncFormatter(lambda v, _pos=None: f"{100 / (1 + np.exp(-v)):.{d}f}%")


def effective_robustness(df: pd.DataFrame, x: str = "id_acc", y: str = "ood_acc", hue: str = "group",
                         fit: Any = None, title: str = "", xlabel: str = "ImageNet top-1 (%)",
                         ylabel: str = "shifted top-1 (%)", ax: Any = None, style: str | None = None):
    """Accuracy under shift against ID accuracy on logit axes, with the baseline fit as a line."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
    else:
        fig = ax.figure
    d = df.assign(_x=_logit(df[x]), _y=_logit(df[y]))
    sns.scatterplot(data=d, x="_x", y="_y", hue=hue, style=style, ax=ax, s=28, alpha=0.8)
    if fit is not None:
        xs = np.linspace(d["_x"].min(), d["_x"].max(), 50)
        ax.plot(xs, fit.slope * xs + fit.intercept, "k--", lw=1, label="baseline fit")
    lo = min(d["_x"].min(), d["_y"].min())
    hi = max(d["_x"].max(), d["_y"].max())
    ax.plot([lo, hi], [lo, hi], color="0.7", lw=0.8, label="y = x")
    for axis, (a, b) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        ticks = logit_ticks(a, b)
        axis.set_ticks(ticks)
        axis.set_major_formatter(_pct_formatter(ticks))
    ax.set(xlabel=xlabel + " (logit scale)", ylabel=ylabel + " (logit scale)", title=title)
    ax.legend(fontsize=7, loc="upper left")
    return fig, ax


def reliability(rel: pd.DataFrame, hue: str = "model", title: str = "", ax: Any = None):
    """Reliability diagram: accuracy against confidence per bin; the diagonal is perfect calibration."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.2))
    else:
        fig = ax.figure
    d = rel[rel["count"] > 0]
    sns.lineplot(data=d, x="confidence", y="accuracy", hue=hue if hue in d else None, marker="o", ax=ax)
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (max softmax)", ylabel="accuracy", title=title)
    return fig, ax


def bars(df: pd.DataFrame, x: str, y: str, hue: str | None = None, title: str = "", ylabel: str | None = None,
         ax: Any = None, rotate: int = 30, ref: float | None = None, *, order: list | None = None,
         xlabel: str = "", ylim: tuple | None = None, figsize: tuple | None = None, ref_label: str | None = None,
         ref_style: str = "--", ha: str | None = "right", legend: dict | bool | str | None = None, errorbar: Any = None,
         **kw: Any):
    """A bar chart of one metric; `ref` draws a reference line (chance, or no effect). Every chapter's bar
    chart is drawn here: `legend` None gives a small legend when there is a hue, a dict its options, "keep"
    seaborn's own, False none."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (max(4.5, 0.45 * df[x].nunique() + 2), 3.8))
    else:
        fig = ax.figure
    sns.barplot(data=df, x=x, y=y, hue=hue, order=order, ax=ax, errorbar=errorbar, **kw)
    if ref is not None:
        ax.axhline(ref, color="0.3", lw=0.8, ls=ref_style, label=ref_label)
    ax.set(title=title, ylabel=ylabel or y, xlabel=xlabel)
    if ylim is not None:
        ax.set(ylim=ylim)
    if rotate:
        ax.tick_params(axis="x", rotation=rotate)
    if rotate and ha:
        for t in ax.get_xticklabels():
            t.set_ha(ha)
    if legend == "keep":  # seaborn's own legend (titled by the hue)
        pass
    elif legend is False:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    elif isinstance(legend, dict):
        ax.legend(**legend)
    elif hue:
        ax.legend(fontsize=7)
    return fig, ax


def lines(df: pd.DataFrame, x: str, y: str, hue: str, title: str = "", xlabel: str | None = None,
          ylabel: str | None = None, ax: Any = None, style: str | None = None):
    """Metric against an ordered knob (severity, data size), one line per group."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 3.8))
    else:
        fig = ax.figure
    sns.lineplot(data=df, x=x, y=y, hue=hue, style=style, marker="o", ax=ax, errorbar=None)
    ax.set(title=title, xlabel=xlabel or x, ylabel=ylabel or y)
    ax.legend(fontsize=7)
    return fig, ax


def image_grid(images: Any, titles: list[str] | None = None, ncols: int = 8, size: float = 1.2):
    """A grid of uint8 [N,3,H,W] images (lab renders, stimuli)."""
    import torch

    imgs = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    n = len(imgs)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(np.transpose(imgs[i], (1, 2, 0)))
            if titles:
                ax.set_title(titles[i], fontsize=6)
    fig.tight_layout()
    return fig, axes


def shape_bias_strip(sb: pd.DataFrame, x: str = "category", hue: str = "source", order: list[str] | None = None,
                     title: str = "", ax: Any = None):
    """Shape bias of every decider as one dot, grouped along x; a bar marks each group's mean, the dashed
    line 0.5 (as many shape as texture decisions)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * sb[x].nunique() + 2), 4.4))
    else:
        fig = ax.figure
    order = order or list(dict.fromkeys(sb[x]))
    sns.stripplot(data=sb, x=x, y="shape_bias", hue=hue, order=order, ax=ax, size=6, jitter=0.25, alpha=0.85)
    means = sb.groupby(x, observed=False)["shape_bias"].mean().reindex(order)
    ax.scatter(range(len(order)), means.to_numpy(), marker="_", s=900, color="0.15", zorder=3, label="group mean")
    ax.axhline(0.5, color="0.4", lw=0.8, ls="--")
    ax.set(ylim=(0, 1), xlabel="", ylabel="shape bias (fraction of cue decisions)", title=title)
    ax.tick_params(axis="x", rotation=20)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title=hue)
    return fig, ax


def paired_lines(frame: pd.DataFrame, x: str, y: str, unit: str, order: list[str], hue: str | None = None,
                 title: str = "", ylabel: str | None = None, ax: Any = None, ylim: tuple = (0, 1)):
    """One line per unit (a model) across the conditions of a paired contrast (x, in `order`)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.6 * len(order) + 2.5, 4.0))
    else:
        fig = ax.figure
    d = frame[frame[x].isin(order)].copy()
    d["_x"] = d[x].map({k: i for i, k in enumerate(order)})
    sns.lineplot(data=d.sort_values("_x"), x="_x", y=y, units=unit, hue=hue, estimator=None, marker="o", ax=ax,
                 lw=1, alpha=0.8)
    ax.set_xticks(range(len(order)), order)
    ax.set(xlabel="", ylabel=ylabel or y, title=title, ylim=ylim)
    if hue:
        ax.legend(fontsize=7)
    return fig, ax


def decider_palette(labels: list[str]) -> dict[str, Any]:
    """Colours for deciders: humans black, CLIPs blues, ResNets reds, SWAG and other models greys."""
    clips = [l for l in labels if l.startswith("CLIP")]
    swag = [l for l in labels if l.startswith("SWAG")]
    blues, greys = sns.color_palette("Blues_d", max(len(clips), 1)), sns.color_palette("Greys", len(swag) + 3)[2:]
    pal = {l: c for l, c in zip(clips, blues)} | {l: c for l, c in zip(swag, greys)}
    for l in labels:
        pal.setdefault(l, "black" if l == "humans" else "tab:red" if "ResNet" in l else "tab:orange")
    return pal


def accuracy_by_level(table: pd.DataFrame, datasets: list[str], orders: dict[str, list[str]], hue: str = "label",
                      ncols: int = 4, title: str = ""):
    """Accuracy against the distortion level, one panel per dataset, one line per decider."""
    nrows = -(-len(datasets) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.7 * nrows), squeeze=False)
    labels = list(dict.fromkeys(table[hue]))
    pal = decider_palette(labels)
    for ax, ds in zip(axes.ravel(), datasets):
        d = table[table["dataset"] == ds].copy()
        order = orders[ds]
        d["_x"] = d["condition"].map({c: i for i, c in enumerate(order)})
        sns.lineplot(data=d.sort_values("_x"), x="_x", y="accuracy", hue=hue, hue_order=labels, palette=pal,
                     marker="o", markersize=4, lw=1.1, ax=ax, legend=ax is axes.ravel()[0], errorbar=None)
        ax.set_xticks(range(len(order)), order, fontsize=6, rotation=45)
        ax.axhline(1 / 16, color="0.6", lw=0.7, ls=":")
        ax.set(title=ds, xlabel="", ylabel="accuracy" if ax in axes[:, 0] else "", ylim=(0, 1.02))
    for ax in axes.ravel()[len(datasets):]:
        ax.axis("off")
    leg = axes.ravel()[0].get_legend()
    if leg is not None:
        leg.remove()
        fig.legend(*axes.ravel()[0].get_legend_handles_labels(), loc="lower center", ncol=min(6, len(labels)),
                   fontsize=7, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return fig, axes


def grid_lines(grid: pd.DataFrame, y: str, ylabel: str, title: str = "", x: str = "samples_seen_pretty",
               hue: str = "data_label", col: str = "arch"):
    """LAION's grid: y against samples seen, one line per data size, one panel per architecture."""
    cols = [c for c in pd.unique(grid[col].astype(str))]
    fig, axes = plt.subplots(1, len(cols), figsize=(3.6 * len(cols), 3.4), sharey=True, squeeze=False)
    for ax, c in zip(axes[0], cols):
        d = grid[grid[col].astype(str) == c].assign(_x=lambda f: f[x].astype(str))
        order = [str(v) for v in (grid[x].cat.categories if hasattr(grid[x], "cat") else pd.unique(grid[x]))]
        d["_i"] = d["_x"].map({v: i for i, v in enumerate(order)})
        sns.lineplot(data=d.sort_values("_i"), x="_i", y=y, hue=hue, marker="o", ax=ax, errorbar=None,
                     legend=ax is axes[0][0])
        ax.set_xticks(range(len(order)), order)
        ax.set(title=c, xlabel="samples seen", ylabel=ylabel)
    if axes[0][0].get_legend() is not None:
        axes[0][0].legend(fontsize=7, title="data")
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes


VERDICT_COLORS = {"agrees": "#1a7f37", "disagrees": "#cf222e", "inconclusive": "#9a6700", "not measured": "#8c959f"}


def claims_forest(evidence: pd.DataFrame, title: str = "Each claim's effect by source, with its 95% interval"):
    """One row per (claim, source) that measured something: the effect as a dot, its interval as a bar,
    coloured by that source's verdict. Effects are in each claim's own units, so compare a row with 0,
    not with other rows."""
    ev = evidence[np.isfinite(evidence["effect"])].copy()
    if "label" not in ev.columns:
        ev["label"] = ev["id"] + " · " + ev["source"]
    ev = ev.sort_values(["id", "source"], key=lambda c: c.str.extract(r"(\d+)$", expand=False).astype(float)
                        if c.name == "id" else c, kind="stable").reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(ev), 2) + 1.2))
    for i, r in ev.iterrows():
        c = VERDICT_COLORS.get(r["verdict"], "0.5")
        if np.isfinite(r["ci_low"]):
            ax.plot([r["ci_low"], r["ci_high"]], [i, i], color=c, lw=3, alpha=0.6, solid_capstyle="round")
        ax.plot([r["effect"]], [i], "o", color=c, ms=7)
    ax.axvline(0, color="0.3", lw=1)
    ax.set_yticks(range(len(ev)), ev["label"])
    ax.invert_yaxis()
    ax.set(xlabel="effect (claim's units; 0 = no effect)", title=title)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=v) for v, c in VERDICT_COLORS.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, title="verdict")
    fig.tight_layout()
    return fig, ax


def summary_heatmap(cells: pd.DataFrame, axes: list[str]):
    """Factor x axis heatmap of headline effects (one row per cell: factor, axis, source, effect, ci_low, ci_high),
    legible at book width.

    Each column (axis) has its own colour scale, since axes use different metrics: a colour compares
    factors within one axis. Each cell gives the effect, the source letter (L, R, V), and "ns" when its 95%
    interval covers 0 (no detectable effect); those cells are drawn pale. Returns (fig, ax, long data).
    """
    h = cells
    factors = list(dict.fromkeys(h["factor"])) if "factor" in h else []
    from .effects import FACTORS

    idx = [f for f in FACTORS if f in set(factors)] or list(FACTORS)
    piv = {c: h.pivot_table(index="factor", columns="axis", values=c, aggfunc="first", observed=False)
           .reindex(index=idx, columns=axes) for c in ("effect", "ci_low", "ci_high")}
    src = h.pivot_table(index="factor", columns="axis", values="source", aggfunc="first", observed=False) \
        .reindex(index=idx, columns=axes)
    edge = (h.pivot_table(index="factor", columns="axis", values="marginal", aggfunc="first", observed=False)
            .reindex(index=idx, columns=axes).eq(True) if "marginal" in h else
            pd.DataFrame(False, index=idx, columns=axes))
    g = piv["effect"]
    ns = (piv["ci_low"] <= 0) & (piv["ci_high"] >= 0)
    scale = g.abs().max(axis=0).replace(0, np.nan)
    colour = g / scale  # each column in [-1, 1]
    colour = colour.where(~ns, colour * 0.25)
    labels = np.full(g.shape, "", dtype=object)
    for i, f in enumerate(g.index):
        for j, a in enumerate(g.columns):
            v = g.loc[f, a]
            if np.isfinite(v):
                labels[i, j] = (f"{v:+.3f}\n{str(src.loc[f, a])[0].upper()}" + (" ns" if ns.loc[f, a] else "")
                                + (" m" if edge.loc[f, a] else ""))
    fig, ax = plt.subplots(figsize=(1.9 * len(axes) + 2.5, 0.95 * len(idx) + 2.2))
    sns.heatmap(colour.astype(float), annot=labels, fmt="", cmap="RdBu", center=0, vmin=-1, vmax=1, cbar=False,
                linewidths=1, linecolor="white", annot_kws=dict(fontsize=11), ax=ax)
    ax.set_facecolor("0.93")  # grey: not measured in this build
    ax.grid(False)
    ax.set(xlabel="", ylabel="",
           title="Headline effect of each factor on each axis\n(colour scaled per column; R records, V live, L lab; "
                 "ns: 95% interval covers 0; m: marginal, the 99% interval covers 0; grey: not measured)")
    ax.tick_params(axis="both", labelsize=11)
    ax.set_xticklabels([t.get_text() for t in ax.get_xticklabels()], rotation=25, ha="right")
    ax.set_yticklabels([t.get_text() for t in ax.get_yticklabels()], rotation=0)
    fig.tight_layout()
    long = g.reset_index().melt(id_vars="factor", var_name="axis", value_name="effect")
    long = long.merge(src.reset_index().melt(id_vars="factor", var_name="axis", value_name="source"),
                      on=["factor", "axis"])
    long["no_detectable_effect"] = ns.reset_index().melt(id_vars="factor", var_name="axis")["value"].to_numpy()
    if "lab_effect" in h.columns:  # the lab's own headline, beside a real-model one
        long = long.merge(h[["factor", "axis", "lab_effect"]], on=["factor", "axis"], how="left")
    return fig, ax, long


def paired_differences(t: pd.DataFrame, title: str = "{a} minus {b}, paired over the same images"):
    """One panel per metric: each dataset's difference of two models with its 95% interval (`comparison.table`);
    a filled dot where Holm's p within the metric is under 0.05."""
    metrics = list(dict.fromkeys(t["metric"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics) + 0.8, 0.55 * t["dataset"].nunique() + 1.8),
                             squeeze=False)
    for ax, m in zip(axes[0], metrics):
        d = t[t["metric"] == m].reset_index(drop=True)
        y = np.arange(len(d))
        err = np.vstack([d["difference"] - d["ci_low"], d["ci_high"] - d["difference"]])
        ax.errorbar(d["difference"], y, xerr=np.where(np.isfinite(err), err, 0), fmt="none", ecolor="0.4", capsize=3)
        sig = d["p_holm"] < 0.05
        ax.scatter(d.loc[sig, "difference"], y[sig], color="C3", zorder=3, label="Holm p < 0.05")
        ax.scatter(d.loc[~sig, "difference"], y[~sig], facecolor="white", edgecolor="C0", zorder=3, label="not")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, d["dataset"])
        ax.set(title=m, xlabel="difference (A − B)")
    axes[0][0].legend(loc="best", fontsize=8)
    fig.suptitle(title.format(a=t["model_a"].iloc[0], b=t["model_b"].iloc[0]) if len(t) else "")
    fig.tight_layout()
    return fig


# ---- chapter figures (one function per figure, so that a notebook cell is one call) ---------------------
def er_panels(points: pd.DataFrame, order: list[str], hue: str = "group", ylabel: str = "{} top-1 (%)",
              title: str = "{} (line: {} ImageNet models)", grid: tuple[int, int] = (2, 2),
              figsize: tuple = (10, 8.6)):
    """One ER scatter per shift with its fitted line (the fit columns of `points`), logit-scaled, one legend."""
    from .metrics import LogitFit

    fig, axes = plt.subplots(*grid, figsize=figsize)
    axes = np.ravel(axes)
    for ax in axes[len(order):]:
        ax.axis("off")
    for ax, s in zip(axes, order):
        d = points[points["dataset"] == s]
        r = d.iloc[0]
        fit = LogitFit(r["fit_slope"], r["fit_intercept"], int(r["fit_n"]), r["fit_r2"])
        effective_robustness(d, fit=fit, hue=hue, ax=ax, ylabel=ylabel.format(s),
                             title=title.format(s, int(r["fit_n"])))
        logit_percent_ticks(ax)
        if ax is not axes[0]:
            ax.get_legend().remove()
    fig.tight_layout()
    return fig


def lab_er_panels(ler: pd.DataFrame, order: list[str], label_seed: int):
    """The lab's ER scatters (one per lab shift, the zoo's own line), recipes of one seed labelled, `*` flagged."""
    from .metrics import LogitFit

    fig, axes = plt.subplots(1, len(order), figsize=(5.0 * len(order), 4.4))
    axes = np.atleast_1d(axes)
    for ax, s in zip(axes, order):
        d = ler[ler["dataset"] == s]
        r = d.iloc[0]
        fit = LogitFit(r["fit_slope"], r["fit_intercept"], int(r["fit_n"]), np.nan) \
            if np.isfinite(r["fit_slope"]) else None
        effective_robustness(d, fit=fit, hue="factor", ax=ax, xlabel="lab-val top-1 (%)", ylabel=f"{s} top-1 (%)",
                             title=f"{s} (line: {int(r['fit_n'])} lab models)")
        for row in d[d["seed"] == label_seed].itertuples():
            ax.annotate(row.recipe + (" *" if row.flag else ""),
                        (float(_logit(row.id_acc)), float(_logit(row.ood_acc))),
                        fontsize=6, xytext=(3, 2), textcoords="offset points")
        logit_percent_ticks(ax)
        if ax is not axes[0]:
            ax.get_legend().remove()
    fig.tight_layout()
    return fig


def er_by_tag(long: pd.DataFrame):
    """Box plots of zero-shot CLIPs' mean ER by each tag (one panel per tag)."""
    g = sns.catplot(data=long, x="value", y="er", col="tag", kind="box", sharex=False, height=3.6, aspect=1.1,
                    color="C0", fliersize=2)
    for ax in g.axes.flat:
        ax.set(xlabel="", ylabel="ER, mean over 4 shifts (fraction)")
        ax.axhline(0, color="0.4", lw=0.8, ls="--")
        ax.tick_params(axis="x", rotation=30)
    g.set_titles("{col_name}")
    return g.figure


def effect_forest(effects: pd.DataFrame, xlabel: str, title: str):
    """Effects with their 95% intervals, one row per comparison (flagged comparisons marked `*`)."""
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(effects) + 1.2))
    yy = np.arange(len(effects))
    ax.errorbar(effects["effect"], yy, xerr=[effects["effect"] - effects["ci_low"], effects["ci_high"] - effects["effect"]],
                fmt="o", color="C0", ecolor="0.4", capsize=3)
    ax.set_yticks(yy, [c.split(" (flagged")[0] + (" *" if "flagged" in c else "") for c in effects["comparison"]],
                  fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set(xlabel=xlabel, ylabel="", title=title)
    return fig


def factor_ratio_bars(long: pd.DataFrame, order: list[str]):
    """ImageNet-X: mean error ratio and per-factor ER, zero-shot CLIP against ImageNet models (horizontal bars)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), sharey=True)
    sns.barplot(data=long, y="factor", x="error_ratio", hue="who", order=order, ax=axes[0], errorbar=None)
    axes[0].axvline(1, color="0.3", lw=0.8, ls="--")
    axes[0].set(xlabel="mean error ratio (1 = as hard as average)", ylabel="ImageNet-X factor")
    sns.barplot(data=long, y="factor", x="er", hue="who", order=order, ax=axes[1], errorbar=None)
    axes[1].axvline(0, color="0.3", lw=0.8, ls="--")
    axes[1].set(xlabel="mean per-factor ER (fraction of images)", ylabel="")
    axes[1].get_legend().remove()
    axes[0].legend(fontsize=8, title="")
    fig.suptitle("ImageNet-X: zero-shot CLIP vs ImageNet models (sorted by CLIP's ER gap)")
    fig.tight_layout()
    return fig


def lab_factor_heatmap(ens: pd.DataFrame, recipes: list[str], n_seeds: int):
    """Lab ER per (recipe, factor) as an annotated heatmap (`*`: the recipe trains on it), beside base's accuracy
    per factor. Returns the figure and base's per-factor means."""
    heat = ens.pivot_table(index="recipe", columns="factor", values="er", aggfunc="mean", observed=False)
    heat = heat.loc[[r for r in recipes if r in heat.index]]
    marks = ens.groupby(["recipe", "factor"], observed=False)["flag"].first().unstack().reindex_like(heat)
    annot = heat.map(lambda v: f"{v:+.2f}") + marks.map(lambda f: " *" if isinstance(f, str) and f else "")
    fig, axes = plt.subplots(1, 2, figsize=(14, 0.5 * len(heat) + 2.2), gridspec_kw=dict(width_ratios=[3, 1.3]))
    lim = float(np.nanmax(np.abs(heat.to_numpy()))) if np.isfinite(heat.to_numpy()).any() else 1.0
    sns.heatmap(heat, annot=annot, fmt="", cmap="vlag", center=0.0, vmin=-lim, vmax=lim, ax=axes[0],
                cbar_kws=dict(label="ER on the factor (fraction)"), annot_kws=dict(fontsize=8))
    axes[0].set(xlabel="factor pushed out of training range", ylabel="lab recipe",
                title=f"Lab effective robustness per factor (mean over {n_seeds} seeds)")
    base_rows = ens[ens["recipe"] == "base"].groupby("factor", as_index=False, observed=False)[
        ["accuracy", "control_accuracy", "error_ratio", "er"]].mean()
    base_rows = base_rows.sort_values("accuracy")
    sns.barplot(data=base_rows, y="factor", x="accuracy", ax=axes[1], color="C0", errorbar=None)
    axes[1].axvline(float(base_rows["control_accuracy"].iloc[0]), color="C3", lw=1, ls="--", label="control")
    axes[1].set(xlim=(0, 1), xlabel="top-1 (fraction)", ylabel="", title="base: accuracy per factor")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig, base_rows


def lab_shape_bias(ens: pd.DataFrame, n_seeds: int):
    """Lab shape bias per recipe (bars with seed dots) and against the training shape-texture correlation."""
    order = ens.groupby("recipe", observed=False)["shape_bias"].mean().sort_values().index
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw=dict(width_ratios=[2, 1]))
    sns.barplot(data=ens, x="recipe", y="shape_bias", hue="study factor", order=order, dodge=False, ax=axes[0],
                errorbar=("ci", 95))
    sns.stripplot(data=ens, x="recipe", y="shape_bias", order=order, color="0.2", size=3, ax=axes[0], legend=False)
    axes[0].axhline(0.5, color="0.4", lw=0.8, ls="--")
    axes[0].set(ylim=(0, 1), xlabel="", ylabel="shape bias (fraction of cue decisions)",
                title=f"Lab shape bias per recipe (dots: {n_seeds} seeds)")
    plt.setp(axes[0].get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")  # long recipe names
    axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    corr = ens[ens["recipe"].isin(["data-corr-low", "base", "data-corr-high"])]
    sns.lineplot(data=corr.sort_values("shape_texture_corr"), x="shape_texture_corr", y="shape_bias", marker="o",
                 errorbar=("ci", 95), ax=axes[1])
    axes[1].set(ylim=(0, 1), xlabel="P(class's typical texture) in training", ylabel="shape bias",
                title="Training shape-texture correlation")
    fig.tight_layout()
    return fig


def reliability_grid(rel: pd.DataFrame, title: str):
    """Reliability diagrams, one panel per set, one line per temperature."""
    g = sns.relplot(data=rel[rel["count"] > 0], x="confidence", y="accuracy", hue="label", col="set", kind="line",
                    marker="o", height=3.0, aspect=0.9, facet_kws=dict(xlim=(0, 1), ylim=(0, 1)))
    for ax in g.axes.flat:
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
    g.set_axis_labels("confidence (max softmax)", "accuracy (fraction)")
    g.legend.set_title("temperature")
    g.set_titles("{col_name}")
    g.figure.suptitle(title, y=1.04)
    return g.figure


def scatter(df: pd.DataFrame, x: str, y: str, hue: str | None = None, style: str | None = None, xlabel: str = "",
            ylabel: str = "", title: str = "", figsize: tuple = (5.2, 4.0), diagonal: bool = False):
    """One metric against another, one point per model; `diagonal` draws y = x (no change)."""
    fig, ax = plt.subplots(figsize=figsize)
    sns.scatterplot(data=df, x=x, y=y, hue=hue, style=style, ax=ax, s=30)
    if diagonal:
        lo, hi = np.nanmin(df[[x, y]].to_numpy(float)), np.nanmax(df[[x, y]].to_numpy(float))
        ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.8, ls="--")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if ax.get_legend() is not None:
        ax.legend(fontsize=7)
    return fig


def class_changes(top: pd.DataFrame, title: str = ""):
    """One panel per dataset: the classes a change helps and hurts most (`effect` with its interval), one bar each."""
    datasets = list(dict.fromkeys(top["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.4 * len(datasets), 0.28 * top.groupby("dataset").size().max()
                                                        + 1.6), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        d = top[top["dataset"] == ds].sort_values("effect")
        y = np.arange(len(d))
        ax.barh(y, d["effect"], color=np.where(d["effect"] > 0, "C0", "C3"))
        err = np.vstack([d["effect"] - d["ci_low"], d["ci_high"] - d["effect"]])
        ax.errorbar(d["effect"], y, xerr=np.where(np.isfinite(err), err, 0), fmt="none", ecolor="0.3", lw=0.8)
        ax.set_yticks(y, d["class"], fontsize=8)
        ax.axvline(0, color="black", lw=0.8)
        ax.set(title=ds, xlabel="accuracy change")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def metric_pair(df: pd.DataFrame, x: str, hue: str, panels: list[tuple[str, str, str, float | None]],
                order: list | None = None, xlabel: str = "", figsize: tuple = (9, 3.6), rotate: int = 0,
                legend_title: str | None = None):
    """Side-by-side bar charts of metrics in [0, 1], one panel per (metric, ylabel, title, reference line).
    `legend_title`: one legend, outside the last panel; else seaborn's legend in each."""
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, sharey=False)
    for ax, (y, ylabel, title, ref) in zip(axes, panels):
        sns.barplot(data=df, x=x, y=y, hue=hue, order=order, ax=ax, errorbar=None)
        if ref is not None:
            ax.axhline(ref, color="0.3", lw=0.8, ls="--")
        ax.set(ylim=(0, 1), xlabel=xlabel, ylabel=ylabel, title=title)
        if legend_title and ax is not axes[-1]:
            ax.get_legend().remove()
    if legend_title:
        axes[-1].legend(title=legend_title, bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
    if rotate:
        for a in axes:
            a.tick_params(axis="x", rotation=rotate)
            for t in a.get_xticklabels():
                t.set_ha("right")
    fig.tight_layout()
    return fig


def recall_vs_accuracy(at5: pd.DataFrame):
    """Records: recall@5 against ImageNet accuracy per dataset and direction, with each panel's fitted line."""
    g = sns.relplot(data=at5, x="imagenet_acc", y="recall", hue="data" if at5["data"].nunique() <= 12 else "family",
                    style="family", col="dataset", row="direction", height=3.0, aspect=1.15, s=28,
                    facet_kws=dict(sharey=False))
    for (d, dsname), ax in g.axes_dict.items():
        sub = at5[(at5["direction"] == d) & (at5["dataset"] == dsname)]
        xs = np.linspace(sub["imagenet_acc"].min(), sub["imagenet_acc"].max(), 20)
        ax.plot(xs, sub["fit_intercept"].iloc[0] + sub["fit_slope"].iloc[0] * xs, "k--", lw=1)
    g.set_axis_labels("ImageNet zero-shot top-1 (fraction)", "recall@5 (fraction)")
    g.set_titles("{col_name}: {row_name}")
    return g.figure


def residual_bars(res5: pd.DataFrame):
    """Records: mean residual of recall@5 above the classification line, by training data."""
    order = (res5[res5["dataset"] == "mscoco"].groupby("data", observed=False)["residual_mean"].mean()
             .sort_values(ascending=False).index.tolist())
    g = sns.catplot(data=res5, y="data", x="residual_mean", hue="direction", col="dataset", kind="bar",
                    order=order, height=max(3.0, 0.22 * len(order) + 1), aspect=0.9, errorbar=None)
    for ax in g.axes.flat:
        ax.axvline(0, color="0.3", lw=0.8)
    g.set_axis_labels("mean residual, R@5 (fraction)", "training data (sources with >= 2 models)")
    g.set_titles("{col_name}")
    g.figure.suptitle("Retrieval beyond ImageNet accuracy (> 0: better than the line predicts)", y=1.02)
    return g.figure


def lab_recall_vs_accuracy(lr: pd.DataFrame):
    """Lab: recall@K against lab-val accuracy, one panel per direction."""
    g = sns.relplot(data=lr, x="val_acc", y="recall", hue="model", style="k", col="direction", s=60, height=3.6,
                    aspect=1.1)
    g.set_axis_labels("lab-val zero-shot top-1 (fraction)", "recall@K (fraction)")
    g.set_titles("lab: {col_name}")
    return g.figure


def severity_lines(df: pd.DataFrame, xlabel: str, aspect: float = 1.0, titles: bool = True):
    """Top-1 against severity, one panel per corruption, one line per model."""
    kw = dict(aspect=aspect) if aspect != 1.0 else {}
    g = sns.relplot(data=df, x="severity", y="accuracy", hue="model", col="corruption", col_wrap=4, kind="line",
                    marker="o", height=2.3, errorbar=None, **kw)
    g.set_axis_labels(xlabel, "top-1 (fraction)")
    if titles:
        g.set_titles("{col_name}")
    return g.figure


def two_choice_panels(main: pd.DataFrame, recipes: list[str]):
    """Two-choice accuracy per recipe, split by whether the CLIP's full-way prediction was right (`who` hue)."""
    fig, axes = plt.subplots(1, len(recipes), figsize=(5.2 * len(recipes), 3.8), sharey=True, squeeze=False)
    for ax, r in zip(axes[0], recipes):
        bars(main[main["recipe"] == r], "clip_full", "accuracy", hue="who", order=["right", "wrong", "all"], ax=ax,
             rotate=0, ylim=(0, 1), ref=0.5, xlabel="CLIP's full-way prediction was",
             ylabel="two-choice accuracy, TRUE/(TRUE+FALSE)", title=f"{r}: lab-val and lab-sketch")
    fig.tight_layout()
    return fig


def paired_panels(panels: list[dict], figsize: tuple = (11, 4)):
    """`paired_lines` panels side by side (each dict: its keyword arguments)."""
    fig, axes = plt.subplots(1, len(panels), figsize=figsize)
    for ax, kw in zip(np.atleast_1d(axes), panels):
        paired_lines(ax=ax, **kw)
    fig.tight_layout()
    return fig


COOD_GROUP_STYLE = {"ImageNet model": dict(color="0.65", marker="o", s=14, alpha=0.55, zorder=1),
                    "zero-shot CLIP": dict(color="C3", marker="*", s=110, alpha=0.95, zorder=3),
                    "CLIP fine-tuned": dict(color="C0", marker="D", s=40, alpha=0.95, zorder=3)}


def _cood_panel(ax: Any, pts: pd.DataFrame, y: str, trend: str, ylabel: str, title: str, pairs: bool = False):
    """One records panel: ImageNet models as grey dots with their linear trend (`trend` column), CLIPs marked;
    `pairs` joins each fine-tuned CLIP to its zero-shot parent."""
    d = pts.dropna(subset=["id_acc", y])
    for group, style in COOD_GROUP_STYLE.items():
        g = d[d["group"] == group]
        if len(g):
            sns.scatterplot(data=g, x="id_acc", y=y, ax=ax, label=f"{group} ({len(g)})", edgecolor="none", **style)
    line = d[d["group"] == "ImageNet model"].dropna(subset=[trend]).sort_values("id_acc")
    if len(line):
        ax.plot(line["id_acc"], line[trend], "k--", lw=1, label="ImageNet models' linear trend")
    if pairs and "parent" in d.columns:
        at = d.set_index("model")
        for r in d[d["parent"].isin(at.index)].itertuples():
            p = at.loc[r.parent]
            ax.annotate("", xy=(r.id_acc, getattr(r, y)), xytext=(p["id_acc"], p[y]),
                        arrowprops=dict(arrowstyle="->", color="C0", lw=0.7, alpha=0.7))
    ax.set(xlabel="ImageNet top-1 (fraction)", ylabel=ylabel, title=title)
    ax.legend(fontsize=7, loc="best")


def cood_auroc(pts: pd.DataFrame, title: str = "Records: class-OOD detection against ImageNet accuracy"):
    """AUROC (severity mean) against ImageNet accuracy, one point per model (`records.cood_points`; models at
    chance accuracy left out): ImageNet models with their linear trend, zero-shot and fine-tuned CLIPs marked,
    an arrow from each zero-shot parent to its fine-tune."""
    fig, ax = plt.subplots(figsize=(6.6, 4.6))
    _cood_panel(ax, pts[~pts["at_chance"]], "ood_auroc", "auroc_trend",
                "class-OOD AUROC (softmax, mean of 11 severities)", title, pairs=True)
    fig.tight_layout()
    return fig


def cood_gap(pts: pd.DataFrame, title: str = "Records: confidence-accuracy gap (a calibration proxy)"):
    """Mean softmax confidence minus accuracy on ImageNet val against accuracy (`records.cood_points`, rows with
    a usable gap): ImageNet models with their linear trend, zero-shot CLIPs marked; 0 = confidence matches
    accuracy on average."""
    fig, ax = plt.subplots(figsize=(6.2, 4.4))
    _cood_panel(ax, pts[pts["gap_usable"]], "gap", "gap_trend", "mean max-softmax − top-1 (> 0: over-confident)",
                title)
    ax.axhline(0, color="0.3", lw=0.8)
    fig.tight_layout()
    return fig
